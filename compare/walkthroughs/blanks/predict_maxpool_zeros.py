"""Predict, then run: 2x2 max-pooling (stride 2) of a random 8x8 image, backward with an upstream
gradient of ones. What fraction of the entries of dx are exactly 0?
"""

ANSWER = None  # your prediction
