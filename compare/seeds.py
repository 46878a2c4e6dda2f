"""How much a recipe's test accuracy depends on the seed, in scratchnet and in torch, against its target.

    python -m compare.seeds --model seedcnn --seeds 10          # both libraries, seeds 0..9, 10 epochs
    python -m compare.seeds --model seedcnn --seeds 5 --epochs 20
    python -m compare.seeds --model ffn --seeds 10 --libraries scratchnet

Every seed is one ordinary run of ``python -m scratchnet.train`` / ``python -m torchref.train`` (the same
recipe, each library with its own initialisation; for one seed both see the same batch order). Their
histories land in ``<out>/<study>/scratchnet/`` and ``<out>/<study>/torch/``. A study is the folder: seeds
``--seed`` .. ``--seed + --seeds - 1`` are trained unless the folder already holds a finished run of that
seed (same recipe, same data directory and sizes, same torch device type), and the report covers every
finished seed in the folder, so a study can be stopped and continued, or grown with more seeds.
``<out>/<study>.md`` gives, per library, the mean, sample standard deviation, 95 % confidence interval of the
mean, range and how many seeds reach the target, the scratchnet - torch difference paired by seed with its
interval, and the mean accuracy per epoch; ``<study>.png`` plots the curves and every seed's final accuracy,
``<study>.csv``/``.json`` hold the numbers.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from scratchnet.recipes import RECIPES, Recipe, run_stem
from scratchnet.recipes import run as scratch_run
from scratchnet.run import History, HistoryError
from scratchnet.run.provenance import describe_split
from torchref.device import select_device
from torchref.recipes import run as torch_run
from torchref.recipes import run_file_stem

from .cli import StudyData, add_report_arguments, check_counts, locate_data, run_report
from .figures import epoch_axis, pyplot
from .models import display_name
from .report import Report, table, texts
from .stats import describe, paired_difference, verdict

TEXT = texts("seeds")
#: the test accuracies (%) the project holds each recipe to (issue 3 of the project's tracker)
TARGETS = {"ffn": 97.8, "seedcnn": 98.8, "examplesnet": 99.0}
LIBRARIES = ("scratchnet", "torch")
QUICK = {"subset": 2000, "test_subset": 500, "epochs": 1}

def study_name(recipe: Recipe, quick: bool) -> str:
    """``seedcnn``, ``seedcnn_ep20``, ``ffn_mnist``...: the recipe's run stem (what differs from the
    published recipe), ``_quick`` for the CI-sized variant."""
    return run_stem(recipe, 0) + ("_quick" if quick else "")


#: the recipe fields that change what a run computes (its ``source`` text does not)
TRAINING_FIELDS = ("model", "optimizer", "lr", "batch_size", "epochs", "normalization", "scheduler_step",
                   "scheduler_gamma")


def study_data(data_dir: str | None, quick: bool) -> StudyData:
    """The study's data (``compare.cli.locate_data``), the first ``QUICK`` images with ``quick``."""
    return locate_data(data_dir, QUICK["subset"], QUICK["test_subset"]) if quick else locate_data(data_dir)


def history_path(library: str, recipe: Recipe, seed: int, out: Path, data: StudyData) -> Path:
    """Where ``python -m scratchnet.train`` / ``torchref.train`` write this seed's history."""
    stem = run_stem(recipe, seed, subset=data.subset) if library == "scratchnet" else \
        run_file_stem(recipe, None, seed, subset=data.subset)
    return out / f"{stem}.json"


def finished_run(path: Path, library: str, recipe: Recipe, data: StudyData, device_type: str | None) -> History | None:
    """The history at ``path`` if it is a finished run of this recipe on this data (and, for torch, on this
    kind of device), else None: a missing, truncated, malformed or interrupted file is simply not reused."""
    try:
        h = History.load(path)
    except HistoryError:
        return None
    if not (isinstance(h.extra, dict) and isinstance(h.config, dict)):
        return None
    config, saved, source = h.config, h.recipe or {}, h.extra.get("data") or {}
    same_data = [f.get("sha256") for f in source.get("train_files") or []] == \
        [f["sha256"] for f in describe_split(data.directory, "train")]  # the same files, wherever they lie
    ok = (h.finished and isinstance(h.final_test, dict)
          and all(saved.get(k) == getattr(recipe, k) for k in TRAINING_FIELDS)
          and len(h.epochs) == recipe.epochs and isinstance(config.get("seed"), int)
          and path.name == history_path(library, recipe, config["seed"], path.parent, data).name
          and same_data and source.get("train_samples") == data.n_train and source.get("test_samples") == data.n_test
          and (device_type is None or str(config.get("device", "cpu")).split(":")[0] == device_type))
    return h if ok else None


