"""The statistics of the seed studies and the speedrun: the mean over seeds with its 95 % t-interval, the
difference of two libraries paired by seed, and what an interval says against a target."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (any statistics table)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t_quantile_975(df: float) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (a fractional df is rounded down,
    which widens the interval). Table up to 30, Cornish-Fisher expansion beyond (error < 1e-3)."""
    if df < 1:
        raise ValueError(f"degrees of freedom: expected >= 1, got {df}")
    k = int(math.floor(df))
    if k <= 30:
        return _T975[k - 1]
    z = 1.959963984540054
    return z + (z**3 + z) / (4 * k) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * k**2)


def describe(values: list[float], target: float | None = None) -> dict[str, Any]:
    """Mean, sample std, 95 % t-interval of the mean, range and hits of the target, of accuracies in %."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        raise ValueError("describe: no values")
    out: dict[str, Any] = {"n": int(a.size), "mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}
    if a.size >= 2:
        std = float(a.std(ddof=1))
        half = t_quantile_975(a.size - 1) * std / math.sqrt(a.size)
        out.update(std=std, ci95=[out["mean"] - half, out["mean"] + half])
    else:
        out.update(std=None, ci95=None)
    if target is not None:
        out["reach_target"] = int((a >= target - 1e-9).sum())
    return out


def paired_difference(a: dict[int, float], b: dict[int, float]) -> dict[str, Any] | None:
    """mean over the seeds both have of (a - b), with the 95 % t-interval of that mean: the runs of one seed
    share their batch order, so they are compared as pairs. None with fewer than 2 common seeds."""
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return None
    d = np.array([a[s] - b[s] for s in common], dtype=np.float64)
    mean, std = float(d.mean()), float(d.std(ddof=1))
    half = t_quantile_975(d.size - 1) * std / math.sqrt(d.size)
    return {"diff": mean, "ci95": [mean - half, mean + half], "n": int(d.size), "seeds": common}


def verdict(stats: dict[str, Any], target: float) -> str:
    """What the seeds say about the recipe against the target, in words derived from the interval."""
    hits = f"{stats['reach_target']} of {stats['n']} seeds reach {target:.2f} %"
    if stats["ci95"] is None:
        return f"one seed cannot say what the recipe reaches on average; {hits}"
    lo, hi = stats["ci95"]
    where = f"the 95 % interval of the mean, [{lo:.3f}, {hi:.3f}] %,"  # 3 decimals: 98.798 must not read 98.80
    if lo >= target:
        return f"meets the target on average ({where} lies at or above it); {hits}"
    if hi < target:
        return f"falls short of the target on average ({where} lies below it); {hits}"
    return f"these seeds cannot tell whether the recipe meets the target on average ({where} contains it); {hits}"


__all__ = ["t_quantile_975", "describe", "paired_difference", "verdict"]
