"""Solution: scattering dout * w onto each window (each output feeds the window it read) is already the
full convolution with the flipped filter that the gather view of dx describes; flipping w again here
makes it a plain correlation, right only for symmetric filters. Scatter w itself."""
from compare.walkthroughs.exercises import fixed

conv2d_backward = fixed("bug_conv2d_backward", broken="w[k, :, ::-1, ::-1]", fix="w[k]")
