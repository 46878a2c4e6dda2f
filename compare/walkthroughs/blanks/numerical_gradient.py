"""Implement numerical_gradient(f, x): centred differences (f(x + eps) - f(x - eps)) / (2 eps) with
eps = 1e-5 for every entry of the array x, perturbing x in place (f reads x) and restoring each entry.
Return an array shaped like x.
"""
import numpy as np


def numerical_gradient(f, x):
    raise NotImplementedError
