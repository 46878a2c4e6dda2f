"""Solution: the first moment must decay too: m = beta1 m + (1 - beta1) g. At step 1 m = 0, so the
missing beta1 changes nothing there; from step 2 on the old m is kept whole and m grows."""
from compare.walkthroughs.exercises import fixed

adam_step = fixed("bug_adam_step", broken="m = m + (1 - beta1) * g", fix="m = beta1 * m + (1 - beta1) * g")
