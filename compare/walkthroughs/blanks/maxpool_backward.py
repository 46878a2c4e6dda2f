"""Implement maxpool_backward(dout, x, k) for k x k max-pooling with stride k (no padding): each
window's upstream gradient goes to the window's maximum; at a tie, to the FIRST maximum in row-major
order (as torch does). x (N, C, H, W), dout (N, C, H//k, W//k).
"""
import numpy as np


def maxpool_backward(dout, x, k):
    raise NotImplementedError
