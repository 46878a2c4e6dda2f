"""``python -m compare.ffn_vs_cnn``: a feed-forward net against a small CNN on MNIST, each trained twice —
with scratchnet (NumPy + Numba, CPU) and with torchref (PyTorch, GPU when present) — from the same
initial weights, on the same batches, with the same recipe (Adam 1e-3, batch 60, 10 epochs, /255 input).

Writes ``runs/ffn_vs_cnn/`` (``--out reports/ffn_vs_cnn`` for the committed one): report.md, metrics.csv, history.json and the figures (learning curves,
confusion matrices, per-class F1, sample digits, most confidently misclassified digits, SeedCNN's
first-layer filters and feature maps). ``--quick`` trains on a subset for one epoch (for CI).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from scratchnet import train as scratch_train
from scratchnet.data import normalize
from scratchnet.metrics import classification_report
from scratchnet.recipes import RECIPES
from torchref import train as torch_train
from torchref.data import to_device

from scratchnet.run.args import HelpFormatter, positive_int

from .cli import add_report_arguments, check_counts, epoch_printer, load_splits, run_report, start
from .figures import confidence, confusion_grid, epoch_axis, pyplot
from .models import build_pair, display_name, forget_forward, scratch_probabilities, torch_probabilities
from .report import Report, pct, plan_guide, table, texts

TEXT = texts("ffn_vs_cnn")
MODELS = ("ffn", "seedcnn")
IMPLEMENTATIONS = ("scratchnet", "torch")
# The published numbers this report answers to (shared/references.md).
PUBLISHED = {
    "seedcnn": ("course notebook's CNN (torchmetrics, computed on the training loader)", 0.9913, "train"),
    "ffn": ("course notebook's from-scratch FFN (FANN)", 0.95678, "unspecified"),
}


def train_pair(name: str, data: dict[str, Any], epochs: int, batch_size: int, seed: int, device, progress,
               job_t0: float) -> dict:
    """Train one architecture with both implementations from the same initial weights and batches."""
    recipe = replace(RECIPES[name], epochs=epochs, batch_size=batch_size)
    results: dict[str, Any] = {}
    pair = build_pair(recipe, seed, device=device)

    model, t0 = pair.scratchnet.model, time.perf_counter()
    hist = scratch_train.fit(model, pair.scratchnet.optimizer, data["train_np"], epochs=epochs, batch_size=batch_size,
                             scheduler=pair.scratchnet.scheduler, test_data=data["test_np"], seed=seed, progress=progress,
                             log=epoch_printer(display_name(name), "scratchnet", job_t0))
    results["scratchnet"] = {"model": model, "history": hist, "probs": scratch_probabilities(model, data["test_np"][0]),
                             "train_probs": scratch_probabilities(model, data["train_np"][0]),
                             "device": "CPU (NumPy + Numba)", "wall_s": time.perf_counter() - t0}

    tmodel, t0 = pair.torch.model, time.perf_counter()
    thist = torch_train.fit(tmodel, pair.torch.optimizer, data["train_t"], epochs=epochs, batch_size=batch_size,
                            scheduler=pair.torch.scheduler, test_data=data["test_t"], seed=seed, progress=progress,
                            model_name=display_name(name), log=epoch_printer(display_name(name), "torch", job_t0))
    results["torch"] = {"model": tmodel, "history": thist, "probs": torch_probabilities(tmodel, data["test_t"].x),
                        "train_probs": torch_probabilities(tmodel, data["train_t"].x),
                        "device": f"{device.type}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
                        "wall_s": time.perf_counter() - t0}
    return results


def summarise(name: str, impl: str, run: dict[str, Any], y_test: np.ndarray, y_train: np.ndarray) -> dict[str, Any]:
    rep = classification_report(y_test, run["probs"].argmax(axis=1), 10)
    hist, model = run["history"], run["model"]
    n_params = model.num_parameters() if impl == "scratchnet" else sum(p.numel() for p in model.parameters())
    return {"implementation": impl, "model": display_name(name),
            **{f"test_{k}": rep[k] for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")},
            "train_accuracy": float(np.mean(run["train_probs"].argmax(axis=1) == y_train)), "parameters": int(n_params),
            "epochs": len(hist.epochs), "train_time_s": hist.train_time_s,
            "images_per_s": float(np.mean(hist.series("images_per_s"))), "device": run["device"],
            "report": rep}


# ----------------------------------------------------------------------------------------------- figures


def plot_curves(runs: dict):
    """Loss and accuracy per epoch. The train values are running means over each epoch's batches (the
    weights still changing, dropout on for the FFN), so epoch 1's train loss sits above its test loss;
    the test values are measured after the epoch. scratchnet and torch start from the same weights and
    overlap where they agree, so torch is drawn dashed with hollow markers over scratchnet's solid lines."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    styles = {"scratchnet": dict(linestyle="-", lw=2.2, markersize=7),
              "torch": dict(linestyle="--", lw=1.3, markersize=9, markerfacecolor="none", markeredgewidth=1.4)}
    colours = {("scratchnet", "train"): "tab:blue", ("torch", "train"): "navy",
               ("scratchnet", "test"): "tab:orange", ("torch", "test"): "darkred"}
    for j, name in enumerate(MODELS):
        for impl in IMPLEMENTATIONS:
            h = runs[name][impl]["history"]
            for key, marker in (("train", "o"), ("test", "s")):
                label = f"{impl} {'train (running mean over the epoch)' if key == 'train' else 'test (after the epoch)'}"
                kw = dict(marker=marker, color=colours[impl, key], label=label, **styles[impl])
                axes[0][j].plot(h.series("epoch"), h.series(f"{key}_loss"), **kw)
                axes[1][j].plot(h.series("epoch"), [100 * a for a in h.series(f"{key}_accuracy")], **kw)
        dropout = ", dropout on" if name == "ffn" else ""
        for ax, what, unit in zip(axes[:, j], ("loss", "accuracy"), ("cross-entropy loss", "accuracy (%)")):
            ax.set(title=f"{display_name(name)}: {what} (train = running mean{dropout})", xlabel="epoch", ylabel=unit)
            epoch_axis(ax, len(runs[name]["scratchnet"]["history"].epochs))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7.5)
    fig.suptitle("scratchnet (solid, filled) and torch (dashed, hollow) from the same weights: where they agree "
                 "the lines overlap", fontsize=10)
    return fig


