"""Find the bug. This Adam step agrees with torch at step 1 and drifts from step 2 on. (The optimizers
walkthrough's tests catch the same bug in scratchnet itself.)
"""
import numpy as np


def adam_step(theta, g, m, v, t, lr, beta1, beta2, eps):
    m = m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    denom = np.sqrt(v) / np.sqrt(1 - beta2**t) + eps
    return theta - lr * m_hat / denom, m, v
