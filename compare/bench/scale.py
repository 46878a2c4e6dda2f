"""Throughput against batch size and thread count: train steps and inference of each model at batch 1 to 1024
on 1 and 2 threads, scratchnet and torch from the same weights in one process (``numba.set_num_threads`` =
``torch.set_num_threads`` switched between the points), and its table and figure.

Each point repeats one batch enough times that a repetition lasts about ``cfg['scale_rep_s']`` (a single call
times it first, which is also the warm-up), so batch 1 is not lost in timer noise and batch 1024 costs no
more than a few steps. Every point is a row of benchmarks.csv (section ``scale-train`` / ``scale-infer``)."""

from __future__ import annotations

import math
import time

import numpy as np

from .timing import Results, Stat, interleaved, set_threads
from .workload import IMPLS, build_pair, model_label, sample_batches

BATCHES = (1, 4, 16, 64, 256, 1024)
THREADS = (1, 2)
#: the largest batch measured per model: ResNet18's step at 1024 takes seconds per call on one thread
MAX_BATCH = {"resnet18": 256}
SECTIONS = {"scale-train": "train step", "scale-infer": "inference"}


def thread_counts() -> list[int]:
    """``THREADS`` that this machine and Numba's thread pool allow (at least 1)."""
    import numba

    from .._machine import usable_cores

    most = min(usable_cores(), numba.config.NUMBA_NUM_THREADS)
    return [t for t in THREADS if t <= most] or [1]


def batches_for(name: str, section: str) -> list[int]:
    """The batch sizes of a model's curve: up to ``MAX_BATCH``; training starts at 2 for ResNet18 (BatchNorm
    in training mode needs more than one value per channel, torch refuses a batch of 1 there)."""
    low = 2 if section == "scale-train" and name == "resnet18" else 1
    return [b for b in BATCHES if low <= b <= MAX_BATCH.get(name, BATCHES[-1])]


def _point_fns(pair, section: str, x: np.ndarray, y: np.ndarray) -> dict:
    """One call of each side at one point: a train step, or an eval-mode forward without graph or caches."""
    import torch

    import scratchnet

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    if section == "scale-train":
        return {"scratchnet": lambda: pair.scratchnet.step(x, y), "torch": lambda: pair.torch.step(tx, ty)}

    def ours():
        with scratchnet.no_grad():
            pair.scratchnet.model(x)

    def theirs():
        with torch.inference_mode():
            pair.torch.model(tx)

    return {"scratchnet": ours, "torch": theirs}


def _repeated(fn, n: int):
    def run() -> None:
        for _ in range(n):
            fn()
    return run


def measure_point(pair, section: str, batch: int, cfg: dict) -> dict[str, Stat]:
    """Images per second of both sides at one batch size, interleaved; calls per repetition from a timed call."""
    x, y, _ = sample_batches(batch, seed=4)
    fns = _point_fns(pair, section, x, y)
    slowest = 0.0
    for fn in fns.values():
        t = time.perf_counter()
        fn()
        slowest = max(slowest, time.perf_counter() - t)
    n = max(1, math.ceil(cfg["scale_rep_s"] / max(slowest, 1e-6)))
    t = interleaved({k: _repeated(fn, n) for k, fn in fns.items()}, cfg["scale_reps"], 1)
    return {impl: Stat([batch * n / s for s in t[impl]], "images/s") for impl in IMPLS}


def bench_scale(res: Results, names: list[str], cfg: dict, threads: int, bar) -> None:
    """Every model in ``names`` at every batch size and thread count; the thread count is restored after."""
    try:
        for name in names:
            pair = build_pair(name, seed=0)
            for t in thread_counts():
                set_threads(t)
                for section in SECTIONS:
                    getattr(pair.scratchnet.model, "train" if section == "scale-train" else "eval")()
                    getattr(pair.torch.model, "train" if section == "scale-train" else "eval")()
                    for b in batches_for(name, section):
                        for impl, st in measure_point(pair, section, b, cfg).items():
                            res.add(section, f"{name} | batch {b} | {t} threads", impl, st, model=name, batch=b,
                                    threads=t)
            bar.update(1)
    finally:
        set_threads(threads)


def _cell(res: Results, section: str, item: str) -> str:
    a, b = res.get(section, item, "scratchnet"), res.get(section, item, "torch")
    if not (a and b):
        return "-"
    return f"**{a['median'] / b['median']:.2f}x** {a['median']:,.0f} / {b['median']:,.0f}"


def scale_section(res: Results, names: list[str]) -> list[str]:
    """One row per model, pass and thread count; a column per batch size: ratio, then both sides' images/s."""
    rows = []
    for name in [n for n in names if any(r.get("model") == n for r in res.section("scale-train"))]:
        for section, what in SECTIONS.items():
            for t in sorted({r["threads"] for r in res.section(section) if r["model"] == name}):
                rows.append([model_label(name), what, t,
                             *(_cell(res, section, f"{name} | batch {b} | {t} threads") for b in BATCHES)])
    if not rows:
        return []
    head = ["model", "pass", "threads", *(f"batch {b}" for b in BATCHES)]
    from ..report import table, texts

    return ["## Scale: batch size and threads", "", texts("bench")["scale"], "",
            *table(head, rows), "", "![scale](benchmarks_scale.png)", ""]


def plot_scale(res: Results, names: list[str]):
    """Per model (columns): images/s against batch size (log x, y from zero) for train and inference, both
    libraries, one colour per thread count; the bottom row plots the ratio scratchnet / torch itself."""
    from ..figures import pyplot

    names = [n for n in names if any(r.get("model") == n for r in res.section("scale-train"))]
    plt = pyplot()
    fig, axes = plt.subplots(3, len(names), figsize=(3.6 * len(names) + 1, 9), squeeze=False)
    colours = {1: "#1f77b4", 2: "#d62728"}
    for j, name in enumerate(names):
        for i, (section, what) in enumerate(SECTIONS.items()):
            for t in sorted({r["threads"] for r in res.section(section) if r["model"] == name}):
                pts = {impl: [(r["batch"], r["median"]) for r in res.section(section)
                              if r["model"] == name and r["threads"] == t and r["impl"] == impl] for impl in IMPLS}
                for impl, style in zip(IMPLS, ("-o", "--s")):
                    axes[i][j].plot(*zip(*pts[impl]), style, color=colours.get(t, "k"), ms=3,
                                    label=f"{impl}, {t} thr")
                ratio = [(b, s / tv) for (b, s), (_, tv) in zip(pts["scratchnet"], pts["torch"])]
                axes[2][j].plot(*zip(*ratio), "-o" if section == "scale-train" else ":^", color=colours.get(t, "k"),
                                ms=3, label=f"{what}, {t} thr")
            axes[i][j].set(xscale="log", title=f"{model_label(name)}: {what}", ylabel="images / s")
            axes[i][j].set_ylim(bottom=0)
        axes[2][j].axhline(1.0, color="grey", lw=0.8)
        axes[2][j].set(xscale="log", xlabel="batch size", ylabel="scratchnet / torch", ylim=(0, None))
    for row in axes:
        row[0].legend(fontsize=7)
    fig.suptitle("throughput against batch size (median of interleaved repetitions, one process)", fontsize=10)
    fig.tight_layout()
    return fig
