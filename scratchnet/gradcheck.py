"""Gradient checking: compare hand-written backprop with centred finite differences in float64.

For a module f and a random upstream gradient G (not all-ones, so that every path is weighted
differently), define the scalar ``s(x, theta) = sum(f(x; theta) * G)``. Its exact gradient with
respect to x is what ``f.backward(G)`` returns, and with respect to each parameter what it adds to
``param.grad``. Centred differences estimate the same numbers::

    ds/dv ~ (s(v + eps) - s(v - eps)) / (2 eps)        error O(eps^2) + O(machine_eps / eps)

(eps = 1e-5 by default: these nets are piecewise linear up to the softmax, so the O(eps^2) term is
tiny and a larger step keeps the round-off term small.)

and we compare them with a relative error (CS231n's thresholds: < 1e-7 good, ~1e-4 only near a
kink, > 1e-2 wrong). We use the norm-wise form ``||a - n|| / (||a|| + ||n||)``: an element-wise
ratio is dominated by entries that are zero exactly (max-pool losers, dead ReLUs), where the
difference is round-off divided by nothing.

Kinks: ReLU at 0 and max-pool ties are not differentiable; a difference that straddles one is wrong
by O(1). ``kink_margin`` measures how far a Sequential's input is from every kink, so a check can
insist that the margin is many times larger than eps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .nn.layers import MaxPool2d, ReLU
from .nn.module import Module, Sequential


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Norm-wise relative error ||a - b|| / max(||a|| + ||b||, 1e-300); 0 when both are zero."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / max(denom, 1e-300))


def rel_error_elementwise(a: np.ndarray, b: np.ndarray, floor: float = 1e-8) -> float:
    """CS231n's element-wise max |a - b| / max(floor, |a| + |b|): strict, but fooled by exact zeros."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))))


def numerical_gradient(
    f: Callable[[], float], x: np.ndarray, eps: float = 1e-5, indices: np.ndarray | None = None
) -> np.ndarray:
    """Centred differences of the scalar ``f()`` with respect to ``x``, perturbed in place.

    Only the flat ``indices`` are estimated when given (the rest of the result is NaN).
    """
    if not x.flags.c_contiguous:
        raise ValueError("numerical_gradient: x must be C-contiguous so it can be perturbed in place")
    grad = np.full(x.shape, np.nan) if indices is not None else np.zeros(x.shape)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size) if indices is None else indices:
        old = flat_x[i]
        flat_x[i] = old + eps
        fp = f()
        flat_x[i] = old - eps
        fm = f()
        flat_x[i] = old
        flat_g[i] = (fp - fm) / (2 * eps)
    return grad


@dataclass
class GradCheckResult:
    """Per checked tensor ('input', then parameter names): relative error, entries compared, and
    entries skipped because a +-eps step crossed a kink (changed a ReLU mask or a max-pool winner)."""

    errors: dict[str, float] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)
    kink_crossings: dict[str, int] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values()) if self.errors else 0.0

    @property
    def total_kink_crossings(self) -> int:
        return sum(self.kink_crossings.values())

    def passed(self, threshold: float = 1e-7) -> bool:
        return self.max_error < threshold

    def __str__(self) -> str:
        rows = [
            f"  {name:<24s} rel error {err:.2e}  ({self.checked[name]} entries, "
            f"{self.kink_crossings.get(name, 0)} skipped at kinks)"
            for name, err in self.errors.items()
        ]
        return "gradient check:\n" + "\n".join(rows)


def _rng_holders(module: Module) -> list[Module]:
    return [m for m in module.modules() if isinstance(getattr(m, "rng", None), np.random.Generator)]


def _activation_pattern(module: Module) -> list[np.ndarray]:
    """The piecewise-linear 'region' the last forward ran in: every ReLU mask and max-pool winner."""
    pattern = []
    for m in module.modules():
        cache = m.__dict__.get("_cache")
        if isinstance(m, ReLU) and cache is not None:
            pattern.append(cache[0])  # (mask, dtype)
        elif isinstance(m, MaxPool2d) and cache is not None:
            pattern.append(cache[0][0])  # ((argmax, x shape), dtype)
    return pattern


