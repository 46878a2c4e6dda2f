"""Predict, then run: np.exp(z) / np.exp(z).sum() for z = [1000., 1001., 1002.] in float64.
How many of the three probabilities are finite numbers?
"""

ANSWER = None  # your prediction
