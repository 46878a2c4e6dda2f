"""The library's default random generator, for layers built without an explicit ``rng``.

``scratchnet.manual_seed(0)`` makes everything that draws from it reproducible, like
``torch.manual_seed``. Pass ``rng=np.random.default_rng(seed)`` to a layer or model to keep its
randomness independent of everything else.
"""

from __future__ import annotations

import numpy as np

_default = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator and return it."""
    global _default
    _default = np.random.default_rng(seed)
    return _default


def default_rng() -> np.random.Generator:
    """The generator layers use when none is given."""
    return _default


def resolve_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A Generator as given, a new one from an int seed, or the default one for None."""
    if rng is None:
        return _default
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng: expected a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")
