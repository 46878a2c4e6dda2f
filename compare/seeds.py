"""How much a recipe's test accuracy depends on the seed, in scratchnet and in torch, against its target.

    python -m compare.seeds --model seedcnn --seeds 10          # both libraries, seeds 0..9, 10 epochs
    python -m compare.seeds --model seedcnn --seeds 5 --epochs 20
    python -m compare.seeds --model ffn --seeds 10 --libraries scratchnet

Every seed is one ordinary run of ``python -m scratchnet.train`` / ``python -m torchref.train`` (the same
recipe, each library with its own initialisation; for one seed both see the same batch order). Their
histories land in ``<out>/<study>/scratchnet/`` and ``<out>/<study>/torch/``; a seed whose finished history
is already there (same recipe and data) is read instead of retrained, so a study can be stopped and
continued, or extended with more seeds. ``<out>/<study>.md`` gives, per library, the mean, sample standard
deviation, 95 % confidence interval of the mean, range and how many seeds reach the target, the difference
between the libraries with its confidence interval, and the mean accuracy per epoch;
``<study>.png`` plots the curves and every seed's final accuracy, ``<study>.csv``/``.json`` hold the numbers.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from scratchnet.data import locate_mnist
from scratchnet.fileio import atomic_write_text
from scratchnet.recipes import RECIPES, Recipe, run_stem
from scratchnet.recipes import run as scratch_run
from torchref.recipes import run as torch_run
from torchref.recipes import run_file_stem

from . import provenance
from .cli import add_report_arguments, run_report
from .figures import pyplot, save

#: the test accuracies (%) the project holds each recipe to (issue 3 of the project's tracker)
TARGETS = {"ffn": 97.8, "seedcnn": 98.8, "examplesnet": 99.0}
LIBRARIES = ("scratchnet", "torch")
MODEL_NAMES = {"ffn": "FFN", "seedcnn": "SeedCNN", "examplesnet": "ExamplesNet"}
QUICK = {"subset": 2000, "test_subset": 500, "epochs": 1}

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


def difference(a: list[float], b: list[float]) -> dict[str, Any] | None:
    """mean(a) - mean(b) with Welch's 95 % interval (unequal variances); None with fewer than 2 of either."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.size < 2 or y.size < 2:
        return None
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    diff = float(x.mean() - y.mean())
    se = math.sqrt(vx + vy)
    if se == 0:
        return {"diff": diff, "ci95": [diff, diff], "df": None}
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    half = t_quantile_975(df) * se
    return {"diff": diff, "ci95": [diff - half, diff + half], "df": df}


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


def study_name(recipe: Recipe, quick: bool) -> str:
    """``seedcnn``, ``seedcnn_ep20``, ``ffn_mnist``...: the recipe's run stem (what differs from the
    published recipe), ``_quick`` for the CI-sized variant."""
    return run_stem(recipe, 0) + ("_quick" if quick else "")


def _finished(path: Path, recipe: Recipe, data_dir: str, n_train: int | None, n_test: int | None) -> dict | None:
    """The history at ``path`` if it is a finished run of exactly this recipe on this data."""
    try:
        h = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    extra = h.get("extra", {})
    data = extra.get("data", {})
    if ("final_test" not in h or extra.get("recipe") != asdict(recipe)
            or len(h.get("epochs", [])) != recipe.epochs
            or str(data.get("train_dir")) != data_dir
            or (n_train is not None and data.get("train_samples") != n_train)
            or (n_test is not None and data.get("test_samples") != n_test)):
        return None
    return h


def run_seed(library: str, recipe: Recipe, seed: int, out: Path, *, data_dir: str, quick: bool,
             device: str | None, log=print) -> tuple[dict[str, Any], Path, bool]:
    """One seed of one library: its finished history if ``out`` has one, else a fresh run (which writes it).
    Returns (history, history file, reused)."""
    subset = QUICK["subset"] if quick else None
    test_subset = QUICK["test_subset"] if quick else None
    stem = run_stem(recipe, seed, subset=subset) if library == "scratchnet" else \
        run_file_stem(recipe, None, seed, subset=subset)
    path = out / f"{stem}.json"
    h = _finished(path, recipe, data_dir, subset, test_subset)  # the full set's size: whatever data_dir holds
    if h is not None:
        return h, path, True
    kwargs = dict(data_dir=data_dir, out=out, seed=seed, subset=subset, test_subset=test_subset, progress=False,
                  log=log)
    h = scratch_run(recipe, **kwargs) if library == "scratchnet" else torch_run(recipe, device=device, **kwargs)
    return h, path, False


