"""The training recipes of the reference code, runnable from the command line.

    python -m scratchnet.train --model seedcnn                 # Adam 1e-3, batch 60, 10 epochs
    python -m scratchnet.train --model examplesnet --epochs 3  # Adadelta 1.0 + StepLR(1, 0.7), batch 64
    python -m scratchnet.train summary reports/mnist_cpu        # rebuild the summary of finished runs

Each run writes ``<out>/<model>.json`` (history, final test metrics with confusion matrix, provenance),
``<out>/<model>.png`` (loss and accuracy per epoch) and refreshes ``<out>/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np

from . import models, optim
from .fileio import atomic_write, atomic_write_text
from .data import IDXError, MNISTNotFoundError, load_mnist_split, normalize, train_val_split
from .train import NonFiniteError, TrainingInterrupted, final_metrics, fit


@dataclass(frozen=True)
class Recipe:
    """One model's training recipe, as the reference code trains it."""

    model: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    normalization: str
    scheduler_step: int | None = None  # StepLR step_size (epochs), None for no scheduler
    scheduler_gamma: float = 0.1
    source: str = ""


RECIPES: dict[str, Recipe] = {
    # The FFN gets the CNN's input (ToTensor only), so the FFN-vs-CNN comparison sees identical data;
    # the workshop's Normalize((0.5,), (0.5,)) is one flag away: --normalization half.
    "ffn": Recipe("ffn", "adam", 1e-3, 60, 10, "unit",
                  source="the workshop's SimpleNN: Adam lr 1e-3, batch 60, 10 epochs, ToTensor() only"),
    "seedcnn": Recipe("seedcnn", "adam", 1e-3, 60, 10, "unit",
                      source="the course CNN: Adam lr 1e-3, batch 60, 10 epochs, ToTensor() only"),
    "examplesnet": Recipe("examplesnet", "adadelta", 1.0, 64, 14, "mnist", scheduler_step=1, scheduler_gamma=0.7,
                          source="pytorch/examples mnist/main.py: Adadelta lr 1.0, StepLR(1, 0.7), batch 64, 14 epochs, "
                                 "Normalize((0.1307,), (0.3081,))"),
}


def build_optimizer(recipe: Recipe, model):
    opts = {"adam": optim.Adam, "adadelta": optim.Adadelta, "sgd": optim.SGD}
    if recipe.optimizer not in opts:
        raise ValueError(f"optimizer: expected one of {sorted(opts)}, got {recipe.optimizer!r}")
    opt = opts[recipe.optimizer](model.parameters(), lr=recipe.lr)
    sched = optim.StepLR(opt, recipe.scheduler_step, recipe.scheduler_gamma) if recipe.scheduler_step else None
    return opt, sched


def command_line() -> str:
    """The command as typed (``python -m scratchnet.train --flag``, or the ``python -m compare.x`` that
    called this run), from ``sys.orig_argv``; under pytest, the test command."""
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    if not argv:
        return "python"
    return " ".join([Path(argv[0]).name, *argv[1:]])


