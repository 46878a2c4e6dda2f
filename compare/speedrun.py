"""The speedrun (issue 19): SpeedCNN to 99 % MNIST test accuracy in a few seconds of CPU training, trained in
scratchnet and in torch over N seeds, on the same recipe, in the same process.

    python -m compare.speedrun                             # 10 seeds, both libraries -> runs/speedrun
    python -m compare.speedrun --out reports/speedrun      # the committed report
    python -m compare.speedrun --seeds 3 --libraries scratchnet
    python -m compare.speedrun --quick                     # CI-sized: 2,000 / 500 images, 2 seeds
    python -m compare.speedrun --epochs 2                  # the recipe with fewer epochs (accuracy for time)

The data is read and normalised once and stays in memory (NumPy arrays for scratchnet, tensors for torch,
bit-identical). For each seed the two libraries train one after the other (the order alternates from seed to
seed, so that load from other processes falls on both alike), each from its own initialisation, on the same
batch order, through the one training loop (``scratchnet.train.fit`` / ``torchref.train.fit``, the one-cycle
schedule stepped after every batch). A run's *training time* is the loop's: the optimisation steps only, data
already in memory, evaluation excluded; the loop's untimed warm-up (JIT compilation on a cold cache, one-off
allocations) is recorded on its own as ``warmup_time_s``. The test set is scored once, after training.

``--out`` receives ``results.csv`` (one row per run: ``library,seed,test_accuracy,train_seconds``, accuracy as a
fraction), ``results.json`` (provenance, recipe, every run with its warm-up and load average, the statistics),
``report.md`` and ``speedrun.png`` (test accuracy against training time, every run of both libraries).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from typing import Any, Callable

import numba
import numpy as np
import torch

from scratchnet.data import load_mnist_split, normalize
from scratchnet.recipes import SPEEDRUN, SpeedrunRecipe, speedrun_loss, speedrun_model, speedrun_optimizer
from scratchnet.run.args import HelpFormatter, positive_int, seed_int, thread_count
from scratchnet.run.outputs import OutputError, claim_outputs
from scratchnet.run.provenance import data_source
from scratchnet.train import fit as scratch_fit
from torchref import recipes as torch_recipes
from torchref.data import to_device
from torchref.train import fit as torch_fit

from . import _machine, provenance
from .cli import locate_data, run_report
from .figures import pyplot
from .report import TEXTS, Report, table, texts
from .stats import describe, paired_difference, verdict

#: How the recipe was chosen: two validation studies (title, conditions, the time column's heading, rows), kept
#: as data in compare/texts/speedrun_studies.json (what each row holds is said there).
VALIDATION_STUDIES = tuple(
    (st["title"], st["conditions"], st["seconds"], tuple((*r[:4], tuple(r[4]), r[5]) for r in st["rows"]))
    for st in json.loads((TEXTS / "speedrun_studies.json").read_text(encoding="utf-8"))["studies"])
TEXT = texts("speedrun")
LIBRARIES = ("scratchnet", "torch")
#: the issue's targets on this project's 2-core CPU
TARGET_ACCURACY = 0.99
TARGET_SECONDS = 5.0
QUICK = {"seeds": 2, "subset": 2000, "test_subset": 500}
CSV_FIELDS = ("library", "seed", "test_accuracy", "train_seconds")


def load_data(data_dir: str | None, recipe: SpeedrunRecipe, quick: bool) -> dict[str, Any]:
    """The training and test images, read and normalised once: NumPy for scratchnet, tensors for torch."""
    found = locate_data(data_dir)  # located and sized from the IDX headers: fails before anything is read
    n_train = min(QUICK["subset"], found.n_train) if quick else found.n_train
    n_test = min(QUICK["test_subset"], found.n_test) if quick else found.n_test
    train = load_mnist_split(found.directory, "train")
    test = load_mnist_split(found.directory, "test")
    xtr, ytr = train.images[:n_train], train.labels[:n_train]
    xte, yte = test.images[:n_test], test.labels[:n_test]
    return {
        # the data by what it is (file fingerprints, a label), never by the directory of the machine that ran it
        "info": data_source(found.directory, found.directory, n_train, n_test),
        "scratchnet": {"train": (normalize(xtr, recipe.normalization), ytr), "test": (normalize(xte, recipe.normalization), yte)},
        "torch": {"train": to_device(xtr, ytr, "cpu", normalization=recipe.normalization),
                  "test": to_device(xte, yte, "cpu", normalization=recipe.normalization)},
    }


def train_one(library: str, recipe: SpeedrunRecipe, seed: int, data: dict[str, Any]) -> dict[str, Any]:
    """One seeded run of the recipe in one library; its test accuracy, training and warm-up time, load."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    split = data[library]
    n_train = data["info"]["train_samples"]
    steps = -(-n_train // recipe.batch_size)
    common = dict(epochs=recipe.epochs, batch_size=recipe.batch_size, scheduler_interval="step",
                  test_data=split["test"], seed=seed, progress=False)
    if library == "scratchnet":
        model = speedrun_model(recipe, rng=np.random.default_rng(seed))
        opt, sched = speedrun_optimizer(recipe, model, steps)
        history = scratch_fit(model, opt, split["train"], loss_fn=speedrun_loss(recipe), scheduler=sched, **common)
    else:
        model = torch_recipes.speedrun_model(recipe, seed=seed)
        opt, sched = torch_recipes.speedrun_optimizer(recipe, model, steps)
        history = torch_fit(model, opt, split["train"], loss_fn=torch_recipes.speedrun_loss(recipe), scheduler=sched,
                            **common)
    last = history.epochs[-1]
    return {"library": library, "seed": seed, "test_accuracy": float(last.test_accuracy),
            "test_loss": float(last.test_loss), "train_seconds": float(history.train_time_s),
            "warmup_seconds": float(history.warmup_time_s or 0.0),
            "load_average_before": None if load is None else round(load, 2),
            "load_average_after": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}


def run_seeds(recipe: SpeedrunRecipe, seeds: list[int], libraries: list[str], data: dict[str, Any],
              log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every seed in every library, interleaved: seed by seed, the library order alternating."""
    runs = []
    for i, seed in enumerate(seeds):
        order = libraries if i % 2 == 0 else libraries[::-1]
        probe = round(_machine.host_speed(), 1)  # how fast the host is now: see _machine.host_speed
        for library in order:
            r = {**train_one(library, recipe, seed, data), "host_gflops": probe}
            runs.append(r)
            log(f"seed {seed} {library:>10}: test accuracy {100 * r['test_accuracy']:.2f} %, training "
                f"{r['train_seconds']:.2f} s (warm-up {r['warmup_seconds']:.2f} s, load {r['load_average_before']}, "
                f"host {probe:.0f} GFLOP/s)")
    return sorted(runs, key=lambda r: (LIBRARIES.index(r["library"]), r["seed"]))


def summarise(runs: list[dict[str, Any]], libraries: list[str]) -> dict[str, Any]:
    """Per library: accuracy (in %) and training time statistics; scratchnet - torch paired by seed."""
    stats = {}
    for lib in libraries:
        mine = [r for r in runs if r["library"] == lib]
        stats[lib] = {"accuracy_pct": describe([100 * r["test_accuracy"] for r in mine], 100 * TARGET_ACCURACY),
                      "train_seconds": describe([r["train_seconds"] for r in mine]),
                      "warmup_seconds": describe([r["warmup_seconds"] for r in mine]),
                      "within_time": int(sum(r["train_seconds"] <= TARGET_SECONDS for r in mine))}
    out: dict[str, Any] = {"libraries": stats}
    if all(lib in libraries for lib in LIBRARIES):
        by = {lib: {r["seed"]: r for r in runs if r["library"] == lib} for lib in LIBRARIES}
        out["accuracy_difference_pct"] = paired_difference(
            *[{s: 100 * r["test_accuracy"] for s, r in by[lib].items()} for lib in LIBRARIES])
        out["time_ratio"] = paired_difference(  # torch time / scratchnet time, per seed: above 1, scratchnet is faster
            {s: by["torch"][s]["train_seconds"] / r["train_seconds"] for s, r in by["scratchnet"].items()},
            {s: 0.0 for s in by["scratchnet"]})
    return out


def plot(runs: list[dict[str, Any]], libraries: list[str], title: str):
    """Test accuracy against training time, one point per run; time from 0, the targets as lines."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    colours = {"scratchnet": "tab:blue", "torch": "tab:orange"}
    for lib in libraries:
        mine = [r for r in runs if r["library"] == lib]
        ax.scatter([r["train_seconds"] for r in mine], [100 * r["test_accuracy"] for r in mine], s=30, alpha=0.75,
                   color=colours[lib], label=f"{lib} ({len(mine)} runs)")
        ax.plot([np.mean([r["train_seconds"] for r in mine])], [100 * np.mean([r["test_accuracy"] for r in mine])],
                marker="D", markersize=9, color=colours[lib], markeredgecolor="black", linestyle="none",
                label=f"{lib}: mean")
    ax.axhline(100 * TARGET_ACCURACY, color="red", linestyle="--", linewidth=1, label="target 99 %")
    ax.axvline(TARGET_SECONDS, color="grey", linestyle=":", linewidth=1, label=f"target {TARGET_SECONDS:g} s")
    ax.set_xlim(0, max([TARGET_SECONDS] + [r["train_seconds"] for r in runs]) * 1.1)
    ax.set(xlabel="training time per run (s; data in memory, warm-up excluded)",
           ylabel="test accuracy (%; axis cut below the 99 % line)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)  # outside: no run hidden behind it
    fig.tight_layout()
    return fig


def _acc_row(lib: str, s: dict[str, Any]) -> list[str]:
    a, t, w = s["accuracy_pct"], s["train_seconds"], s["warmup_seconds"]
    std = "-" if a["std"] is None else f"{a['std']:.2f}"
    ci = "-" if a["ci95"] is None else f"[{a['ci95'][0]:.2f}, {a['ci95'][1]:.2f}]"
    tci = "-" if t["ci95"] is None else f"[{t['ci95'][0]:.2f}, {t['ci95'][1]:.2f}]"
    return [lib, a["n"], f"**{a['mean']:.2f} %**", std, ci, f"{a['min']:.2f} - {a['max']:.2f} %",
            f"{a['reach_target']} of {a['n']}", f"**{t['mean']:.2f} s** {tci}", f"{t['min']:.2f} - {t['max']:.2f} s",
            f"{s['within_time']} of {a['n']}", f"{w['max']:.2f} s"]


def report_lines(rep: Report, recipe: SpeedrunRecipe, runs: list[dict[str, Any]], summary: dict[str, Any],
                 data_info: dict[str, Any], quick: bool) -> list[str]:
    lines = [*rep.header("Speedrun: SpeedCNN to 99 % on MNIST"
                         + (" — QUICK (data subset, CI-sized: not a result)" if quick else "")), "",
             f"Recipe: {recipe.source}"
             + (f" — **run here with {recipe.epochs} epoch(s) instead of {SPEEDRUN.epochs}**" if recipe.epochs != SPEEDRUN.epochs else "")
             + f"; SpeedCNN({', '.join(f'{k}={v}' for k, v in recipe.model_kwargs().items())}), "
             f"peak lr {recipe.max_lr:g}, pct_start {recipe.pct_start:g}, div_factor {recipe.div_factor:g}, "
             f"final_div_factor {recipe.final_div_factor:g}, Adam betas {tuple(recipe.betas)} (beta1 "
             f"{'cycled by OneCycleLR' if recipe.cycle_momentum else 'fixed'}), label smoothing "
             f"{recipe.label_smoothing:g}, weight decay {recipe.weight_decay:g}. "
             f"{data_info['train_samples']:,} training / {data_info['test_samples']:,} test images "
             f"({data_info['label']}), in memory before the clock starts. {TEXT['method']}", "",
             "![test accuracy against training time, every run](speedrun.png)", ""]
    lines += table(["library", "seeds", "mean test accuracy", "sample std", "95 % interval", "range", "reach 99 %",
                    "mean training time [95 % interval]", "range", "within 5 s", "longest warm-up"],
                   [_acc_row(lib, s) for lib, s in summary["libraries"].items()])
    lines += ["", "## Against the targets", ""]
    for lib, s in summary["libraries"].items():
        t = s["train_seconds"]
        lines.append(f"- {lib}: accuracy {verdict(s['accuracy_pct'], 100 * TARGET_ACCURACY)}; training time "
                     f"{t['mean']:.2f} s on average, {s['within_time']} of {t['n']} runs within {TARGET_SECONDS:g} s "
                     f"({'meets' if t['mean'] <= TARGET_SECONDS else 'misses'} the time target on average on this "
                     "machine at the load above).")
    probes = list({r["seed"]: r["host_gflops"] for r in runs if r.get("host_gflops") is not None}.values())  # per seed
    if probes:
        lines.append(f"- Host speed probe before each seed ({_machine.PROBE_WHAT}): {_machine.probe_text(probes)}.")
    diff, ratio = summary.get("accuracy_difference_pct"), summary.get("time_ratio")
    if diff is not None:
        lines += ["", "## scratchnet against torch (paired by seed)", "",
                  f"- test accuracy, scratchnet − torch: {diff['diff']:+.2f} points, 95 % interval "
                  f"[{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}]"
                  + (" (contains 0: no difference these seeds can detect)." if diff["ci95"][0] <= 0 <= diff["ci95"][1]
                     else " (excludes 0)."),
                  f"- training time, torch / scratchnet: {ratio['diff']:.2f}x on average, 95 % interval "
                  f"[{ratio['ci95'][0]:.2f}, {ratio['ci95'][1]:.2f}] (above 1: scratchnet is faster)."]
    lines += ["", "## How the recipe was chosen (validation split, never the test set)", "", TEXT["chosen"], ""]
    for title, conditions, seconds, rows in VALIDATION_STUDIES:
        lines += [f"### {title}", "", conditions, ""]
        lines += table(["net", "optimiser, schedule", "batch", "epochs", "validation accuracy (per seed)", "mean",
                        seconds],
                       [[net, opt, batch, epochs, f"{', '.join(f'{a:.2f}' for a in accs)} %",
                         f"{sum(accs) / len(accs):.2f} %", f"{t:.1f}"] for net, opt, batch, epochs, accs, t in rows])
    lines += ["## Runs", ""]
    lines += table(["library", "seed", "test accuracy", "training time", "warm-up", "load average (1 min) before",
                    "host probe before the seed (GFLOP/s)"],
                   [[r["library"], r["seed"], f"{100 * r['test_accuracy']:.2f} %", f"{r['train_seconds']:.2f} s",
                     f"{r['warmup_seconds']:.2f} s", r["load_average_before"], r.get("host_gflops", "-")] for r in runs])
    return lines + ["", "Numbers: `results.csv` (one row per run), `results.json` (everything above, with provenance).",
                    ""]


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> Report:
    recipe = args.recipe
    seeds = list(range(args.seed, args.seed + args.seeds))
    info = provenance.collect(args.seed)
    t0 = time.perf_counter()
    data = load_data(args.data_dir, recipe, args.quick)  # a missing data set fails before --out is touched
    with claim_outputs(args.out, summary=False) as out:
        runs = run_seeds(recipe, seeds, args.libraries, data, log)
        summary = summarise(runs, args.libraries)
        info["load_average_end"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
        rep = Report(out, info=info)
        rep.json("results.json", {
            "provenance": info, "recipe": asdict(recipe), "quick": args.quick, "data": data["info"],
            "targets": {"test_accuracy": TARGET_ACCURACY, "train_seconds": TARGET_SECONDS},
            "summary": summary, "runs": runs, "wall_time_s": time.perf_counter() - t0})
        rep.csv("results.csv", [[r["library"], r["seed"], f"{r['test_accuracy']:.4f}", f"{r['train_seconds']:.3f}"]
                                for r in runs], CSV_FIELDS)
        rep.figure("speedrun.png", plot(runs, args.libraries, f"SpeedCNN speedrun: {len(seeds)} "
                                        f"seed{'s' if len(seeds) != 1 else ''}" + (" (quick)" if args.quick else "")))
        rep.markdown("report.md", report_lines(rep, recipe, runs, summary, data["info"], args.quick))
        return rep


def library_list(text: str) -> str:
    if text not in LIBRARIES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LIBRARIES)}, got {text!r}")
    return text


class _OneLineParser(argparse.ArgumentParser):
    """A bad value is one ``error:`` line and exit status 2 (no usage block above it)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _OneLineParser(prog="python -m compare.speedrun", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--seeds", type=positive_int, default=10, metavar="N", help="seeds --seed .. --seed + N - 1")
    p.add_argument("--seed", type=seed_int, default=0, help="the first seed")
    p.add_argument("--libraries", nargs="+", type=library_list, default=list(LIBRARIES), metavar="LIB",
                   help="scratchnet and/or torch")
    p.add_argument("--epochs", type=positive_int, help=f"epochs instead of the recipe's {SPEEDRUN.epochs} (to trade "
                   "accuracy for time; the report says so)")
    p.add_argument("--threads", type=thread_count, help="threads for Numba and torch alike (default: all cores)")
    p.add_argument("--data-dir", help="MNIST-format IDX directory (default: MNIST_DIR, the cache, a download)")
    p.add_argument("--out", default="runs/speedrun", help="the report's folder")
    p.add_argument("--quick", action="store_true", help=f"{QUICK['subset']:,} training / {QUICK['test_subset']} test "
                   f"images, {QUICK['seeds']} seeds unless --seeds is given (for CI)")
    args = p.parse_args(argv)
    if args.quick and not any(a == "--seeds" or a.startswith("--seeds=") for a in argv):
        args.seeds = QUICK["seeds"]
    args.libraries = [lib for lib in LIBRARIES if lib in args.libraries]  # fixed order, no repeats
    args.recipe = SPEEDRUN if args.epochs is None else replace(SPEEDRUN, epochs=args.epochs)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = args.threads or os.cpu_count() or 1
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(threads)
    return run_report(lambda: run(args), errors=(OutputError, OSError))


__all__ = ["LIBRARIES", "TARGET_ACCURACY", "TARGET_SECONDS", "CSV_FIELDS", "load_data", "train_one", "run_seeds",
           "summarise", "plot", "report_lines", "run", "parse_args", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
