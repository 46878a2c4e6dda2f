"""Find the bug. For outputs near 0.5 this sigmoid backward is only a little off; for saturated units
it is badly wrong. What is the derivative of s = 1 / (1 + exp(-x)) in terms of s?
"""


def sigmoid_backward(dout, out):
    return dout * out * out