def git_commit(where: str | os.PathLike | None = None) -> str:
    """HEAD's hash (of the repository holding ``where``, default this package), with "-dirty" when tracked code differs from it; read-only (no index refresh, no locks).

    ``reports/`` is left out of the check: it holds the outputs of runs, and a run that follows another
    in the same tree should not be marked dirty by its predecessor's report.
    """
    cwd = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=cwd)
        if out.returncode != 0:
            return "unknown"
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10,
                             cwd=cwd).stdout.strip() or str(cwd)
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)reports"], capture_output=True, text=True, timeout=30, cwd=top)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_data(recipe: Recipe, data_dir: str | None, subset: int | None, test_subset: int | None, dtype,
              val_fraction: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Normalised train/test arrays; with ``val_fraction``, a stratified validation part (seeded by ``seed``)
    is held out of the training images, for choosing settings without looking at the test set."""
    train = load_mnist_split(data_dir, "train")
    test = load_mnist_split(data_dir, "test")
    xtr, ytr = train.images, train.labels
    xte, yte = test.images, test.labels
    if subset:
        xtr, ytr = xtr[:subset], ytr[:subset]
    if test_subset:
        xte, yte = xte[:test_subset], yte[:test_subset]
    val = None
    if val_fraction:
        train_idx, val_idx = train_val_split(ytr, val_fraction, seed=seed, stratify=True)
        val = (normalize(xtr[val_idx], recipe.normalization, dtype=dtype), ytr[val_idx])
        xtr, ytr = xtr[train_idx], ytr[train_idx]
    return {
        "train": (normalize(xtr, recipe.normalization, dtype=dtype), ytr),
        "val": val,
        "test": (normalize(xte, recipe.normalization, dtype=dtype), yte),
        "source": {"train_dir": str(train.directory), "test_dir": str(test.directory),
                   "train_samples": int(len(ytr)), "test_samples": int(len(yte)),
                   "val_samples": 0 if val is None else int(len(val[1])),
                   "val_split": None if val is None else f"stratified {val_fraction:g} of the training images, seed {seed}"},
    }


def run_stem(recipe: Recipe, seed: int, val_fraction: float | None = None, *, subset: int | None = None,
             float64: bool = False) -> str:
    """File stem of a run: the model, then everything that differs from its published recipe (so that
    runs with other settings never overwrite each other), then the seed. ``seedcnn``, ``seedcnn_seed3``,
    ``seedcnn_mnist_val``, ``ffn_ep1_lr0.01_sub5000``..."""
    base = RECIPES.get(recipe.model, recipe)
    stem = recipe.model
    if recipe.normalization != base.normalization:
        stem += f"_{recipe.normalization}"
    if recipe.epochs != base.epochs:
        stem += f"_ep{recipe.epochs}"
    if recipe.lr != base.lr:
        stem += f"_lr{recipe.lr:g}"
    if recipe.batch_size != base.batch_size:
        stem += f"_b{recipe.batch_size}"
    if subset:
        stem += f"_sub{subset}"
    if float64:
        stem += "_f64"
    if val_fraction:
        stem += "_val" if val_fraction == DEFAULT_VAL_FRACTION else f"_val{val_fraction:g}"
    return stem if seed == 0 else f"{stem}_seed{seed}"


#: the validation share the committed selection runs used (their files are named ``*_val``)
DEFAULT_VAL_FRACTION = 0.1


def run(
    recipe: Recipe,
    *,
    data_dir: str | None = None,
    out: str | Path = "reports/mnist_cpu",
    seed: int = 0,
    subset: int | None = None,
    test_subset: int | None = None,
    dtype=np.float32,
    checkpoint: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
    log=print,
    val_fraction: float | None = None,
) -> dict[str, Any]:
    """Train one recipe on MNIST, evaluate on the test set, write the history, figure and summary."""
    wall0 = time.perf_counter()
    out = Path(out)
    stem = run_stem(recipe, seed, val_fraction, subset=subset, float64=dtype == np.float64)
    data = load_data(recipe, data_dir, subset, test_subset, dtype, val_fraction, seed)
    rng = np.random.default_rng(seed)
    model = models.build_model(recipe.model, dtype=dtype, rng=rng)
    opt, sched = build_optimizer(recipe, model)
    log(f"{type(model).__name__}: {model.num_parameters():,} parameters; {recipe.source}")
    log(f"data: {data['source']['train_samples']} train / {data['source']['test_samples']} test images from "
        f"{data['source']['train_dir']}; numba threads {numba.get_num_threads()}")
    history = fit(
        model, opt, data["train"], epochs=recipe.epochs, batch_size=recipe.batch_size, scheduler=sched,
        val_data=data["val"], test_data=data["test"], seed=seed, checkpoint_path=checkpoint, resume=resume,
        history_path=out / f"{stem}.json", progress=progress, log=log,
        extra={"recipe": asdict(recipe), "data": data["source"], "command": command_line(), "git_commit": git_commit(),
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "load_average_at_start": load_average()},
    )
    history["extra"]["load_average_at_end"] = load_average()
    history["final_test"] = final_metrics(model, *data["test"])
    history["peak_rss_mb"] = peak_rss_mb()
    history["extra"]["wall_time_s"] = time.perf_counter() - wall0  # the whole run: data, training, evaluation
    atomic_write_text(out / f"{stem}.json", json.dumps(history, indent=1))
    plot_history(history, out / f"{stem}.png")
    write_summary(out)
    t = history["final_test"]
    log(f"test accuracy {t['accuracy']:.4f}, macro F1 {t['macro_f1']:.4f}; training took {history['train_time_s']:.1f} s")
    return history


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: how busy the machine was (timings depend on it)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, in MiB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def plot_history(history: dict[str, Any], path: Path) -> None:
    """Loss and accuracy per epoch, train and test, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [e["epoch"] for e in history["epochs"]]
    train_label = "train (running" + (", dropout on)" if history["model"] in ("FFN", "ExamplesNet") else ")")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(ep, [e["train_loss"] for e in history["epochs"]], "o-", label=train_label)
    b.plot(ep, [100 * e["train_accuracy"] for e in history["epochs"]], "o-", label=train_label)
    if "test_loss" in history["epochs"][0]:
        a.plot(ep, [e["test_loss"] for e in history["epochs"]], "s-", label="test")
        b.plot(ep, [100 * e["test_accuracy"] for e in history["epochs"]], "s-", label="test")
    if history["epochs"][0].get("val_loss") is not None:
        a.plot(ep, [e["val_loss"] for e in history["epochs"]], "^-", label="validation")
        b.plot(ep, [100 * e["val_accuracy"] for e in history["epochs"]], "^-", label="validation")
    a.set(xlabel="epoch", ylabel="loss", title=f"{history['model']}: loss")
    b.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{history['model']}: accuracy")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def seed_lines(by_recipe: dict) -> list[str]:
    """Mean and spread of the test (and validation) accuracy where one recipe was run with several seeds."""
    lines = []
    for (model, recipe, epochs, has_val), runs in by_recipe.items():
        if len(runs) < 2:
            continue
        acc = np.array([a for _, a, _ in runs])
        norm = json.loads(recipe)["recipe"]["normalization"]
        seeds = ", ".join(f"{s}: {100 * a:.2f}%" for s, a, _ in sorted(runs))
        line = (f"- {model}, normalisation {norm}, {epochs} epochs, {len(runs)} seeds"
                + (" (validation split held out)" if has_val else "")
                + f": test accuracy mean {100 * acc.mean():.2f}% ± {100 * acc.std(ddof=1):.2f} (sample std); per seed {seeds}")
        if has_val:
            val = np.array([v for _, _, v in runs])
            line += f"; validation accuracy mean {100 * val.mean():.2f}% ± {100 * val.std(ddof=1):.2f}"
        lines.append(line)
    return ["## Seeds", "", *lines, ""] if lines else []


