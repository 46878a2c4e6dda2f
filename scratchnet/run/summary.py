"""What a run directory holds, for people: each run's figure (loss and accuracy per epoch) and the folder's
``README.md`` (one row per finished run of either library, seed statistics, provenance lines).

One summary for scratchnet and torchref runs: a folder of torch runs gets a device column and the
torch versions in its provenance lines; every number is read from the run files through the schema.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..fileio import atomic_write, atomic_write_text
from .history import History, read_histories, seconds
from .markdown import table
from .outputs import SUMMARY_MARK
from .provenance import load_average, peak_rss_mb

#: models whose training passes run with dropout on (the running train accuracy is then lower)
DROPOUT_MODELS = ("FFN", "ExamplesNet")


def is_torch(h: History) -> bool:
    return "torch" in h.environment


def plot_history(history: History, path: Path) -> None:
    """Loss and accuracy per epoch, train (running mean over the epoch's batches) and each evaluated split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ep = history.series("epoch")
    train_label = "train (running mean" + (", dropout on)" if history.model in DROPOUT_MODELS else ")")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(ep, history.series("train_loss"), "o-", label=train_label)
    b.plot(ep, [100 * v for v in history.series("train_accuracy")], "o-", label=train_label)
    for split, marker, label in (("test", "s-", "test"), ("val", "^-", "validation")):
        if getattr(history.epochs[0], f"{split}_loss") is not None:
            a.plot(ep, history.series(f"{split}_loss"), marker, label=label)
            b.plot(ep, [100 * v for v in history.series(f"{split}_accuracy")], marker, label=label)
    a.set(xlabel="epoch", ylabel="cross-entropy loss", title=f"{history.model}: loss (train: running mean)")
    b.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{history.model}: accuracy")
    for ax in (a, b):
        if len(ep) == 1:  # one epoch: points around it, not matplotlib's 0.96-1.04 ticks
            ax.set_xlim(0.5, 1.5)
            ax.set_xticks([1])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def seed_lines(by_recipe: dict) -> list[str]:
    """Mean and spread of the test (and validation) accuracy where one recipe was run with several seeds."""
    lines = []
    for (model, recipe, epochs, has_val), runs in by_recipe.items():
        if len(runs) < 2:
            continue
        acc = np.array([a for _, a, _ in runs])
        norm = json.loads(recipe)["recipe"]["normalization"]
        seeds = ", ".join(f"{s}: {100 * a:.2f}%" for s, a, _ in sorted(runs))
        line = (f"- {model}, normalisation {norm}, {epochs} epoch{'s' if epochs != 1 else ''}, {len(runs)} seeds"
                + (" (validation split held out)" if has_val else "")
                + f": test accuracy mean {100 * acc.mean():.2f}% ± {100 * acc.std(ddof=1):.2f} (sample std); per seed {seeds}")
        if has_val:
            val = np.array([v for _, _, v in runs])
            line += f"; validation accuracy mean {100 * val.mean():.2f}% ± {100 * val.std(ddof=1):.2f}"
        lines.append(line)
    return ["## Seeds", "", *lines, ""] if lines else []


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _optimiser(r: dict) -> str:
    sched = f" + StepLR({r['scheduler_step']}, {r['scheduler_gamma']})" if r.get("scheduler_step") else ""
    return f"{r['optimizer']} {r['lr']:g}{sched}"


def _setting(h: History) -> str:
    """What makes two runs the same recipe (for the seed statistics)."""
    cfg, ex = h.config, h.extra
    setting = {"recipe": h.recipe, "dtype": cfg.get("dtype"),
               "samples": [cfg.get(k) for k in ("train_samples", "val_samples", "test_samples")]}
    if is_torch(h):
        setting.update(init=ex.get("init"), weights=ex.get("weights"), device=cfg.get("device"),
                       flags=[k for k in ("bf16", "channels_last", "compile") if cfg.get(k)])
    return json.dumps(setting, sort_keys=True, default=str)


def _row(path: Path, h: History, torch_dir: bool) -> list[Any]:
    r, t, cfg = h.recipe, h.final_test, h.config
    flags = [k for k in ("bf16", "channels_last", "compile", "deterministic") if cfg.get(k)]
    device = [f"{cfg.get('device', 'cpu')}{' (' + ', '.join(flags) + ')' if flags else ''}"] if torch_dir else []
    val = [] if torch_dir else [_pct(h.last.val_accuracy)]
    memory = [] if torch_dir else ["n/a" if h.peak_rss_mb is None else f"{h.peak_rss_mb:.0f} MiB"]
    cells = [h.model, *device, _optimiser(r), r["batch_size"], len(h.epochs), r["normalization"], *val,
             f"**{100 * t['accuracy']:.2f}%**", f"{100 * t['macro_f1']:.2f}%", _pct(h.last.train_accuracy),
             f"{h.train_time_s:.1f} s" if torch_dir else f"{h.train_time_s:.0f} s",
             f"{np.mean([e.images_per_s or 0 for e in h.epochs]):.0f}", *memory, cfg["seed"],
             f"[history]({path.name}), [plot]({path.stem}.png)"]
    return cells


def _load_text(h: History) -> str:
    ex, cores = h.extra, h.environment.get("cpu_count")
    start, end = ex.get("load_average_at_start"), ex.get("load_average_at_end")
    if not (start and end):
        return f"load average at start / end {start} / {end}"
    text = f"1-min load average {start[0]:.2f} at start, {end[0]:.2f} at end"
    if cores and max(start[0], end[0]) > cores:
        text += f" (above the {cores} cores: other processes shared them, times are upper bounds)"
    return text


def _provenance(h: History) -> str:
    env, ex, cfg = h.environment, h.extra, h.config
    data = ex.get("data", {})
    wall = f"wall time {ex['wall_time_s']:.1f} s" if "wall_time_s" in ex else "wall time not recorded by this run"
    line = (f"- {h.model} (seed {cfg['seed']}): {ex.get('date')}, `{ex.get('command')}`, commit {ex.get('git_commit')}; "
            f"{env['processor']} ({env['cpu_count']} cores)")
    if is_torch(h):
        cuda = f", CUDA {env.get('cuda_version')}, cuDNN {env.get('cudnn_version')}" \
            if str(cfg.get("device", "")).startswith("cuda") else ""
        nd = h.nondeterminism or {}
        repro = "reproducible with the same seed" if nd.get("reproducible") else \
            "may vary: " + "; ".join(nd.get("nondeterministic_kernels", []))
        line += (f", device {env.get('device_name')}{cuda}; Python {env['python']}, NumPy {env['numpy']}, "
                 f"torch {env['torch']} ({env.get('torch_threads')} threads), torchvision {env.get('torchvision')}; "
                 f"init {ex.get('init', 'torch')}; {h.trainable_parameters:,} of {h.num_parameters:,} parameters trained; "
                 f"{repro}" + (f"; weights {ex['weights']}" if "weights" in ex else ""))
    else:
        line += (f", {env['numba_threads']} Numba threads; Python {env['python']}, NumPy {env['numpy']}, "
                 f"Numba {env['numba']}")
    return (line + f"; data {data.get('train_samples')} train / {data.get('test_samples')} test images"
            + (f": {data['label']}" if data.get("label") else "")
            + f"; train time {h.train_time_s:.1f} s, {wall}; {_load_text(h)}")


_INTRO = {
    False: ("# scratchnet on MNIST (CPU)", [
        "Trained with `python -m scratchnet.train`; every number below is read from the run's history file.",
        "Test accuracy is measured on the test set (never the training set) after the last epoch; the train",
        "accuracy is the running accuracy over the last epoch's batches (dropout on). Image counts are in the",
        "provenance lines. *val acc* (runs with `--val-split` only): accuracy on images held out of the",
        "training set, the number to choose settings by; those runs train on fewer images."],
        ["model", "optimiser", "batch", "epochs", "normalisation", "val acc", "test acc", "test macro F1", "train acc",
         "train time", "img/s", "peak memory", "seed", "files"]),
    True: ("# torchref on MNIST ({devices})", [
        "The PyTorch reference, trained with `python -m torchref.train` on scratchnet's recipes and the very",
        "batch order scratchnet uses for the same seed (`scratchnet.data.epoch_order`); every number below is",
        "read from the run's history file, whose keys are those of scratchnet's histories. Test accuracy is",
        "measured on the test set after the last epoch; the train accuracy is the running accuracy over the",
        "last epoch's batches (dropout on). Train time counts the training steps only; wall time is the whole",
        "command (data loading, evaluation after every epoch, writing files)."],
        ["model", "device", "optimiser", "batch", "epochs", "normalisation", "test acc", "test macro F1", "train acc",
         "train time", "img/s", "seed", "files"]),
}


def write_summary(out: str | os.PathLike, torch_runs: bool | None = None) -> Path:
    """README.md of a run directory: one row per finished history, seed statistics, provenance.

    ``torch_runs``: summarise the torchref runs (True) or the scratchnet runs (False) of the folder;
    None: whichever the folder holds (torch when it holds only torch runs)."""
    runs = read_histories(out)
    if torch_runs is None:
        torch_runs = bool(runs) and all(is_torch(h) for _, h in runs)
    runs = [(p, h) for p, h in runs if is_torch(h) == torch_runs]
    by_recipe: dict = {}
    for _, h in runs:
        key = (h.model, _setting(h), len(h.epochs), h.last.val_accuracy is not None)
        by_recipe.setdefault(key, []).append((h.seed, h.final_test["accuracy"], h.last.val_accuracy))
    title, intro, header = _INTRO[torch_runs]
    devices = ", ".join(sorted({h.environment.get("device_name", "?") for _, h in runs})) or "no runs yet"
    text = "\n".join([
        SUMMARY_MARK, title.format(devices=devices), "", *intro, "",
        *table(header, [_row(p, h, torch_runs) for p, h in runs]), "",
        *seed_lines(by_recipe), "## Provenance", "",
        *(_provenance(h) for _, h in runs), "",
    ])
    return atomic_write_text(Path(out) / "README.md", text)


def print_summaries(folders: list[str], torch_runs: bool) -> int:
    """``python -m scratchnet.train summary [FOLDER ...]`` (torchref.train's likewise): rebuild each folder's
    summary, and redraw each finished run's figure from its history (the figures follow the current plotting
    code; every number in them is read from the history file, nothing is retrained)."""
    for folder in folders:
        for path, history in read_histories(folder):
            if is_torch(history) == torch_runs:
                plot_history(history, path.with_suffix(".png"))
                print(path.with_suffix(".png"))
        print(write_summary(Path(folder), torch_runs=torch_runs))
    return 0


def finish_run(history: History, stem: Path, final_test: dict[str, Any], wall0: float,
               log: Callable[[str], None] = print) -> History:
    """End a finished run the same way in both libraries: record the final test report, peak memory, wall
    time and load; write ``<stem>.json`` and ``<stem>.png``; refresh the folder's README; say where."""
    history.extra["load_average_at_end"] = load_average()
    history.final_test = final_test
    history.peak_rss_mb = peak_rss_mb()
    history.extra["wall_time_s"] = time.perf_counter() - wall0  # the whole run: data, training, evaluation
    path, figure = stem.parent / f"{stem.name}.json", stem.parent / f"{stem.name}.png"  # stems may hold dots
    history.save(path)
    plot_history(history, figure)
    summary = write_summary(stem.parent, torch_runs=is_torch(history))
    log(f"test accuracy {100 * final_test['accuracy']:.2f} %, macro F1 {100 * final_test['macro_f1']:.2f} %; "
        f"training took {seconds(history.train_time_s)} (wall time {seconds(history.extra['wall_time_s'])})")
    log(f"wrote {path}, {figure} and {summary}")
    return history


__all__ = ["finish_run", "print_summaries", "plot_history", "seed_lines", "write_summary", "is_torch"]
