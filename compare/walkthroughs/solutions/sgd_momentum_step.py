"""Solution: torch's momentum buffer (no dampening, no Nesterov)."""
import numpy as np


def sgd_momentum_step(theta, g, buf, lr, momentum):
    buf = g.copy() if buf is None else momentum * buf + g
    return theta - lr * buf, buf
