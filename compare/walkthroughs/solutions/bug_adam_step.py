"""Solution: the first moment must decay too: m = beta1 m + (1 - beta1) g (at step 1 m = 0 hides it)."""
import numpy as np


def adam_step(theta, g, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    denom = np.sqrt(v) / np.sqrt(1 - beta2**t) + eps  # eps after the bias correction, as torch
    return theta - lr * m_hat / denom, m, v
