"""Small argument helpers shared by the ops: pairs of ints and shape arithmetic."""

from __future__ import annotations


def pair(value: int | tuple[int, int], name: str, minimum: int = 0) -> tuple[int, int]:
    """Return ``(v, v)`` for an int or the validated pair; ``name`` is used in the error."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
        a, b = value
    else:
        a = b = value
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ValueError(f"{name}: expected int(s) >= {minimum}, got {value!r}")
    return int(a), int(b)


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2*padding - kernel) / stride) + 1, the output length of a sliding window."""
    return (size + 2 * padding - kernel) // stride + 1
