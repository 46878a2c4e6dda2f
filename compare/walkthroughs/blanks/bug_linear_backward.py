"""Find the bug. This linear_backward (out = x @ w.T + b) looks right and has the right shapes when the
batch size equals the number of outputs, but a gradient check fails. Fix it; check with
`python -m compare.walkthroughs check bug_linear_backward FILE`.
"""


def linear_backward(dout, x, w):
    dx = dout @ w
    dw = dout.T @ x
    db = dout.sum(axis=1)
    return dx, dw, db
