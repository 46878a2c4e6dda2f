"""Solution."""

ANSWER = 2.0  # a symmetric y: ReLU keeps half of E[y^2] = 4
