"""Implement log_softmax(z) row-wise for z (N, K) so that it stays finite for logits near +1000 and
-1000 (log-sum-exp: never form softmax itself).
"""
import numpy as np


def log_softmax(z):
    raise NotImplementedError
