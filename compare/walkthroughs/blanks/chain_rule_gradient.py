"""Implement grad_f(x, y, z): the gradient (df/dx, df/dy, df/dz) of

    f(x, y, z) = (x + y) * max(y, z) * x

by the gate rules of the chain_rule walkthrough, not by writing out the symbolic derivative:
add distributes, multiply swaps, max routes (to the larger input), a copy sums (x and y are used twice).
Graded at random points (both branches of the max) against centred differences.
"""


def grad_f(x, y, z):
    raise NotImplementedError("forward: a = x + y, m = max(y, z), b = a * m, f = b * x; then backward")