def write_summary(out: Path) -> Path:
    """README.md of a run directory: one row per finished history, with provenance."""
    rows, prov, by_recipe = [], [], {}
    for path in sorted(Path(out).glob("*.json")):
        h = json.loads(path.read_text())
        if "final_test" not in h:
            continue
        val = h["epochs"][-1].get("val_accuracy")
        setting = {"recipe": h["extra"]["recipe"], "dtype": h["config"].get("dtype"),
                   "samples": [h["config"].get(k) for k in ("train_samples", "val_samples", "test_samples")]}
        key = (h["model"], json.dumps(setting, sort_keys=True), len(h["epochs"]), val is not None)
        by_recipe.setdefault(key, []).append((h["config"]["seed"], h["final_test"]["accuracy"], val))
        r, t, env = h["extra"]["recipe"], h["final_test"], h["environment"]
        sched = f" + StepLR({r['scheduler_step']}, {r['scheduler_gamma']})" if r.get("scheduler_step") else ""
        rows.append(
            f"| {h['model']} | {r['optimizer']} {r['lr']:g}{sched} | {r['batch_size']} | {len(h['epochs'])} | "
            f"{r['normalization']} | {'-' if val is None else f'{100 * val:.2f}%'} | **{100 * t['accuracy']:.2f}%** | {100 * t['macro_f1']:.2f}% | "
            f"{100 * h['epochs'][-1]['train_accuracy']:.2f}% | {h['train_time_s']:.0f} s | "
            f"{np.mean([e['images_per_s'] for e in h['epochs']]):.0f} | {_mb(h.get('peak_rss_mb'))} | {h['config']['seed']} | "
            f"[history]({path.name}), [plot]({path.stem}.png) |"
        )
        prov.append(
            f"- {h['model']} (seed {h['config']['seed']}): {h['extra']['date']}, `{h['extra']['command']}`, commit {h['extra']['git_commit']}, "
            f"{env['processor']} ({env['cpu_count']} cores, {env['numba_threads']} Numba threads), "
            f"Python {env['python']}, NumPy {env['numpy']}, Numba {env['numba']}; "
            f"load average at start / end {h['extra'].get('load_average_at_start')} / {h['extra'].get('load_average_at_end')}; "
            f"data {h['extra']['data']['train_samples']} train / {h['extra']['data']['test_samples']} test images; "
            f"train time {h['train_time_s']:.1f} s"
            + (f", wall time {h['extra']['wall_time_s']:.1f} s" if "wall_time_s" in h["extra"] else
               " (wall time not recorded by this run)")
        )
    text = "\n".join([
        "# scratchnet on MNIST (CPU)",
        "",
        "Trained with `python -m scratchnet.train`; every number below is read from the run's history file.",
        "Test accuracy is measured on the test set (never the training set) after the last epoch; the train",
        "accuracy is the running accuracy over the last epoch's batches (dropout on). Image counts are in the",
        "provenance lines. *val acc* (runs with `--val-split` only): accuracy on images held out of the",
        "training set, the number to choose settings by; those runs train on fewer images.",
        "",
        "| model | optimiser | batch | epochs | normalisation | val acc | test acc | test macro F1 | train acc | train time | img/s | peak memory | seed | files |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *seed_lines(by_recipe),
        "## Provenance",
        "",
        *prov,
        "",
    ])
    return atomic_write_text(Path(out) / "README.md", text)


