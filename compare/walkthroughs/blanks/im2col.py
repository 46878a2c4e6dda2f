"""Implement im2col(x, kh, kw, stride, pad) for x (N, C, H, W): pad H and W with `pad` zeros, then
return a matrix with one row per window — windows in the order n, then output row, then output
column — each row the window's C*kh*kw values in the order c, then kernel row, then kernel column.
Then cols @ w.reshape(F, -1).T is the convolution.
"""
import numpy as np


def im2col(x, kh, kw, stride, pad):
    raise NotImplementedError
