"""Predict, then run: Adam with lr = 0.01 (default betas, eps = 1e-8) takes its first step on a
parameter whose gradient is 1000. How large is |delta theta|?
"""

ANSWER = None  # your prediction
