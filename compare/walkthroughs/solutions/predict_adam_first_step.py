"""Solution."""

ANSWER = 0.01  # lr * g / (|g| + eps): the bias-corrected first step is lr whatever the gradient
