"""Implement conv2d_backward(dout, x, w, stride, pad) for out = conv2d(x, w, b) (cross-correlation as
torch computes it). x (N, C, H, W), w (F, C, KH, KW), dout (N, F, OH, OW). Return (dx, dw, db).
Graded with strides 1 and 2, padding 0 and 1.
"""
import numpy as np


def conv2d_backward(dout, x, w, stride, pad):
    raise NotImplementedError
