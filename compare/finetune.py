"""``python -m compare.finetune``: the workshop's question — a small feed-forward net or a fine-tuned ResNet18?

As in the reference workshop: SimpleNN (scratchnet's ``FFN``: 784-128-ReLU-Dropout(0.2)-64-10, Adam
1e-3, Normalize((0.5,), (0.5,))) evaluated with k-fold cross-validation, against ResNet18 fine-tuned on
MNIST (torchref.resnet protocols: ``workshop`` = frozen backbone, new conv1 and fc; ``linear-probe``;
``full``). Every model is also trained on the whole training set and scored on the test set, so the
comparison does not mix validation folds with a test set.

    python -m compare.finetune                              # weights: ImageNet if found, else random init
    python -m compare.finetune --weights imagenet --weights-file resnet18-f37072fd.pth
    python -m compare.finetune --quick                      # a data subset, one epoch (CI)

ImageNet weights are looked for as ``torchref.resnet.locate_imagenet_weights`` does (file, hub cache,
download). ``--weights auto`` (default) falls back to random initialisation when none are found and the
report says so in its title, its tables and every CSV row; ``--weights imagenet`` stops with an error
instead. Writes ``reports/finetune/``: report.md, metrics.csv (model, accuracy, precision, recall ...),
folds.csv, history.json, loss.png, confusion.png, example.png, and the trained ResNet18 state dicts
(``resnet18_<protocol>.pt``, not committed: git ignores ``*.pt``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from scratchnet.data import load_mnist_split
from scratchnet.fileio import atomic_write_text
from scratchnet.recipes import RECIPES
from torchref.checkpoint import save_state_dict
from torchref.data import to_device
from torchref.device import select_device
from torchref.kfold import cross_validate
from torchref.recipes import RESNET_RECIPES, build_optimizer, data_normalization, make_model
from torchref.resnet import PROTOCOLS, WeightsNotFoundError, locate_imagenet_weights
from torchref.train import final_metrics, fit

from . import provenance
from .cli import add_report_arguments, run_report
from .figures import pyplot, save

#: the workshop's SimpleNN recipe: scratchnet's FFN with the workshop's Normalize((0.5,), (0.5,))
SIMPLENN = replace(RECIPES["ffn"], normalization="half",
                   source="the workshop's SimpleNN: Adam lr 1e-3, Normalize((0.5,), (0.5,)); batch 60, 10 epochs")


def resolve_weights(choice: str, weights_file: str | None, download: bool) -> tuple[str, str, str | None]:
    """('imagenet' | 'none', a sentence on what was used and why, the error text when ImageNet was missing)."""
    if choice == "none":
        return "none", "random initialisation (asked for with --weights none)", None
    try:
        _, used = locate_imagenet_weights(weights_file, download=download)
    except WeightsNotFoundError as err:
        if choice == "imagenet" or weights_file is not None:  # a named file that is missing is a mistake, not a fallback
            raise
        return "none", "random initialisation: ImageNet weights were not available on this machine", str(err)
    return "imagenet", used["description"], None


def _loaders(images: np.ndarray, labels: np.ndarray, norm: str, device, dtype=torch.float32):
    return to_device(images, labels, device, normalization=norm, dtype=dtype)


def train_and_test(name: str, model, recipe, train, test, epochs: int, seed: int, progress) -> dict[str, Any]:
    opt, sched = build_optimizer(recipe, model)
    hist = fit(model, opt, train, epochs=epochs, batch_size=recipe.batch_size, scheduler=sched, test_data=test,
               seed=seed, progress=progress, model_name=name).to_dict()
    hist["final_test"] = final_metrics(model, test)
    return hist


@torch.no_grad()
def predict(model, x: torch.Tensor) -> np.ndarray:
    model.eval()
    out = torch.cat([torch.softmax(model(x[i : i + 1000]).float(), 1) for i in range(0, len(x), 1000)])
    return out.cpu().numpy()


# ----------------------------------------------------------------------------------------------- outputs


def plot_losses(runs: dict[str, dict], folds: list[dict], path: Path) -> None:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.4))
    for name, r in runs.items():
        ep = r["history"]["epochs"]
        e = [x["epoch"] for x in ep]
        line = ax.plot(e, [x["train_loss"] for x in ep], "-o", label=f"{name} train")[0]
        ax.plot(e, [x["test_loss"] for x in ep], "--s", color=line.get_color(), label=f"{name} test")
    ax.set(xlabel="epoch", ylabel="cross-entropy", title="Loss per epoch (whole training set; test set)", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    for h in folds:
        ep = h["epochs"]
        bx.plot([x["epoch"] for x in ep], [x["train_loss"] for x in ep], "-", alpha=0.7)
    bx.set(xlabel="epoch", ylabel="train loss", title=f"SimpleNN: train loss of each of the {len(folds)} folds",
           yscale="log")
    bx.grid(alpha=0.3)
    save(fig, path)


def plot_confusions(runs: dict[str, dict], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(4.4 * len(runs), 4.3))
    for ax, (name, r) in zip(np.atleast_1d(axes), runs.items()):
        cm = np.array(r["history"]["final_test"]["confusion_matrix"])
        ax.imshow(np.log1p(cm), cmap="Blues")
        for i in range(10):
            for k in range(10):
                if cm[i, k]:
                    ax.text(k, i, str(cm[i, k]), ha="center", va="center", fontsize=6,
                            color="white" if i == k else "black")
        ax.set(title=f"{name}: {100 * r['history']['final_test']['accuracy']:.2f}%", xlabel="predicted", ylabel="true",
               xticks=range(10), yticks=range(10))
    save(fig, path)


def plot_example(image: np.ndarray, label: int, probs: dict[str, np.ndarray], path: Path) -> None:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [1, 2.4]})
    ax.imshow(image, cmap="gray")
    ax.set(title=f"test image 0: a {label}", xticks=[], yticks=[])
    width = 0.8 / len(probs)
    for i, (name, p) in enumerate(probs.items()):
        bx.bar(np.arange(10) + (i - (len(probs) - 1) / 2) * width, p, width, label=f"{name}: {int(p.argmax())}")
    bx.set(xticks=range(10), xlabel="digit", ylabel="probability", title="What each model predicts", ylim=(0, 1.05))
    bx.legend(fontsize=7)
    save(fig, path)


METRIC_FIELDS = ["model", "protocol", "weights", "evaluated_on", "accuracy", "precision", "recall", "f1",
                 "accuracy_std", "trainable_parameters", "parameters", "epochs", "train_time_s", "device"]


def metrics_rows(runs: dict[str, dict], kfold: dict[str, Any], k: int) -> list[dict[str, Any]]:
    m, s = kfold["mean"], kfold["std"]
    rows = [{"model": "SimpleNN (FFN)", "protocol": f"{k}-fold cross-validation", "weights": "random init",
             "evaluated_on": f"held-out folds of the training set (mean of {k})", "accuracy": m["accuracy"],
             "precision": m["macro_precision"], "recall": m["macro_recall"], "f1": m["macro_f1"],
             "accuracy_std": s["accuracy"], "trainable_parameters": kfold["parameters"], "parameters": kfold["parameters"],
             "epochs": kfold["epochs"], "train_time_s": sum(f["train_time_s"] for f in kfold["folds"]),
             "device": kfold["device"]}]
    for name, r in runs.items():
        t = r["history"]["final_test"]
        rows.append({"model": name, "protocol": r["protocol"], "weights": r["weights"], "evaluated_on": "test set",
                     "accuracy": t["accuracy"], "precision": t["macro_precision"], "recall": t["macro_recall"],
                     "f1": t["macro_f1"], "accuracy_std": "", "trainable_parameters": r["trainable"],
                     "parameters": r["parameters"], "epochs": len(r["history"]["epochs"]),
                     "train_time_s": r["history"]["train_time_s"], "device": r["device"]})
    return rows


def write_csv(rows: list[dict], fields: list[str], path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write_text(path, buf.getvalue())


def write_report(info: dict, rows: list[dict], kfold: dict, weights_line: str, weights_error: str | None,
                 used: str, data: dict, args, path: Path) -> None:
    title_weights = "ImageNet weights" if used == "imagenet" else "random-init weights (no ImageNet weights)"
    lines = [f"# SimpleNN vs ResNet18 on MNIST ({title_weights})", "", provenance.markdown(info),
             f"- data: {data['n_train']} training / {data['n_test']} test images from `{data['dir']}`"
             + (" (**--quick: a subset, one epoch; not comparable with the published numbers**)" if args.quick else ""),
             f"- **ResNet18 weights used: {weights_line}**"]
    if weights_error:
        lines += ["", "> **These ResNet18 numbers are not fine-tuning.** The workshop fine-tuned a network pretrained "
                  "on ImageNet; no ImageNet weights could be found or downloaded here, so every ResNet18 below started "
                  "from random initialisation. With the backbone frozen (`workshop`, `linear-probe`), only the new "
                  "layers learn on top of random features. Rerun with `--weights-file resnet18-f37072fd.pth` (or with "
                  "internet access) for the real comparison.", ">", "> What was looked for:", ">",
                  *[f"> {ln}" for ln in weights_error.splitlines()]]
    lines += ["", "## Results", "",
              "| model | protocol | weights | evaluated on | accuracy | precision (macro) | recall (macro) | F1 (macro) | "
              "trainable / all parameters | epochs | train time | device |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = f"{100 * r['accuracy']:.2f}%" + (f" ± {100 * r['accuracy_std']:.2f}" if r["accuracy_std"] != "" else "")
        lines.append(f"| {r['model']} | {r['protocol']} | {r['weights']} | {r['evaluated_on']} | {acc} | "
                     f"{r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['trainable_parameters']:,} / "
                     f"{r['parameters']:,} | {r['epochs']} | {r['train_time_s']:.0f} s | {r['device']} |")
    best = max(rows[1:], key=lambda r: r["accuracy"])
    simple = next(r for r in rows[1:] if r["model"].startswith("SimpleNN"))
    resnets = [r for r in rows[1:] if r["model"].startswith("ResNet18")]
    lines += ["", "## What it says", "",
              f"- On the test set the best model here is **{best['model']}** ({100 * best['accuracy']:.2f}%).",
              f"- SimpleNN: {100 * kfold['mean']['accuracy']:.2f}% ± {100 * kfold['std']['accuracy']:.2f} over "
              f"{args.k} folds (validation), {100 * simple['accuracy']:.2f}% on the test set after training on all "
              f"{data['n_train']} images."]
    for r in resnets:
        cmp = "above" if r["accuracy"] > simple["accuracy"] else "below"
        lines.append(f"- {r['model']} ({r['protocol']}, {r['trainable_parameters']:,} trainable parameters): "
                     f"{100 * r['accuracy']:.2f}%, {abs(100 * (r['accuracy'] - simple['accuracy'])):.2f} points {cmp} "
                     "SimpleNN on the test set.")
    above = [r["protocol"] for r in resnets if r["accuracy"] < simple["accuracy"]]
    below = [r["protocol"] for r in resnets if r["accuracy"] >= simple["accuracy"]]
    epochs = sorted({r["epochs"] for r in resnets})
    budget = (f"SimpleNN trained {simple['epochs']} epochs, each ResNet18 protocol "
              f"{' / '.join(map(str, epochs))} epoch{'s' if epochs != [1] else ''}.")
    verdict = (f"on the test set SimpleNN is above ResNet18 {', '.join(above) or 'in no protocol'}"
               + (f" and below it in {', '.join(below)}" if below else "") + ".")
    lines += ["- The workshop concluded that the simple net beat the fine-tuned ResNet18 on MNIST. "
              + (f"With ImageNet weights, as the workshop had: {verdict}" if used == "imagenet" else
                 f"These ResNet18 runs started from random weights, so they cannot test that claim; {verdict}")
              + " " + budget,
              "", "![loss curves](loss.png)", "", "![confusion matrices](confusion.png)", "",
              "![an example digit and each model's prediction](example.png)", "",
              "Numbers: [metrics.csv](metrics.csv), SimpleNN folds [folds.csv](folds.csv), every epoch "
              "[history.json](history.json). Trained ResNet18 state dicts: "
              + ", ".join(f"`{p}`" for p in data["saved"]) + " (in the output directory; git ignores them).", ""]
    atomic_write_text(path, "\n".join(lines))


# ----------------------------------------------------------------------------------------------- run


def run(args) -> Path:
    out = Path(args.out)
    device = select_device(args.device)
    info = provenance.collect(args.seed, device=str(device))
    used, weights_line, weights_error = resolve_weights(args.weights, args.weights_file, not args.no_download)
    train_split, test_split = load_mnist_split(args.data_dir, "train"), load_mnist_split(args.data_dir, "test")
    xtr, ytr, xte, yte = train_split.images, train_split.labels, test_split.images, test_split.labels
    if args.quick:
        xtr, ytr, xte, yte = xtr[:2000], ytr[:2000], xte[:500], yte[:500]
    progress = False if args.no_progress else None
    dev_label = (torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({info['processor']})")
    data = {"dir": str(train_split.directory), "n_train": len(ytr), "n_test": len(yte), "saved": []}
    t0 = time.perf_counter()

    # SimpleNN: k-fold over the training set, then the whole training set against the test set
    simple_epochs = SIMPLENN.epochs if args.ffn_epochs is None else args.ffn_epochs
    recipe = replace(SIMPLENN, epochs=simple_epochs)
    norm = data_normalization(recipe)
    train_all = _loaders(xtr, ytr, norm, device)
    kfold = cross_validate(lambda fold: make_model("ffn", seed=args.seed + fold, device=device),
                           lambda m: build_optimizer(recipe, m), train_all, k=args.k, epochs=simple_epochs,
                           batch_size=recipe.batch_size, seed=args.seed, progress=progress,
                           log=None if args.no_progress else print)
    kfold.update(parameters=sum(p.numel() for p in make_model("ffn").parameters()), epochs=simple_epochs,
                 device=dev_label)
    runs: dict[str, dict] = {}
    probs: dict[str, np.ndarray] = {}
    model = make_model("ffn", seed=args.seed, device=device)
    test = _loaders(xte, yte, norm, device)
    hist = train_and_test("SimpleNN", model, recipe, train_all, test, simple_epochs, args.seed, progress)
    n = sum(p.numel() for p in model.parameters())
    runs["SimpleNN (FFN)"] = {"history": hist, "protocol": "whole training set", "weights": "random init",
                              "trainable": n, "parameters": n, "device": dev_label}
    probs["SimpleNN"] = predict(model, test.x[:1])[0]

    for protocol in tqdm(args.protocols, desc="ResNet18 protocols", disable=progress is False or None):
        recipe = RESNET_RECIPES[protocol]
        if args.epochs is not None:
            recipe = replace(recipe, epochs=args.epochs)
        if args.quick:
            recipe = replace(recipe, epochs=1)
        norm = data_normalization(recipe)
        train, test = _loaders(xtr, ytr, norm, device), _loaders(xte, yte, norm, device)
        model = make_model("resnet18", seed=args.seed, device=device, protocol=protocol, weights=used,
                           weights_file=args.weights_file if used == "imagenet" else None, download=not args.no_download, image_size=args.image_size)
        name = f"ResNet18 {protocol}"
        hist = train_and_test(name, model, recipe, train, test, recipe.epochs, args.seed, progress)
        hist["resnet"] = model.info
        saved = save_state_dict(out / f"resnet18_{protocol}.pt", model)
        data["saved"].append(saved.name)
        runs[name] = {"history": hist, "protocol": protocol, "weights": model.info["weights"]["description"],
                      "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
                      "parameters": sum(p.numel() for p in model.parameters()), "device": dev_label,
                      "recipe": recipe.source}
        probs[name] = predict(model, test.x[:1])[0]

    rows = metrics_rows(runs, kfold, args.k)
    write_csv(rows, METRIC_FIELDS, out / "metrics.csv")
    write_csv(kfold["folds"], list(kfold["folds"][0]), out / "folds.csv")
    atomic_write_text(out / "history.json", json.dumps({
        "provenance": info, "weights": {"used": used, "description": weights_line, "not_found": weights_error},
        "data": data, "metrics": rows, "kfold": {k: v for k, v in kfold.items() if k != "histories"},
        "kfold_histories": kfold["histories"], "runs": runs, "wall_time_s": time.perf_counter() - t0,
    }, indent=1, default=str))
    plot_losses(runs, kfold["histories"], out / "loss.png")
    plot_confusions(runs, out / "confusion.png")
    plot_example(xte[0], int(yte[0]), probs, out / "example.png")
    write_report(info, rows, kfold, weights_line, weights_error, used, data, args, out / "report.md")
    return out / "report.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compare.finetune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocols", default="workshop,linear-probe,full",
                   help=f"comma-separated ResNet18 protocols from {', '.join(PROTOCOLS)}")
    p.add_argument("--weights", choices=["auto", "imagenet", "none"], default="auto",
                   help="ImageNet weights: auto = use them if found, else random init (said in the report)")
    p.add_argument("--weights-file", default=None, help="a local resnet18 ImageNet state_dict (.pth)")
    p.add_argument("--no-download", action="store_true", help="never try to download ImageNet weights")
    p.add_argument("--epochs", type=int, default=None, help="ResNet18 epochs (default: each protocol's recipe, 3)")
    p.add_argument("--ffn-epochs", type=int, default=None, help="SimpleNN epochs (default: 10)")
    p.add_argument("--k", type=int, default=5, help="folds for SimpleNN's cross-validation (default 5)")
    p.add_argument("--image-size", type=int, default=28, help="side the digits are resized to for ResNet18")
    add_report_arguments(p, "reports/finetune", quick="one epoch each, 3 folds")
    args = p.parse_args(argv)
    args.protocols = [s.strip() for s in args.protocols.split(",") if s.strip()]
    unknown = [s for s in args.protocols if s not in PROTOCOLS]
    if unknown:
        p.error(f"--protocols: unknown {', '.join(unknown)}; expected some of {', '.join(PROTOCOLS)}")
    if args.k < 2:
        p.error(f"--k must be >= 2, got {args.k}")
    for flag, value in (("--epochs", args.epochs), ("--ffn-epochs", args.ffn_epochs)):
        if value is not None and value < 1:
            p.error(f"{flag} must be >= 1, got {value}")
    if args.weights == "none" and args.weights_file:
        p.error("--weights-file given with --weights none; drop one of them")
    if args.quick:
        args.ffn_epochs = 1
        args.k = min(args.k, 3)
    return run_report(lambda: run(args), (WeightsNotFoundError,))


__all__ = ["SIMPLENN", "resolve_weights", "metrics_rows", "run", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
