"""Solution: (1/2) n Var(w) = 1, so Var(w) = 2 / n."""
import math


def kaiming_std(fan_in):
    return math.sqrt(2.0 / fan_in)
