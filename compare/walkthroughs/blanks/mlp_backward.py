"""Implement mlp_backward(dscores, x, W1, b1, W2) for the two-layer MLP

    h_pre = x @ W1.T + b1,   h = relu(h_pre),   scores = h @ W2.T + b2

given dscores = dL/dscores. Return (dW1, db1, dW2, db2). (Recompute h_pre and h from the inputs.)
"""
import numpy as np


def mlp_backward(dscores, x, W1, b1, W2):
    raise NotImplementedError
