"""Solution: the chain rule line by line, last line first."""
import numpy as np


def mlp_backward(dscores, x, W1, b1, W2):
    h_pre = x @ W1.T + b1
    h = np.maximum(h_pre, 0.0)
    dW2 = dscores.T @ h
    db2 = dscores.sum(axis=0)
    dh_pre = (dscores @ W2) * (h_pre > 0)
    return dh_pre.T @ x, dh_pre.sum(axis=0), dW2, db2
