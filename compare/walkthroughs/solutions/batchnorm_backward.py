"""Solution: the closed form, (gamma invstd / N) (N g - sum g - xhat sum(g xhat))."""
import numpy as np


def batchnorm_backward(g, x, gamma, eps):
    n = x.shape[0]
    mu = x.mean(axis=0)
    invstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=0) + eps)
    xhat = (x - mu) * invstd
    dgamma, dbeta = np.sum(g * xhat, axis=0), g.sum(axis=0)
    dx = gamma * invstd / n * (n * g - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