def final_accuracy(h: dict[str, Any]) -> float:
    return 100 * h["final_test"]["accuracy"]


def epoch_accuracies(h: dict[str, Any]) -> list[float]:
    return [100 * e["test_accuracy"] for e in h["epochs"]]


def plot(results: dict[str, list[dict]], target: float | None, title: str, path: Path) -> None:
    """Left: test accuracy per epoch (mean line, band from the lowest to the highest seed) per library.
    Right: every seed's final test accuracy, with the mean and its 95 % interval."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    colours = {"scratchnet": "tab:blue", "torch": "tab:orange"}
    for i, (lib, runs) in enumerate(results.items()):
        curves = np.array([r["epoch_acc"] for r in runs])
        epochs = np.arange(1, curves.shape[1] + 1)
        c = colours.get(lib, f"C{i}")
        ax1.plot(epochs, curves.mean(axis=0), marker="o", color=c, label=f"{lib} (mean of {len(runs)})")
        ax1.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=c, alpha=0.2)
        finals = np.array([r["final"] for r in runs])
        jitter = np.random.default_rng(0).uniform(-0.12, 0.12, finals.size)
        ax2.scatter(np.full(finals.size, i) + jitter, finals, color=c, alpha=0.7, s=22)
        s = describe(list(finals))
        if s["ci95"] is not None:
            ax2.errorbar([i + 0.3], [s["mean"]], yerr=[[s["mean"] - s["ci95"][0]], [s["ci95"][1] - s["mean"]]],
                         fmt="D", color="black", capsize=4)
    for ax in (ax1, ax2):
        if target is not None:
            ax.axhline(target, color="red", linestyle="--", linewidth=1, label=f"target {target:.2f} %")
        ax.grid(alpha=0.3)
    lows = [min(min(r["epoch_acc"][-3:]) for r in runs) for runs in results.values()]
    ax1.set_ylim(bottom=min(lows + ([target] if target else [])) - 0.6)
    ax1.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy per epoch (band: lowest to highest seed)")
    ax1.legend(loc="lower right")
    ax2.set_xticks(range(len(results)), list(results))
    ax2.set_xlim(-0.5, len(results) - 0.3)
    ax2.set(ylabel="final test accuracy (%)", title="each seed; ◆ mean with 95 % interval")
    fig.suptitle(title)
    save(fig, path)


def write_csv(results: dict[str, list[dict]], path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["library", "seed", "test_accuracy_pct", "best_epoch_test_accuracy_pct", "epochs", "train_time_s",
                "reused", "history"])
    for lib, runs in results.items():
        for r in runs:
            w.writerow([lib, r["seed"], f"{r['final']:.2f}", f"{max(r['epoch_acc']):.2f}", len(r["epoch_acc"]),
                        f"{r['train_time_s']:.1f}", r["reused"], r["history"]])
    atomic_write_text(path, buf.getvalue())


def _pct(v: float) -> str:
    return f"{v:.2f} %"


def _signed(v: float) -> str:
    """+0.12 / -0.12, and +0.00 rather than -0.00 for a difference that rounds to nothing."""
    text = f"{v:+.2f}"
    return "+0.00" if text == "-0.00" else text


def _interval(ci: list[float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def write_report(info: dict, recipe: Recipe, results: dict[str, list[dict]], stats: dict[str, dict],
                 diff: dict | None, target: float | None, quick: bool, name: str, path: Path) -> None:
    base = RECIPES[recipe.model]
    epochs = f"{recipe.epochs} epoch" + ("s" if recipe.epochs != 1 else "")
    lines = [f"# Seeds: {MODEL_NAMES.get(recipe.model, recipe.model)}, {recipe.optimizer} lr {recipe.lr:g}, batch "
             f"{recipe.batch_size}, {epochs}, normalisation {recipe.normalization}"
             + (" — QUICK (data subset, CI-sized: not a result)" if quick else ""), "",
             provenance.markdown(info), "",
             f"The published recipe: {base.source}"
             + ("" if recipe == base else f"; this study changes it to {epochs}, normalisation {recipe.normalization}")
             + ". Each seed is one full training run per library, each library "
             "with its own initialisation (for one seed both see the same batch order); the test accuracy is "
             "after the last epoch, on the test set. The interval is the 95 % t-interval of the mean over seeds: "
             "where a run with a new seed would most likely put the *average*, not where one run lands.", "",
             f"![accuracy per epoch and per seed]({name}.png)", "",
             "| library | seeds | mean | sample std | 95 % interval of the mean | lowest | highest"
             + (f" | reach {target:.2f} %" if target is not None else "") + " | mean train time |",
             "|---|---|---|---|---|---|---|" + ("---|" if target is not None else "") + "---|"]
    for lib, s in stats.items():
        std = "-" if s["std"] is None else f"{s['std']:.2f}"
        times = np.mean([r["train_time_s"] for r in results[lib]])
        lines.append(f"| {lib} | {s['n']} | **{_pct(s['mean'])}** | {std} | {_interval(s['ci95'])} | {_pct(s['min'])} | "
                     f"{_pct(s['max'])}" + (f" | {s['reach_target']} of {s['n']}" if target is not None else "")
                     + f" | {times:.0f} s |")
    lines.append("")
    if target is not None:
        lines += ["## Against the target", ""]
        lines += [f"- {lib}: {verdict(s, target)}." for lib, s in stats.items()]
        lines.append("")
    if diff is not None:
        a, b = list(stats)
        same = diff["ci95"][0] <= 0 <= diff["ci95"][1]
        lines += ["## scratchnet against torch", "",
                  f"Mean {a} − mean {b}: {_signed(diff['diff'])} points, 95 % interval {_interval(diff['ci95'])} "
                  "(Welch). " + ("The interval contains 0: no difference between the libraries that these seeds "
                                 "can detect." if same else
                                 "The interval excludes 0: the libraries differ by more than seed noise."), ""]
    n_epochs = len(next(iter(results.values()))[0]["epoch_acc"])
    lines += ["## Mean test accuracy per epoch", "",
              "| epoch | " + " | ".join(stats) + " |", "|---|" + "---|" * len(stats)]
    means = {lib: np.mean([r["epoch_acc"] for r in runs], axis=0) for lib, runs in results.items()}
    for e in range(n_epochs):
        lines.append(f"| {e + 1} | " + " | ".join(_pct(means[lib][e]) for lib in stats) + " |")
    if target is not None:
        lines.append("")
        for lib in stats:
            first = next((e + 1 for e in range(n_epochs) if means[lib][e] >= target), None)
            lines.append(f"- {lib}: the mean over seeds " + (f"first reaches {target:.2f} % after epoch {first}."
                                                             if first else f"never reaches {target:.2f} % in "
                                                             f"{n_epochs} epochs (best {max(means[lib]):.2f} %)."))
    reused = sum(r["reused"] for runs in results.values() for r in runs)
    lines += ["", "## Runs", "",
              "Trained by this command, or, where marked *reused*, by an earlier invocation of it (same recipe and "
              f"data; read from its history, not retrained): {reused} of {sum(map(len, results.values()))} here.", "",
              "| library | seed | test accuracy | best epoch's | train time | trained at | commit | history |",
              "|---|---|---|---|---|---|---|---|"]
    for lib, runs in results.items():
        for r in runs:
            lines.append(f"| {lib} | {r['seed']} | {_pct(r['final'])} | {_pct(max(r['epoch_acc']))} | "
                         f"{r['train_time_s']:.0f} s | {r['date']} | `{r['commit'][:9]}` | [json]({r['history']})"
                         + (" *reused*" if r["reused"] else "") + " |")
    lines += ["", "The best epoch's accuracy is shown for curiosity only: picking the epoch by the test set would "
              "be selecting on the test set; every number above uses the last epoch.", "",
              f"Each run's own provenance (command, commit, machine, load) is in its history file; "
              f"summaries per library: [scratchnet]({name}/scratchnet/README.md)"
              + (f", [torch]({name}/torch/README.md)" if "torch" in results else "") + ".", ""]
    atomic_write_text(path, "\n".join(lines))


def run(args) -> Path:
    base = RECIPES[args.model]
    recipe = replace(base, **{k: v for k, v in (("epochs", args.epochs), ("normalization", args.normalization))
                              if v is not None})
    if args.quick:
        recipe = replace(recipe, epochs=QUICK["epochs"])
    name = study_name(recipe, args.quick)
    out = Path(args.out)
    target = None if args.no_target else (args.target if args.target is not None else TARGETS.get(args.model))
    info = provenance.collect(args.seed, device=args.device or "cpu")
    progress = False if args.no_progress else None
    seeds = list(range(args.seed, args.seed + args.seeds))
    data_dir = str(locate_mnist(args.data_dir, "train"))  # once, so every run and every reuse check agree
    results: dict[str, list[dict]] = {lib: [] for lib in args.libraries}
    t0 = time.perf_counter()
    jobs = [(lib, s) for s in seeds for lib in args.libraries]
    bar = tqdm(jobs, desc=f"{name}: seeds", disable=progress is False or None)
    for lib, seed in bar:
        bar.set_postfix_str(f"{lib} seed {seed}")
        h, path, reused = run_seed(lib, recipe, seed, out / name / lib, data_dir=data_dir, quick=args.quick,
                                   device=args.device, log=lambda *a, **k: None)
        results[lib].append({"seed": seed, "final": final_accuracy(h), "epoch_acc": epoch_accuracies(h),
                             "train_time_s": h["train_time_s"], "reused": reused,
                             "date": h["extra"]["date"], "commit": h["extra"]["git_commit"],
                             "history": path.relative_to(out).as_posix()})
    stats = {lib: describe([r["final"] for r in runs], target) for lib, runs in results.items()}
    diff = difference(*[[r["final"] for r in results[lib]] for lib in LIBRARIES]) \
        if all(lib in results for lib in LIBRARIES) else None
    atomic_write_text(out / f"{name}.json", json.dumps({
        "provenance": info, "recipe": asdict(recipe), "target": target, "quick": args.quick, "seeds": seeds,
        "stats": stats, "difference": diff, "runs": results, "wall_time_s": time.perf_counter() - t0,
    }, indent=1))
    write_csv(results, out / f"{name}.csv")
    plot(results, target, f"{MODEL_NAMES.get(recipe.model, recipe.model)}, normalisation {recipe.normalization}: "
         f"{len(seeds)} seeds, {recipe.epochs} epochs"
         + (" (quick)" if args.quick else ""), out / f"{name}.png")
    write_report(info, recipe, results, stats, diff, target, args.quick, name, out / f"{name}.md")
    return out / f"{name}.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compare.seeds", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(RECIPES), required=True)
    p.add_argument("--seeds", type=int, default=5, help="how many seeds, from --seed on (default 5)")
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--normalization", choices=["unit", "mnist", "half"], help="default: the recipe's")
    p.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    p.add_argument("--target", type=float, help="test accuracy in %% to hold the runs to (default: the project's "
                   "target for the model: " + ", ".join(f"{k} {v}" for k, v in TARGETS.items()) + ")")
    p.add_argument("--no-target", action="store_true", help="no target line or verdict")
    add_report_arguments(p, "reports/seeds", quick="a data subset, one epoch")
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.epochs is not None and args.epochs < 1:
        p.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.target is not None and not 0 < args.target <= 100:
        p.error(f"--target is a test accuracy in percent, in (0, 100], got {args.target}")
    args.libraries = [lib for lib in LIBRARIES if lib in args.libraries]  # fixed order, no repeats
    return run_report(lambda: run(args))


__all__ = ["TARGETS", "t_quantile_975", "describe", "difference", "verdict", "study_name", "run_seed", "run", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
