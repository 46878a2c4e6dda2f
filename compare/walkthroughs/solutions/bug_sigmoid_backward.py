"""Solution: ds/dx = s (1 - s), not s². The two agree only at s = 0.5 (both 0.25) and drift apart from
there; for a saturated unit s → 1, s² → 1 while the true derivative → 0."""
from compare.walkthroughs.exercises import fixed

sigmoid_backward = fixed("bug_sigmoid_backward", broken="return dout * out * out", fix="return dout * out * (1.0 - out)")