def run_command(work: Callable[[], object], errors: tuple[type[BaseException], ...], hint: str | None = None) -> int:
    """Run a command's work and turn its known endings into an exit status and one line on stderr:
    0 done, 2 bad input (``errors``: missing data, bad file, ...), 3 training diverged, 130 Ctrl-C (inside
    training the message says where to resume; outside it, files are atomic). ``hint``, if given, is
    printed after the Ctrl-C message (what to do next)."""
    try:
        work()
    except KeyboardInterrupt as err:
        message = str(err) if isinstance(err, TrainingInterrupted) else "interrupted; every file written so far is complete"
        print(f"\n{message}" + (f"\n{hint}" if hint else ""), file=sys.stderr)
        return 130
    except NonFiniteError as err:
        print(f"training diverged: {err}", file=sys.stderr)
        return 3
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["summary"]:
        for d in argv[1:] or ["reports/mnist_cpu"]:
            print(write_summary(Path(d)))
        return 0
    p = argparse.ArgumentParser(prog="python -m scratchnet.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(RECIPES), required=True)
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--batch-size", type=int, help="default: the recipe's")
    p.add_argument("--lr", type=float, help="default: the recipe's")
    p.add_argument("--normalization", choices=["unit", "mnist", "half"],
                   help="input scaling: /255 only, (0.1307, 0.3081) or (0.5, 0.5) (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="directory of MNIST-format IDX files (default: MNIST_DIR, cache, download)")
    p.add_argument("--out", default="reports/mnist_cpu", help="where the history, figure and summary go")
    p.add_argument("--subset", type=int, help="train on the first N training images only")
    p.add_argument("--test-subset", type=int, help="test on the first N test images only")
    p.add_argument("--val-split", type=float, metavar="FRACTION",
                   help="hold out this stratified fraction of the training images as a validation set")
    p.add_argument("--float64", action="store_true", help="train in float64 instead of float32")
    p.add_argument("--checkpoint", help=".npz checkpoint written after each epoch and on Ctrl-C")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--threads", type=int, help="Numba threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.resume and not args.checkpoint:
        p.error("--resume needs --checkpoint")
    if args.val_split is not None and not 0 < args.val_split < 1:
        p.error(f"--val-split must be a fraction strictly between 0 and 1, got {args.val_split}")
    if args.threads:
        numba.set_num_threads(args.threads)
    recipe = RECIPES[args.model]
    recipe = replace(recipe, **{k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                                    ("lr", args.lr), ("normalization", args.normalization))
                                if v is not None})
    return run_command(lambda: run(
        recipe, data_dir=args.data_dir, out=args.out, seed=args.seed, subset=args.subset,
        test_subset=args.test_subset, dtype=np.float64 if args.float64 else np.float32, checkpoint=args.checkpoint,
        resume=args.resume, progress=False if args.no_progress else None, val_fraction=args.val_split,
    ), (MNISTNotFoundError, IDXError, ValueError))