def finished_runs(library: str, recipe: Recipe, out: Path, data: StudyData,
                  device_type: str | None) -> dict[int, tuple[History, Path]]:
    """Every finished run of this study that ``out`` holds, by seed."""
    found = {}
    for path in sorted(out.glob("*.json")):
        h = finished_run(path, library, recipe, data, device_type if library == "torch" else None)
        if h is not None:
            found[h.seed] = (h, path)
    return found


def train_seed(library: str, recipe: Recipe, seed: int, out: Path, data: StudyData, device,
               log=print) -> tuple[History, Path]:
    """One fresh run of one seed in one library (its history is written to ``out``)."""
    kwargs = dict(data_dir=data.directory, out=out, seed=seed, subset=data.subset, test_subset=data.test_subset,
                  progress=False, log=log)
    h = scratch_run(recipe, **kwargs) if library == "scratchnet" else torch_run(recipe, device=device, **kwargs)
    return h, history_path(library, recipe, seed, out, data)


def plot(results: dict[str, list[dict]], target: float | None, title: str):
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
        if len(epochs) == 1:  # a band of one epoch has no width: the lowest-to-highest range as an error bar
            ax1.errorbar(epochs + 0.04 * i, curves.mean(axis=0), yerr=[curves.mean(axis=0) - curves.min(axis=0),
                         curves.max(axis=0) - curves.mean(axis=0)], color=c, capsize=4, fmt="none")
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
    bottom = min(lows + ([target] if target else [])) - 0.6
    ax1.set_ylim(bottom=bottom)
    lowest = min(min(r["epoch_acc"]) for runs in results.values() for r in runs)
    cut = f"\naxis cut at {bottom:.1f} %: the lowest seed reaches {lowest:.1f} %" if lowest < bottom else ""
    epoch_axis(ax1, len(epochs))
    ax1.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"test accuracy per epoch (band: lowest to highest seed){cut}")
    ax1.legend(loc="lower right")
    ax2.set_xticks(range(len(results)), list(results))
    ax2.set_xlim(-0.5, len(results) - 0.3)
    ax2.set(ylabel="final test accuracy (%)", title="each seed; ◆ mean with 95 % interval")
    fig.suptitle(title)
    return fig


CSV_FIELDS = ["library", "seed", "test_accuracy_pct", "best_epoch_test_accuracy_pct", "epochs", "train_time_s",
              "device", "reused", "trained_at", "git_commit", "history"]


def csv_rows(results: dict[str, list[dict]]) -> list[list]:
    return [[lib, r["seed"], f"{r['final']:.2f}", f"{max(r['epoch_acc']):.2f}", len(r["epoch_acc"]),
             f"{r['train_time_s']:.1f}", r["device"], r["reused"], r["date"], r["commit"], r["history"]]
            for lib, runs in results.items() for r in runs]


def _pct(v: float) -> str:
    return f"{v:.2f} %"


def _signed(v: float) -> str:
    """+0.12 / -0.12, and +0.00 rather than -0.00 for a difference that rounds to nothing."""
    text = f"{v:+.2f}"
    return "+0.00" if text == "-0.00" else text


