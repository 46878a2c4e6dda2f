"""Solution: ds/dx = s (1 - s)."""


def sigmoid_backward(dout, out):
    return dout * out * (1.0 - out)
