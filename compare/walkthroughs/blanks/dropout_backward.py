"""Implement dropout_backward(dout, keep, p) for inverted dropout: the forward was
out = x * keep / (1 - p), with keep a boolean mask (True = kept). Return dL/dx.
"""
import numpy as np


def dropout_backward(dout, keep, p):
    raise NotImplementedError
