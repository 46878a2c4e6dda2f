"""Solution."""

ANSWER = 2.3026  # ln 10: probabilities close to 1/10 for every class
