"""Solution: perturb one entry at a time, in place (f reads x), and put it back before the next.
The derivative is then the textbook quotient (f(x + eps) - f(x - eps)) / (2 eps), written as such."""
import numpy as np


def numerical_gradient(f, x, eps=1e-5):
    def f_with(i, value):  # f() with entry i of x set to value
        x[i] = value
        return f()

    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        grad[i] = (f_with(i, old + eps) - f_with(i, old - eps)) / (2 * eps)
        x[i] = old  # restored, or the next entries' differences are taken at a moved point
    return grad
