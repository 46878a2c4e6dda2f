"""``no_grad``: evaluate without keeping anything for backward, as ``torch.no_grad()`` does.

Under it every layer's forward drops what its backward would need (inputs, masks, winners), so a big
evaluation holds only the activations in flight; calling ``backward`` afterwards raises a clear error.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

_state = threading.local()


def is_grad_enabled() -> bool:
    """False inside ``no_grad()`` (in this thread), True otherwise."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: forward passes inside keep nothing for backward (nestable; restores on exit)."""
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous
