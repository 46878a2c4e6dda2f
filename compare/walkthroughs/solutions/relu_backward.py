"""Solution: pass the gradient where the input was positive."""
import numpy as np


def relu_backward(dout, x):
    return dout * (x > 0)
