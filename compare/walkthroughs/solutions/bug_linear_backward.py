"""Solution: db sums over the batch (axis 0), one entry per output; axis 1 sums over the outputs and
has the right length only when N equals K."""
from compare.walkthroughs.exercises import fixed

linear_backward = fixed("bug_linear_backward", broken="dout.sum(axis=1)", fix="dout.sum(axis=0)")
