"""Predict, then run: the cross-entropy loss of an untrained SeedCNN (10 classes) on a batch of
200 images. Write your prediction as a number (4 significant digits are plenty). The grader runs the
experiment and tells you the real value.
"""

ANSWER = None  # your prediction
