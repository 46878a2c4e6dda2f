"""Implement batchnorm_backward(g, x, gamma, eps) for batch normalisation in training mode over x (N, D):

    mu = mean(x, axis 0), var = mean((x - mu)^2, axis 0), xhat = (x - mu) / sqrt(var + eps), y = gamma xhat + beta

given g = dL/dy. Return (dx, dgamma, dbeta). x reaches the loss along three paths (through xhat, mu
and var); the batchnorm_residual walkthrough derives the sum.
"""
import numpy as np


def batchnorm_backward(g, x, gamma, eps):
    raise NotImplementedError
