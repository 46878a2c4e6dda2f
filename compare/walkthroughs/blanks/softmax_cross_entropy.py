"""Implement softmax_cross_entropy(z, y): the mean cross-entropy of logits z (N, K) with integer labels
y (N,), and its gradient dL/dz. It must survive logits near 1000 (shift by the row maximum).
Return (loss, dz).
"""
import numpy as np


def softmax_cross_entropy(z, y):
    raise NotImplementedError
