"""The one home of argument checks: every array that reaches a kernel is checked here first.

Who checks what
---------------
The **ops** are the gate to the kernels, which read and write raw memory without bounds checks: a
wrong shape there is a segfault or uninitialised memory, not an error. So each public op checks
every array it hands to a kernel, the upstream gradient included (against the shape and dtype its
forward recorded in the cache), with the helpers below. Messages say what was expected and what
came; they do not name a layer. The **layers** do not repeat these checks: they call the ops through
``Module._op``, which prefixes the layer's name to any ValueError/TypeError, so that the user reads
``MaxPool2d(kernel_size=2): expected upstream gradient (1, 1, 2, 2) float32, got (64, 8, 2, 2) float32``.
Layers without an op (Flatten), and those whose checks depend on the layer's own settings or whose ops
are plain NumPy (BatchNorm's dtype, the smooth activations), call these helpers themselves, through the same
``Module._op``; so does ``nn.OpPair`` for the upstream gradient of every layer that is one op pair, against
the shape and dtype of the output it returned (ReLU's and max-pool's ops check it again, for their direct
callers: one comparison of attributes).
Why this way round: the ops are public too (tests, walkthroughs and benchmarks call them directly), so a
check that lived only in the layers would leave them able to crash the interpreter.

What is accepted (checked once per call on attributes only: shape, dtype, flags, never per element)
-----------------------------------------------------------------------------------------------
- Type: a ``numpy.ndarray``; anything else is a TypeError (torch wants a Tensor too).
- dtype: float32 or float64 in native byte order (the kernels are compiled for those), else a
  ValueError. An input must have its layer's parameter dtype (torch refuses a mismatch too). An
  upstream gradient must have the dtype of the forward output: torch would cast it silently, we refuse
  it, because a gradient of another dtype is almost always a bug (a float64 gradient sent into a
  float32 net) and casting would hide it.
- Shape: exactly what the layer expects; an upstream gradient exactly the forward output's shape (no
  broadcasting, no reshaping), as torch requires.
- Layout: any strides, views, read-only or unaligned arrays are accepted, as torch accepts any
  strides: ``kernel_array`` copies to a C-contiguous, aligned, writeable array only when the array is
  not one already (so the common case costs nothing).
- Empty batches (N = 0) go through every layer and give empty results and zero parameter gradients,
  as in torch; an empty channel or spatial axis is refused, as torch refuses it.
"""

from __future__ import annotations

import numpy as np

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def pair(value: int | tuple[int, int], name: str, minimum: int = 0) -> tuple[int, int]:
    """Return ``(v, v)`` for an int or the validated pair; ``name`` is used in the error."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
        a, b = value
    else:
        a = b = value
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise ValueError(f"{name}: expected int(s) >= {minimum}, got {value!r}")
    return int(a), int(b)


def show_pair(p: tuple[int, int]) -> str:
    """``2`` for (2, 2), ``(2, 3)`` otherwise: how torch prints a square kernel."""
    return str(p[0]) if p[0] == p[1] else str(p)


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2*padding - kernel) / stride) + 1, the output length of a sliding window."""
    return (size + 2 * padding - kernel) // stride + 1


def check_pool_padding(padding: tuple[int, int], kernel_size: tuple[int, int], who: str) -> None:
    """torch's rule for pooling: padding at most half the kernel (so a window never lies in the padding)."""
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{who}: padding {padding} must be at most half the kernel size {kernel_size}")


def pool_window(x, kernel_size, stride, padding, who: str) -> tuple[tuple[int, int, int, int, int, int], int, int]:
    """A pooling op's arguments checked and its output size: ((kh, kw, sh, sw, ph, pw), OH, OW). The stride
    defaults to the kernel size; x must be a float (N, C, H, W) batch with room for one window."""
    kh, kw = pair(kernel_size, "kernel_size", 1)
    sh, sw = pair(kernel_size if stride is None else stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    check_pool_padding((ph, pw), (kh, kw), who)
    image_batch(float_array(x))
    H, W = x.shape[2], x.shape[3]
    OH, OW = out_size(H, kh, sh, ph), out_size(W, kw, sw, pw)
    if OH < 1 or OW < 1:
        raise ValueError(f"input {H}x{W} (padding {(ph, pw)}) is smaller than the kernel {kh}x{kw}")
    return (kh, kw, sh, sw, ph, pw), OH, OW


def float_dtype(dtype, who: str) -> np.dtype:
    """``dtype`` as a NumPy dtype, if float32 or float64 (a layer's parameters); ValueError naming ``who`` otherwise."""
    dt = np.dtype(dtype)
    if dt not in FLOATS:
        raise ValueError(f"{who}: dtype must be float32 or float64, got {dt}")
    return dt


def float_array(x, what: str = "input") -> np.ndarray:
    """``x`` itself when it is a float32/float64 ndarray; TypeError/ValueError otherwise."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOATS:
        raise ValueError(f"expected a float32 or float64 {what}, got dtype {x.dtype}")
    return x


def same_dtype(x: np.ndarray, dtype: np.dtype) -> None:
    """An input must have the dtype of the layer's parameters."""
    if x.dtype != dtype:
        raise ValueError(
            f"input dtype {x.dtype} does not match the layer's {dtype} parameters "
            f"(convert the input with x.astype(np.{dtype}) or the model with model.to(np.{x.dtype}))"
        )


def image_batch(x: np.ndarray, channels: int | None = None) -> None:
    """(N, C, H, W) with C = ``channels`` when given; N may be 0, C, H and W may not (as in torch)."""
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        c = "C" if channels is None else channels
        raise ValueError(f"expected input (N, {c}, H, W), got {x.shape}")
    if 0 in x.shape[1:]:
        raise ValueError(f"expected input (N, C, H, W) with C, H, W >= 1, got {x.shape}")


def parameter(a, shape: tuple[int, ...], dtype: np.dtype, what: str) -> np.ndarray:
    """A weight or bias handed to an op: exactly ``shape`` and ``dtype``; returned ready for a kernel."""
    if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:
        got = f"{a.shape} {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"expected {what} {shape} {dtype}, got {got}")
    return kernel_array(a)


def upstream(dout, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The upstream gradient dL/dout: exactly the forward output's shape and dtype, any layout.

    Returns it ready for a kernel (C-contiguous, aligned, writeable; copied only if it is not).
    """
    if not isinstance(dout, np.ndarray):
        raise TypeError(f"expected upstream gradient {shape} {dtype} as a numpy.ndarray, got {type(dout).__name__}")
    if dout.shape != shape or dout.dtype != dtype:
        raise ValueError(f"expected upstream gradient {shape} {dtype}, got {dout.shape} {dout.dtype}")
    return kernel_array(dout)


def kernel_array(a: np.ndarray) -> np.ndarray:
    """``a`` when it is C-contiguous, aligned and writeable (what the compiled kernels take), else a copy.

    Read-only and unaligned arrays are copied too, so that the kernels see one array type per dtype
    and never compile a second version of themselves.
    """
    f = a.flags
    if f.c_contiguous and f.aligned and f.writeable:
        return a
    return np.array(a, order="C", copy=True)