def check_module(
    module: Module,
    x: np.ndarray,
    upstream: np.ndarray | None = None,
    eps: float = 1e-5,
    max_entries: int | None = None,
    seed: int = 0,
) -> GradCheckResult:
    """Check ``module.backward`` against finite differences for the input and every parameter.

    Parameters
    ----------
    module : a float64 module (gradient checks in float32 are dominated by round-off).
    x : float64 input.
    upstream : dL/dout; a standard-normal draw when None.
    eps : the finite-difference step.
    max_entries : check at most this many randomly chosen entries per tensor (None: all).
    seed : seeds the upstream gradient and the entry choice.

    Random layers (Dropout) are replayed with the same mask on every forward pass. An entry whose
    +-eps evaluations leave the activation pattern of the unperturbed pass (a ReLU input changed
    sign, a max-pool window changed winner) straddles a kink: the difference quotient is not a
    derivative there, so the entry is left out of the error and counted in ``kink_crossings``.
    """
    if x.dtype != np.float64 or any(p.dtype != np.float64 for p in module.parameters()):
        raise ValueError("check_module: use float64 input and parameters (module.double(), x.astype(np.float64))")
    rng = np.random.default_rng(seed)
    holders = _rng_holders(module)
    states = [m.rng.bit_generator.state for m in holders]

    def forward() -> np.ndarray:
        for m, s in zip(holders, states):
            m.rng.bit_generator.state = s
        return module(x)

    out = forward()
    base_pattern = [p.copy() for p in _activation_pattern(module)]
    upstream = rng.standard_normal(out.shape) if upstream is None else np.asarray(upstream, dtype=np.float64)
    module.zero_grad()
    dx = module.backward(upstream)

    def scalar_and_same_region() -> tuple[float, bool]:
        value = float(np.sum(forward() * upstream))
        same = all(np.array_equal(a, b) for a, b in zip(base_pattern, _activation_pattern(module)))
        return value, same

    result = GradCheckResult()
    targets = [("input", x, dx)] + [(name, p.data, p.grad) for name, p in module.named_parameters()]
    for name, arr, analytic in targets:
        if analytic is None:
            raise RuntimeError(f"check_module: {name} received no gradient from backward")
        if arr.size <= (max_entries or arr.size):
            idx = np.arange(arr.size)
        else:
            idx = np.sort(rng.choice(arr.size, max_entries, replace=False))
        flat, a_flat = arr.reshape(-1), analytic.reshape(-1)
        kept_a, kept_n, crossings = [], [], 0
        for i in idx:
            old = flat[i]
            flat[i] = old + eps
            fp, same_p = scalar_and_same_region()
            flat[i] = old - eps
            fm, same_m = scalar_and_same_region()
            flat[i] = old
            if same_p and same_m:
                kept_a.append(a_flat[i])
                kept_n.append((fp - fm) / (2 * eps))
            else:
                crossings += 1
        result.errors[name] = rel_error(np.array(kept_a), np.array(kept_n))
        result.checked[name] = len(kept_a)
        result.kink_crossings[name] = crossings
    for m in module.modules():  # leave no half-used forward behind
        object.__setattr__(m, "_cache", None)
    return result


def check_loss(loss: Module, scores: np.ndarray, target: np.ndarray, eps: float = 1e-5, seed: int = 0) -> GradCheckResult:
    """Check a loss module's backward (with a random scalar upstream gradient) against finite differences."""
    if scores.dtype != np.float64:
        raise ValueError("check_loss: use float64 scores")
    g = float(np.random.default_rng(seed).standard_normal())
    loss(scores, target)
    analytic = loss.backward(g)
    numeric = numerical_gradient(lambda: g * loss(scores, target), scores, eps)
    return GradCheckResult({"scores": rel_error(analytic, numeric)}, {"scores": scores.size})


def _pool_gap(x: np.ndarray, pool: MaxPool2d, after_relu: bool) -> float:
    """Smallest gap between the largest and second-largest value of any pooling window (inf if 1x1).

    After a ReLU, windows whose maximum is exactly 0 are skipped: every candidate there is a clamped
    zero with zero gradient, so whichever wins, the gradient is the same.
    """
    (kh, kw), (sh, sw), (ph, pw) = pool.kernel_size, pool.stride, pool.padding
    if kh * kw == 1:
        return np.inf
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    win = np.sort(win.reshape(*win.shape[:4], kh * kw), axis=-1)
    gaps = win[..., -1] - win[..., -2]
    if after_relu:
        gaps = np.where(win[..., -1] == 0, np.inf, gaps)
    return float(np.min(np.where(np.isfinite(gaps), gaps, np.inf)))


def kink_margin(model: Sequential, x: np.ndarray) -> float:
    """How far ``x`` is from a kink of ``model``: the smallest |input| of any ReLU and the smallest
    top-two gap of any max-pool window along the forward pass. Finite differences with a step much
    smaller than this margin (times the weights' scale) never straddle a kink.
    """
    margin, after_relu = np.inf, False
    for layer in model:
        if isinstance(layer, ReLU):
            margin = min(margin, float(np.min(np.abs(x))))
        elif isinstance(layer, MaxPool2d):
            margin = min(margin, _pool_gap(x, layer, after_relu))
        after_relu = isinstance(layer, ReLU)
        x = layer(x)
        object.__setattr__(layer, "_cache", None)
    return margin
