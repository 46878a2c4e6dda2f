"""Implement kaiming_std(fan_in): the standard deviation of zero-mean weights for which a ReLU layer
keeps the second moment of its input, E[x'^2] = E[x^2] (derived in the softmax_and_init walkthrough).
"""
import math


def kaiming_std(fan_in):
    raise NotImplementedError
