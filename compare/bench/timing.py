"""Measuring: repetitions summarised as median and min-max (Stat), the table of results (Results),
interleaved timing of several functions, one thread count for both libraries, and other processes' load."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass
class Stat:
    """Repetitions of one measurement (values in ``unit``), summarised as median and min-max."""

    values: list[float]
    unit: str

    @property
    def median(self) -> float:
        return float(np.median(self.values))

    @property
    def lo(self) -> float:
        return float(np.min(self.values))

    @property
    def hi(self) -> float:
        return float(np.max(self.values))

    def fmt(self, digits: int = 0) -> str:
        return f"{self.median:,.{digits}f} ({self.lo:,.{digits}f}-{self.hi:,.{digits}f})"


def fmt_row(row: dict | None, digits: int = 0) -> str:
    """A result row's median (min-max), as ``Stat.fmt`` writes it; '-' for no row."""
    return Stat([row["median"], row["min"], row["max"]], "").fmt(digits) if row else "-"


@dataclass
class Results:
    """Every measurement of one run (``rows``: section, item, impl, median, min, max, unit, n, extras) and the
    facts of the run (``meta``: machine, versions, commit, load)."""

    meta: dict
    rows: list[dict] = field(default_factory=list)

    def add(self, section: str, item: str, impl: str, stat: Stat | float, unit: str | None = None, **extra) -> None:
        if isinstance(stat, Stat):
            row = dict(median=stat.median, min=stat.lo, max=stat.hi, unit=stat.unit, n=len(stat.values))
        else:
            row = dict(median=float(stat), min=float("nan"), max=float("nan"), unit=unit or "", n=1)
        self.rows.append(dict(section=section, item=item, impl=impl, **row, **extra))

    def get(self, section: str, item: str, impl: str) -> dict | None:
        for r in self.rows:
            if (r["section"], r["item"], r["impl"]) == (section, item, impl):
                return r
        return None

    def ratio(self, section: str, item: str) -> float:
        """scratchnet's median over torch's (above 1: scratchnet is faster for a rate), NaN when one is missing."""
        a, b = self.get(section, item, "scratchnet"), self.get(section, item, "torch")
        return a["median"] / b["median"] if a and b else float("nan")

    def section(self, name: str) -> list[dict]:
        return [r for r in self.rows if r["section"] == name]


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each function; calls alternate between the functions and their order
    flips every repetition, so load from elsewhere on the machine falls on all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    order = list(fns)
    for r in range(reps):
        for k in order if r % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t)
    return times


def set_threads(n: int, impls: tuple[str, ...] = ("scratchnet", "torch")) -> None:
    """The same thread count for both (or for ``impls`` alone: the other library is then not imported).
    torch goes first: if Numba's OpenMP pool is started before torch loads its own OpenMP runtime, torch's
    small parallel regions run several times slower in this process (measured: FFN train steps ~9x slower),
    which would flatter scratchnet."""
    if "torch" in impls:
        import torch

        torch.set_num_threads(n)
    if "scratchnet" in impls:
        import numba

        numba.set_num_threads(n)


class OtherLoad:
    """CPU time that other processes used while a block of the benchmark ran, in cores (0.5 = half a core
    on average): busy time of the whole machine (/proc/stat) minus this process's and its children's."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
            busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
        except (OSError, ValueError, IndexError):
            busy = float("nan")
        t = os.times()
        return busy, t.user + t.system + t.children_user + t.children_system, time.perf_counter()

    def cores(self) -> float:
        busy1, own1, wall1 = self._sample()
        busy0, own0, wall0 = self.start
        return max(0.0, (busy1 - busy0) - (own1 - own0)) / max(wall1 - wall0, 1e-9)
