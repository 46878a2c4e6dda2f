"""Solution."""

ANSWER = 0.75  # one winner per window of four
