"""Solution: the norm-wise relative error, guarded against 0 / 0."""
import numpy as np


def rel_error(a, b):
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)
