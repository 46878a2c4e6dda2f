"""Solution: each parameter collects the gradient of every output it touched."""


def linear_backward(dout, x, w):
    dx = dout @ w  # (N, D)
    dw = dout.T @ x  # (K, D)
    db = dout.sum(axis=0)  # (K,)
    return dx, dw, db