def _interval(ci: list[float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _changes(recipe: Recipe, data: StudyData, quick: bool) -> str:
    """What this study does differently from the published recipe, in words ('' when nothing)."""
    base = RECIPES[recipe.model]
    changed = [f"{_count(recipe.epochs, 'epoch')} instead of {base.epochs}" if recipe.epochs != base.epochs else "",
               f"normalisation {recipe.normalization} instead of {base.normalization}"
               if recipe.normalization != base.normalization else "",
               f"the first {data.n_train:,} training and {data.n_test:,} test images" if quick else ""]
    changed = [c for c in changed if c]
    return f"; this study uses {', '.join(changed)}" if changed else ""


def stats_table(results: dict[str, list[dict]], stats: dict[str, dict], target: float | None) -> list[str]:
    """Per library: seeds, mean, spread, interval, range, hits of the target, time and device."""
    rows = [[lib, s["n"], f"**{_pct(s['mean'])}**", "-" if s["std"] is None else f"{s['std']:.2f}",
             _interval(s["ci95"]), _pct(s["min"]), _pct(s["max"]),
             *([f"{s['reach_target']} of {s['n']}"] if target is not None else []),
             f"{np.mean([r['train_time_s'] for r in results[lib]]):.0f} s",
             ", ".join(sorted({r["device"] for r in results[lib]}))] for lib, s in stats.items()]
    return table(["library", "seeds", "mean", "sample std", "95 % interval of the mean", "lowest", "highest",
                  *([f"reach {target:.2f} %"] if target is not None else []), "mean train time", "device"], rows)


def comparison_lines(stats: dict[str, dict], diff: dict | None, target: float | None) -> list[str]:
    """The verdicts against the target, and scratchnet against torch paired by seed."""
    lines = []
    if target is not None:
        lines += ["## Against the target", "", *[f"- {lib}: {verdict(s, target)}." for lib, s in stats.items()], ""]
    if diff is not None:
        same = diff["ci95"][0] <= 0 <= diff["ci95"][1]
        lines += ["## scratchnet against torch", "",
                  f"scratchnet − torch, paired by seed ({diff['n']} seeds; the two runs of a seed see the same "
                  f"batches): {_signed(diff['diff'])} points on average, 95 % interval {_interval(diff['ci95'])}. "
                  + ("The interval contains 0: no difference between the libraries that these seeds can detect."
                     if same else "The interval excludes 0: the libraries differ by more than seed noise."), ""]
    return lines


def epoch_lines(results: dict[str, list[dict]], n_epochs: int, target: float | None) -> list[str]:
    """The mean test accuracy over seeds after each epoch, and when it first reaches the target."""
    means = {lib: np.mean([r["epoch_acc"] for r in rs], axis=0) for lib, rs in results.items()}
    lines = ["## Mean test accuracy per epoch", "",
             *table(["epoch", *means], [[e + 1, *(_pct(m[e]) for m in means.values())] for e in range(n_epochs)])]
    if target is not None:
        lines.append("")
        for lib, m in means.items():
            first = next((e + 1 for e in range(n_epochs) if m[e] >= target), None)
            lines.append(f"- {lib}: the mean over seeds " + (
                f"first reaches {target:.2f} % after epoch {first}." if first else
                f"never reaches {target:.2f} % in {_count(n_epochs, 'epoch')} (highest {max(m):.3f} %)."))
    return lines


def runs_table(results: dict[str, list[dict]]) -> list[str]:
    return table(["library", "seed", "test accuracy", "best epoch's", "train time", "device", "trained at", "commit",
                  "history"],
                 [[lib, r["seed"], _pct(r["final"]), _pct(max(r["epoch_acc"])), f"{r['train_time_s']:.0f} s", r["device"],
                   r["date"], f"`{r['commit'][:9]}`", f"[json]({r['history']})" + (" *reused*" if r["reused"] else "")]
                  for lib, rs in results.items() for r in rs])


def report_lines(rep: Report, recipe: Recipe, results: dict[str, list[dict]], stats: dict[str, dict],
                 diff: dict | None, target: float | None, data: StudyData, data_line: str, quick: bool,
                 name: str) -> list[str]:
    n_reused = sum(r["reused"] for rs in results.values() for r in rs)
    n_runs = sum(map(len, results.values()))
    title = (f"Seeds: {display_name(recipe.model)}, {recipe.optimizer} lr {recipe.lr:g}, batch {recipe.batch_size}, "
             f"{_count(recipe.epochs, 'epoch')}, normalisation {recipe.normalization}"
             + (" — QUICK (data subset, CI-sized: not a result)" if quick else ""))
    summaries = ", ".join(f"[{lib}]({name}/{lib}/README.md)" for lib in results)
    return [*rep.header(title), data_line, "",
            *([TEXT["reused"].format(n_reused=n_reused, n_runs=n_runs), ""] if n_reused else []),
            f"The published recipe: {RECIPES[recipe.model].source}{_changes(recipe, data, quick)}. " + TEXT["method"], "",
            f"![accuracy per epoch and per seed]({name}.png)", "", *stats_table(results, stats, target), "",
            *comparison_lines(stats, diff, target), *epoch_lines(results, recipe.epochs, target),
            "", "## Runs", "",
            "Trained by this invocation, or, where marked *reused*, by an earlier one (same recipe and data; read "
            f"from its history, not retrained): {n_reused} of {n_runs} here.", "", *runs_table(results),
            "", TEXT["best_epoch"], "", f"Each run's own provenance (command, commit, machine, load) is in its history "
            f"file; summaries per library: {summaries}.", ""]


def run(args) -> Report:
    recipe = replace(RECIPES[args.model], **{k: v for k, v in (("epochs", args.epochs), ("normalization", args.normalization))
                                             if v is not None})
    name = study_name(recipe, args.quick)
    out = Path(args.out)
    target = None if args.no_target else (args.target if args.target is not None else TARGETS.get(args.model))
    device = select_device(args.device) if "torch" in args.libraries else None  # a bad --device fails first
    rep = Report(out, seed=args.seed, device=str(device or "cpu"))
    data = study_data(args.data_dir, args.quick)
    progress = False if args.no_progress else None
    t0 = time.perf_counter()
    runs = {lib: finished_runs(lib, recipe, out / name / lib, data, device.type if device else None)
            for lib in args.libraries}
    reused = {lib: set(found) for lib, found in runs.items()}
    jobs = [(lib, s) for s in range(args.seed, args.seed + args.seeds) for lib in args.libraries if s not in runs[lib]]
    bar = tqdm(jobs, desc=f"{name}: training", disable=progress is False or None)
    for lib, seed in bar:
        bar.set_postfix_str(f"{lib} seed {seed}")
        runs[lib][seed] = train_seed(lib, recipe, seed, out / name / lib, data, device, log=lambda *a, **k: None)
    results: dict[str, list[dict]] = {}
    for lib, found in runs.items():
        results[lib] = [{"seed": seed, "final": 100 * h.test_accuracy,
                         "epoch_acc": [100 * a for a in h.series("test_accuracy")],
                         "train_time_s": h.train_time_s, "reused": seed in reused[lib],
                         "date": h.extra["date"], "commit": h.extra["git_commit"],
                         "device": h.config.get("device", "cpu"), "history": path.relative_to(out).as_posix()}
                        for seed, (h, path) in sorted(found.items())]
    stats = {lib: describe([r["final"] for r in rs], target) for lib, rs in results.items()}
    diff = paired_difference(*[{r["seed"]: r["final"] for r in results[lib]} for lib in LIBRARIES]) \
        if all(lib in results for lib in LIBRARIES) else None
    data_line, described = rep.data(data.directory, data.n_train, data.n_test)
    described.update(subset=data.subset, test_subset=data.test_subset)
    rep.json(f"{name}.json", {
        "provenance": rep.info, "recipe": asdict(recipe), "target": target, "quick": args.quick,
        "data": described, "seeds": {lib: [r["seed"] for r in rs] for lib, rs in results.items()},
        "stats": stats, "difference": diff, "runs": results, "wall_time_s": time.perf_counter() - t0,
    })
    rep.csv(f"{name}.csv", csv_rows(results), CSV_FIELDS)
    n_seeds = sorted({len(rs) for rs in results.values()})
    rep.figure(f"{name}.png", plot(results, target, f"{display_name(recipe.model)}, normalisation {recipe.normalization}: "
               f"{'/'.join(map(str, n_seeds))} seed{'s' if n_seeds != [1] else ''}, {_count(recipe.epochs, 'epoch')}"
               + (" (quick)" if args.quick else "")))
    rep.markdown(f"{name}.md", report_lines(rep, recipe, results, stats, diff, target, data, data_line, args.quick, name))
    return rep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compare.seeds", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(RECIPES), required=True)
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="train seeds --seed .. --seed + N - 1 that the study folder does not hold yet "
                   "(default 5); the report covers every finished seed in the folder")
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--normalization", choices=["unit", "mnist", "half"], help="default: the recipe's")
    p.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    p.add_argument("--target", type=float, help="test accuracy in %% to hold the runs to (default: the project's "
                   "target for the model: " + ", ".join(f"{k} {v}" for k, v in TARGETS.items()) + ")")
    p.add_argument("--no-target", action="store_true", help="no target line or verdict")
    add_report_arguments(p, "seeds", quick="one epoch (overrides --epochs)")
    args = p.parse_args(argv)
    check_counts(p, seeds=args.seeds, epochs=args.epochs)
    if args.quick:
        args.epochs = QUICK["epochs"]
    if args.target is not None and args.no_target:
        p.error("--target and --no-target: give one of them")
    if args.target is not None and not 0 < args.target <= 100:
        p.error(f"--target is a test accuracy in percent, in (0, 100], got {args.target}")
    args.libraries = [lib for lib in LIBRARIES if lib in args.libraries]  # fixed order, no repeats
    return run_report(lambda: run(args),
                      hint="the seeds that finished are kept: the same command continues the study")


__all__ = ["TARGETS", "study_name", "study_data", "finished_run", "finished_runs", "train_seed", "run", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
