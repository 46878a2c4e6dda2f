"""Solution."""

ANSWER = 0  # exp(1000) = inf, and inf / inf = nan for every entry