def plot_confusions(summaries: list[dict]):
    return confusion_grid([(s["report"]["confusion_matrix"], f"{s['model']} ({s['implementation']}): {pct(s['test_accuracy'])}")
                           for s in summaries], highlight=5,
                          caption="test set; rows: true digit, columns: predicted; shading is log(1 + count); "
                                  "off-diagonal counts of 5 or more in red")


def plot_f1(summaries: list[dict]):
    """Per-class F1 as bars from zero (the honest size), and underneath each run's difference from the first
    run in points, where the differences between runs (a fraction of a point) can be seen."""
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(11, 6.6), sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})
    width = 0.8 / len(summaries)
    ref = np.asarray(summaries[0]["report"]["per_class"]["f1"])
    ref_name = f"{summaries[0]['model']} ({summaries[0]['implementation']})"
    for i, s in enumerate(summaries):
        f1 = np.asarray(s["report"]["per_class"]["f1"])
        pos = np.arange(10) + (i - (len(summaries) - 1) / 2) * width
        label = f"{s['model']} ({s['implementation']})"
        ax.bar(pos, f1, width, label=label, color=f"C{i}")
        bx.bar(pos, 100 * (f1 - ref), width, label=label, color=f"C{i}")
    ax.set(ylabel="F1 (test)", title="Per-class F1 on the test set (axis from 0)", ylim=(0, 1.0))
    ax.legend(fontsize=8, ncol=4, loc="lower center")
    bx.axhline(0, color="black", lw=0.8)
    bx.set(xticks=range(10), xlabel="digit", ylabel="difference (F1 points)",
           title=f"The same F1 minus {ref_name}'s, in points (100 x F1)")
    for a in (ax, bx):
        a.grid(alpha=0.3, axis="y")
    return fig


