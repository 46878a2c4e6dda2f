"""Implement linear_backward(dout, x, w) for the layer out = x @ w.T + b.

Inputs: dout (N, K) = dL/dout, x (N, D), w (K, D). Return (dx, dw, db) with the shapes of x, w and b (K,).
Graded against centred differences (scratchnet.gradcheck) and scratchnet.ops.linear_backward.
"""


def linear_backward(dout, x, w):
    raise NotImplementedError
