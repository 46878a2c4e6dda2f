"""Implement sgd_momentum_step(theta, g, buf, lr, momentum) -> (theta, buf) with torch's rule: at the
first step (buf is None) buf = g, afterwards buf = momentum * buf + g; then theta = theta - lr * buf.
"""
import numpy as np


def sgd_momentum_step(theta, g, buf, lr, momentum):
    raise NotImplementedError