def plot_samples(images: np.ndarray, labels: np.ndarray, n: int = 32):
    plt = pyplot()
    fig, axes = plt.subplots(4, n // 4, figsize=(n // 4 * 1.1, 4.8))
    for ax, img, lab in zip(axes.ravel(), images[:n], labels[:n]):
        ax.imshow(img, cmap="gray_r")
        ax.set_title(str(lab), fontsize=9)
        ax.axis("off")
    fig.suptitle(f"The first {n} training images and their labels")
    return fig


def plot_misclassified(summaries: list[dict], runs: dict, images: np.ndarray, labels: np.ndarray, per_run: int = 8):
    plt = pyplot()
    fig, axes = plt.subplots(len(summaries), per_run, figsize=(per_run * 1.35, len(summaries) * 1.9), squeeze=False)
    for row, s, name in zip(axes, summaries, [n for n in MODELS for _ in IMPLEMENTATIONS]):
        probs = runs[name][s["implementation"]]["probs"]
        pred = probs.argmax(axis=1)
        wrong = np.flatnonzero(pred != labels)
        order = wrong[np.argsort(-probs[wrong, pred[wrong]])][:per_run]
        for ax in row:
            ax.axis("off")
        for ax, i in zip(row, order):
            ax.imshow(images[i], cmap="gray_r")
            ax.set_title(f"{labels[i]}→{pred[i]}\n({confidence(probs[i, pred[i]], np.finfo(probs.dtype).eps)})",
                         fontsize=9, color="crimson")
        row[0].text(-0.5, 0.5, f"{s['model']}\n{s['implementation']}", transform=row[0].transAxes, ha="right",
                    va="center", fontsize=9)
    fig.suptitle("Most confidently misclassified test digits: true→predicted (confidence)")
    return fig


def plot_filters(model, image: np.ndarray, x: np.ndarray):
    """SeedCNN's conv1 filters and the feature maps they produce (after ReLU) for one digit."""
    plt = pyplot()
    w = model.conv1.weight.data[:, 0]
    model.eval()
    maps = model.relu1(model.conv1(x[None]))[0]
    forget_forward(model)
    model.train()
    fig, axes = plt.subplots(3, len(w) + 1, figsize=((len(w) + 1) * 1.3, 4.2))
    axes[1][0].imshow(image, cmap="gray_r")
    axes[1][0].set_title("input", fontsize=9)
    lim = np.abs(w).max()
    for k in range(len(w)):
        axes[0][k + 1].imshow(w[k], cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[0][k + 1].set_title(f"filter {k}", fontsize=8)
        axes[1][k + 1].imshow(maps[k], cmap="magma")
        axes[1][k + 1].set_title(f"map {k}", fontsize=8)
        axes[2][k + 1].hist(maps[k].ravel(), bins=20, color="gray", log=True)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_yticks([], minor=True)
    for ax, text in ((axes[0][0], "conv1 filters\n(3x3 weights;\nred +, blue -)"),
                     (axes[2][0], "histogram of each\nmap's values (x: the\nmap's range; y:\npixels, log scale)")):
        ax.axis("off")
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8.5, transform=ax.transAxes)
    fig.suptitle("SeedCNN (scratchnet) after training: conv1 filters, the ReLU feature maps they make of one test "
                 "digit, and each map's histogram", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------- report


def report_lines(rep: Report, summaries: list[dict], agreement: dict, data_line: str, args) -> list[str]:
    lines = [
        *rep.header("FFN vs CNN on MNIST: scratchnet and PyTorch side by side"),
        f"- torch device: {summaries[1]['device']}",
        data_line,
        f"- recipe: Adam lr 1e-3, batch {args.batch_size}, {args.epochs} epoch(s), input /255 only (ToTensor), "
        "cross-entropy; both implementations start from the same initial weights (scratchnet's, for the seed) and "
        "see the same batches in the same order",
        "", "![learning curves](curves.png)", "", "## Results on the test set", "",
        *table(["model", "implementation", "test accuracy", "macro precision", "macro recall", "macro F1",
                "train accuracy (eval mode)", "parameters", "train time", "images/s", "device"],
               [[s["model"], s["implementation"], f"**{pct(s['test_accuracy'])}**", pct(s["test_macro_precision"]),
                 pct(s["test_macro_recall"]), pct(s["test_macro_f1"]), pct(s["train_accuracy"]), f"{s['parameters']:,}",
                 f"{s['train_time_s']:.1f} s", f"{s['images_per_s']:,.0f}", s["device"]] for s in summaries]),
        "", "Train time is the time spent in training steps (evaluation excluded); images/s is the mean over epochs.",
        "", "## Do scratchnet and torch agree?", "",
        *table(["model", "same predicted digit on the test set", "test accuracy difference"],
               [[display_name(n), f"{a['same']:,} of {a['n']:,} ({pct(a['fraction'])})",
                 f"{100 * a['accuracy_difference']:+.2f} points"] for n, a in agreement.items()]),
        "", TEXT["agreement"], "", "## Against the published numbers", "",
    ]
    by = {(s["model"], s["implementation"]): s for s in summaries}
    published = []
    for name in ("seedcnn", "ffn"):
        label, value, where = PUBLISHED[name]
        s, t = by[(display_name(name), "scratchnet")], by[(display_name(name), "torch")]
        published.append([label, pct(value), where, f"{pct(s['train_accuracy'])} / {pct(s['test_accuracy'])}",
                          f"{pct(t['train_accuracy'])} / {pct(t['test_accuracy'])}"])
    lines += table(["reference", "published", "measured on", "this report (scratchnet) train / test",
                    "this report (torch) train / test"], published)
    return lines + ["", TEXT["published"], "", TEXT["figures"], ""]


def load_data(args, device) -> tuple[dict[str, Any], Any]:
    """Normalised train/test arrays for both libraries (a subset with --quick), and their directory."""
    xtr, ytr, xte, yte, directory = load_splits(args.data_dir, args.quick)
    return {
        "images": (xtr, ytr, xte, yte),
        "train_np": (normalize(xtr, "unit"), ytr),
        "test_np": (normalize(xte, "unit"), yte),
        "train_t": to_device(xtr, ytr, device, normalization="unit"),
        "test_t": to_device(xte, yte, device, normalization="unit"),
    }, directory


def agreements(runs: dict, summaries: list[dict]) -> dict[str, dict]:
    """Per model: how often both libraries predict the same digit, and their test accuracy difference."""
    out = {}
    for name in MODELS:
        a, b = (runs[name][impl]["probs"].argmax(axis=1) for impl in IMPLEMENTATIONS)
        sa, sb = (s for s in summaries if s["model"] == display_name(name))
        out[name] = {"same": int(np.sum(a == b)), "n": len(a), "fraction": float(np.mean(a == b)),
                     "accuracy_difference": sa["test_accuracy"] - sb["test_accuracy"]}
    return out


def plan_line(args, device) -> str:
    what = ("a data subset, 1 epoch: about a minute" if args.quick else
            f"{args.epochs} epochs of 60,000 images, batch {args.batch_size} ({plan_guide('ffn_vs_cnn')} with the "
            "defaults, plus 1-2 min compiling the Numba kernels on a cold cache)")
    return (f"ffn_vs_cnn: FFN and SeedCNN, each trained by scratchnet (NumPy + Numba, CPU) and by torch ({device}) "
            f"from the same weights on the same batches; {what}; then the report in {args.out}/")


def run(args) -> Report:
    t0 = time.perf_counter()
    rep, device, progress = start(args)
    print(plan_line(args, device), flush=True)
    data, directory = load_data(args, device)
    xtr, ytr, xte, yte = data["images"]
    runs = {name: train_pair(name, data, args.epochs, args.batch_size, args.seed, device, progress, t0) for name in MODELS}
    summaries = [summarise(n, impl, runs[n][impl], yte, ytr) for n in MODELS for impl in IMPLEMENTATIONS]
    agreement = agreements(runs, summaries)
    data_line, described = rep.data(directory, len(ytr), len(yte), args.quick)
    rep.json("history.json", {
        "provenance": rep.info, "data": {"train": len(ytr), "test": len(yte), "files": described["files"]},
        "agreement": agreement,
        "summaries": [{k: v for k, v in s.items() if k != "report"} | {"final_test": s["report"]} for s in summaries],
        "histories": {f"{n}/{impl}": runs[n][impl]["history"].to_dict() for n in MODELS for impl in IMPLEMENTATIONS},
        "wall_time_s": time.perf_counter() - t0,
    })
    rep.csv("metrics.csv", summaries, [k for k in summaries[0] if k != "report"])
    rep.figure("curves.png", plot_curves(runs))
    rep.figure("confusion.png", plot_confusions(summaries))
    rep.figure("f1.png", plot_f1(summaries))
    rep.figure("samples.png", plot_samples(xtr, ytr))
    rep.figure("misclassified.png", plot_misclassified(summaries, runs, xte, yte))
    rep.figure("filters.png", plot_filters(runs["seedcnn"]["scratchnet"]["model"], xte[0], data["test_np"][0][0]))
    lines = report_lines(rep, summaries, agreement, data_line, args)
    rep.markdown("report.md", lines)
    rep.print_results(lines, "## Results on the test set", t0)
    return rep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compare.ffn_vs_cnn", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs per run (--quick: 1)")
    p.add_argument("--batch-size", type=positive_int, default=60, help="images per step")
    add_report_arguments(p, "ffn_vs_cnn")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs = 1
    check_counts(p, epochs=args.epochs, batch_size=args.batch_size)
    return run_report(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
