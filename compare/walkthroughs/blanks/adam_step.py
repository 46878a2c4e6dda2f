"""Implement adam_step(theta, g, m, v, t, lr, beta1, beta2, eps) -> (theta, m, v): one Adam step at
step t = 1, 2, ... with bias corrections, as torch.optim.Adam computes it (eps is added to
sqrt(v) / sqrt(1 - beta2**t), i.e. after the bias correction). m and v start at zeros.
"""
import numpy as np


def adam_step(theta, g, m, v, t, lr, beta1, beta2, eps):
    raise NotImplementedError
