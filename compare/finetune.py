"""``python -m compare.finetune``: the workshop's question — a small feed-forward net or a fine-tuned ResNet18?

As in the reference workshop: SimpleNN (scratchnet's ``FFN``: 784-128-ReLU-Dropout(0.2)-64-10, Adam
1e-3, Normalize((0.5,), (0.5,))) evaluated with k-fold cross-validation, against ResNet18 fine-tuned on
MNIST (torchref.resnet protocols: ``workshop`` = frozen backbone, new conv1 and fc; ``linear-probe``;
``full``). Each protocol is trained by torch and by scratchnet (``scratchnet.models.ResNet18MNIST``, its
from-scratch twin) from the same initial weights on the same batches. Every model is also trained on the whole training set and scored on the test set, so the
comparison does not mix validation folds with a test set.

    python -m compare.finetune                              # weights: ImageNet if found, else random init
    python -m compare.finetune --weights imagenet --weights-file resnet18-f37072fd.pth
    python -m compare.finetune --quick                      # a data subset, one epoch (CI)

ImageNet weights are looked for as ``torchref.resnet.locate_imagenet_weights`` does (file, hub cache,
download). ``--weights auto`` (default) falls back to random initialisation when none are found and the
report says so in its title, its tables and every CSV row; ``--weights imagenet`` stops with an error
instead. Writes ``--out`` (default runs/finetune; ``python -m compare.all`` refreshes reports/): report.md, metrics.csv (model, accuracy, precision, recall ...),
folds.csv, history.json, loss.png, confusion.png, example.png, and the trained ResNet18 state dicts
(``resnet18_<protocol>.pt`` from torch, ``resnet18_<protocol>_scratchnet.npz`` from scratchnet; not committed:
git ignores them).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from scratchnet import models as scratch_models
from scratchnet import train as scratch_train
from scratchnet.data import normalize
from scratchnet.recipes import RECIPES
from scratchnet.recipes import build_optimizer as scratch_optimizer
from scratchnet.run import History
from scratchnet.run.provenance import home_relative
from torchref.checkpoint import save_state_dict
from torchref.data import to_device
from torchref.kfold import cross_validate
from torchref.recipes import RESNET_RECIPES, build_optimizer, data_normalization, make_model
from torchref.resnet import PROTOCOLS, WeightsNotFoundError, locate_imagenet_weights
from torchref.train import final_metrics, fit
from torchref.transfer import to_scratch

from .cli import add_report_arguments, check_counts, epoch_printer, load_splits, run_report, start
from .figures import confusion_grid, epoch_axis, pyplot
from .models import scratch_probabilities, torch_probabilities, torch_side
from .report import Report, pct, plan_guide, table, texts

TEXT = texts("finetune")
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
        return ("none", "random initialisation: ImageNet weights were not available on this machine",
                home_relative(str(err)))
    return "imagenet", used["description"], None


#: the libraries that can train the ResNet18 protocols (SimpleNN's k-fold runs in torch)
LIBRARIES = ("torch", "scratchnet")


def train_and_test(name: str, model, recipe, train, test, seed: int, progress, log=None) -> History:
    side = torch_side(recipe, model)
    hist = fit(model, side.optimizer, train, epochs=recipe.epochs, batch_size=recipe.batch_size, scheduler=side.scheduler,
               test_data=test, seed=seed, progress=progress, model_name=name, log=log)
    hist.final_test = final_metrics(model, test)
    return hist


def scratch_twin(protocol: str, torch_model, seed: int):
    """scratchnet's ResNet18MNIST under ``protocol`` holding ``torch_model``'s weights and BatchNorm buffers
    (taken before either side trains): both libraries start from the same network."""
    model = scratch_models.ResNet18MNIST(protocol, rng=np.random.default_rng(seed))
    to_scratch(torch_model, model.resnet)
    return model


def scratch_train_and_test(model, recipe, train, test, seed: int, progress, log) -> History:
    """The same recipe in scratchnet (its own Adam/SGD, its own seeded batch order), scored on the test set."""
    optimizer, scheduler = scratch_optimizer(recipe, model)
    hist = scratch_train.fit(model, optimizer, train, epochs=recipe.epochs, batch_size=recipe.batch_size,
                             scheduler=scheduler, test_data=test, seed=seed, progress=progress, log=log)
    hist.final_test = scratch_train.final_metrics(model, *test)
    return hist


# ----------------------------------------------------------------------------------------------- outputs


def plot_losses(runs: dict[str, dict], folds: list[dict]):
    """Train and test loss per epoch (a colour per model and protocol; scratchnet solid, torch dashed with hollow
    markers, so twins that agree still show both), and SimpleNN's folds."""
    plt = pyplot()
    fig, (ax, cx, bx, lx) = plt.subplots(1, 4, figsize=(19, 4.6), gridspec_kw={"width_ratios": [1, 1, 1, 0.5]})
    colours = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(r["model"] for r in runs.values()))}
    epochs = max(len(r["history"].epochs) for r in runs.values())
    for r in runs.values():
        h, torch_line = r["history"], r["library"] == "torch"
        style = dict(color=colours[r["model"]], ls="--" if torch_line else "-", marker="s" if torch_line else "o",
                     mfc="none" if torch_line else colours[r["model"]], label=f"{r['model']} ({r['library']})")
        ax.plot(h.series("epoch"), h.series("train_loss"), **style)
        cx.plot(h.series("epoch"), h.series("test_loss"), **style)
    for a, title in ((ax, "Train loss (running mean over each epoch)"), (cx, "Test loss (after each epoch)")):
        a.set(xlabel="epoch", ylabel="cross-entropy (log scale)", yscale="log", title=title)
        epoch_axis(a, epochs)
        a.grid(alpha=0.3)
    lx.axis("off")  # the legend's own panel: the layout makes room for it, so it covers no labels
    lx.legend(*ax.get_legend_handles_labels(), loc="center left", fontsize=8, frameon=False)
    fold_histories = [History.from_dict(f) for f in folds]
    for i, h in enumerate(fold_histories):
        bx.plot(h.series("epoch"), h.series("train_loss"), "-o", ms=4, alpha=0.8, label=f"fold {i + 1}")
    bx.set(xlabel="epoch", ylabel="train loss (running mean, log scale)", yscale="log",
           title=f"SimpleNN: train loss of each of the {len(folds)} folds")
    epoch_axis(bx, max((len(h.epochs) for h in fold_histories), default=1))
    bx.grid(alpha=0.3)
    bx.legend(fontsize=7)
    return fig


def plot_confusions(runs: dict[str, dict]):
    """One confusion matrix per model and protocol, in a grid that grows with their number."""
    panels = [(r["history"].final_test["confusion_matrix"], f"{name}: {pct(r['history'].final_test['accuracy'])}")
              for name, r in runs.items()]
    return confusion_grid(panels, caption="test set; rows: true digit, columns: predicted; shading is log(1 + count)")


def plot_example(image: np.ndarray, label: int, probs: dict[str, np.ndarray]):
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [1, 2.4]})
    ax.imshow(image, cmap="gray")
    ax.set(title=f"test image 0: a {label}", xticks=[], yticks=[])
    width = 0.8 / len(probs)
    for i, (name, p) in enumerate(probs.items()):
        bx.bar(np.arange(10) + (i - (len(probs) - 1) / 2) * width, p, width, label=f"{name}: {int(p.argmax())}")
    bx.set(xticks=range(10), xlabel="digit", ylabel="probability", title="What each model predicts", ylim=(0, 1.05))
    bx.legend(fontsize=7)
    return fig


def metrics_rows(runs: dict[str, dict], kfold: dict[str, Any], k: int) -> list[dict[str, Any]]:
    m, s = kfold["mean"], kfold["std"]
    rows = [{"model": "SimpleNN (FFN)", "library": "torch", "protocol": f"{k}-fold cross-validation", "weights": "random init",
             "evaluated_on": f"held-out folds of the training set (mean of {k})", "accuracy": m["accuracy"],
             "precision": m["macro_precision"], "recall": m["macro_recall"], "f1": m["macro_f1"],
             "accuracy_std": s["accuracy"], "trainable_parameters": kfold["parameters"], "parameters": kfold["parameters"],
             "epochs": kfold["epochs"], "train_time_s": sum(f["train_time_s"] for f in kfold["folds"]),
             "device": kfold["device"]}]
    for r in runs.values():
        t = r["history"].final_test
        rows.append({"model": r["model"], "library": r["library"], "protocol": r["protocol"], "weights": r["weights"], "evaluated_on": "test set",
                     "accuracy": t["accuracy"], "precision": t["macro_precision"], "recall": t["macro_recall"],
                     "f1": t["macro_f1"], "accuracy_std": "", "trainable_parameters": r["trainable"],
                     "parameters": r["parameters"], "epochs": len(r["history"].epochs),
                     "train_time_s": r["history"].train_time_s, "device": r["device"]})
    return rows


RESULT_FIELDS = ["model", "library", "protocol", "weights", "evaluated on", "accuracy", "precision (macro)", "recall (macro)",
                 "F1 (macro)", "trainable / all parameters", "epochs", "train time", "device"]


def result_row(r: dict) -> list:
    acc = pct(r["accuracy"]) + (f" ± {100 * r['accuracy_std']:.2f}" if r["accuracy_std"] != "" else "")
    return [r["model"], r["library"], r["protocol"], r["weights"], r["evaluated_on"], acc, f"{r['precision']:.4f}", f"{r['recall']:.4f}",
            f"{r['f1']:.4f}", f"{r['trainable_parameters']:,} / {r['parameters']:,}", r["epochs"],
            f"{r['train_time_s']:.0f} s", r["device"]]


def library_lines(resnets: list[dict]) -> list[str]:
    """Per protocol trained by both libraries: their test accuracies and training times side by side."""
    lines = []
    for protocol in dict.fromkeys(r["protocol"] for r in resnets):
        by = {r["library"]: r for r in resnets if r["protocol"] == protocol}
        if len(by) == 2:
            t, s = by["torch"], by["scratchnet"]
            lines.append(f"- {protocol}: scratchnet {pct(s['accuracy'])} in {s['train_time_s']:.0f} s, torch {pct(t['accuracy'])} in "
                         f"{t['train_time_s']:.0f} s ({100 * (s['accuracy'] - t['accuracy']):+.2f} points; scratchnet "
                         f"took {s['train_time_s'] / t['train_time_s']:.2f}x torch's time).")
    return lines


def findings(rows: list[dict], kfold: dict, used: str, data: dict, args) -> list[str]:
    """What the numbers say, in sentences drawn from them."""
    best = max(rows[1:], key=lambda r: r["accuracy"])
    simple = next(r for r in rows[1:] if r["model"].startswith("SimpleNN"))
    resnets = [r for r in rows[1:] if r["model"].startswith("ResNet18")]
    lines = [f"- On the test set the best model here is **{best['model']}** trained by {best['library']} ({pct(best['accuracy'])}).",
             f"- SimpleNN: {pct(kfold['mean']['accuracy'])} ± {100 * kfold['std']['accuracy']:.2f} over "
             f"{args.k} folds (validation), {pct(simple['accuracy'])} on the test set after training on all "
             f"{data['n_train']} images."]
    for r in resnets:
        cmp = "above" if r["accuracy"] > simple["accuracy"] else "below"
        lines.append(f"- {r['model']} by {r['library']} ({r['trainable_parameters']:,} trainable parameters): "
                     f"{pct(r['accuracy'])}, {abs(100 * (r['accuracy'] - simple['accuracy'])):.2f} points {cmp} "
                     "SimpleNN on the test set.")
    both = library_lines(resnets)
    if both:
        lines += ["", TEXT["libraries"], "", *both, ""]
    judged = [r for r in resnets if r["library"] == resnets[0]["library"]] if resnets else []
    above = [r["protocol"] for r in judged if r["accuracy"] < simple["accuracy"]]
    below = [r["protocol"] for r in judged if r["accuracy"] >= simple["accuracy"]]
    epochs = sorted({r["epochs"] for r in resnets})
    budget = (f"SimpleNN trained {simple['epochs']} epochs, each ResNet18 protocol "
              f"{' / '.join(map(str, epochs))} epoch{'s' if epochs != [1] else ''}.")
    verdict = (f"on the test set ({judged[0]['library'] if judged else '-'}'s runs) SimpleNN is above ResNet18 "
               f"{', '.join(above) or 'in no protocol'}" + (f" and below it in {', '.join(below)}" if below else "") + ".")
    return lines + ["- The workshop concluded that the simple net beat the fine-tuned ResNet18 on MNIST. "
                    + (f"With ImageNet weights, as the workshop had: {verdict}" if used == "imagenet" else
                       f"These ResNet18 runs started from random weights, so they cannot test that claim; {verdict}")
                    + " " + budget]


def report_lines(rep: Report, rows: list[dict], kfold: dict, weights: dict, data_line: str, data: dict,
                 args) -> list[str]:
    title_weights = "ImageNet weights" if weights["used"] == "imagenet" else "random-init weights (no ImageNet weights)"
    lines = [*rep.header(f"SimpleNN vs ResNet18 on MNIST ({title_weights})"), data_line,
             f"- **ResNet18 weights used: {weights['description']}**"]
    if weights["not_found"]:
        lines += ["", TEXT["random_weights"], *[f"> {ln}" for ln in weights["not_found"].splitlines()]]
    return lines + ["", "## Results", "", *table(RESULT_FIELDS, map(result_row, rows)), "", "## What it says", "",
                    *findings(rows, kfold, weights["used"], data, args),
                    "", "![loss curves](loss.png)", "", "![confusion matrices](confusion.png)", "",
                    "![an example digit and each model's prediction](example.png)", "",
                    "Numbers: [metrics.csv](metrics.csv), SimpleNN folds [folds.csv](folds.csv), every epoch "
                    "[history.json](history.json). Trained ResNet18 state dicts: "
                    + ", ".join(f"`{p}`" for p in data["saved"]) + " (in the output directory; git ignores them).", ""]


# ----------------------------------------------------------------------------------------------- run


def run_simplenn(args, xtr, ytr, xte, yte, device, dev_label: str, progress, t0: float) -> tuple[dict, dict, Any]:
    """SimpleNN: k-fold over the training set, then the whole training set against the test set."""
    simple_epochs = SIMPLENN.epochs if args.ffn_epochs is None else args.ffn_epochs
    recipe = replace(SIMPLENN, epochs=simple_epochs)
    norm = data_normalization(recipe)
    train_all = to_device(xtr, ytr, device, normalization=norm)
    kfold = cross_validate(lambda fold: make_model("ffn", seed=args.seed + fold, device=device),
                           lambda m: build_optimizer(recipe, m), train_all, k=args.k, epochs=simple_epochs,
                           batch_size=recipe.batch_size, seed=args.seed, progress=progress,
                           log=lambda line: print(f"SimpleNN {args.k}-fold: {line}", flush=True))
    model = make_model("ffn", seed=args.seed, device=device)
    n = sum(p.numel() for p in model.parameters())
    kfold.update(parameters=n, epochs=simple_epochs, device=dev_label)
    test = to_device(xte, yte, device, normalization=norm)
    hist = train_and_test("SimpleNN", model, recipe, train_all, test, args.seed, progress, epoch_printer("SimpleNN", "torch", t0))
    run = {"model": "SimpleNN (FFN)", "library": "torch", "history": hist, "protocol": "whole training set",
           "weights": "random init", "trainable": n, "parameters": n, "device": dev_label}
    return kfold, run, torch_probabilities(model, test.x[:1])[0]


def run_resnet(args, protocol: str, used: str, splits, device, dev_label: str, progress, rep: Report,
               t0: float) -> dict[str, tuple[dict, Any]]:
    """ResNet18 fine-tuned by ``protocol`` on the training set and scored on the test set, by each library of
    ``args.libraries`` from the same initial weights; each trained state dict saved. Returns
    library -> (run, test image 0's probabilities)."""
    xtr, ytr, xte, yte = splits
    recipe = RESNET_RECIPES[protocol] if args.epochs is None else replace(RESNET_RECIPES[protocol], epochs=args.epochs)
    norm = data_normalization(recipe)
    model = make_model("resnet18", seed=args.seed, device=device, protocol=protocol, weights=used,
                       weights_file=args.weights_file if used == "imagenet" else None, download=not args.no_download,
                       image_size=args.image_size)
    # the twin copies the weights before torch trains them
    twin = scratch_twin(protocol, model, args.seed) if "scratchnet" in args.libraries else None
    name = f"ResNet18 {protocol}"
    common = {"model": name, "protocol": protocol, "weights": model.info["weights"]["description"], "recipe": recipe.source,
              "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
              "parameters": sum(p.numel() for p in model.parameters())}
    out: dict[str, tuple[dict, Any]] = {}
    if "torch" in args.libraries:
        train, test = (to_device(x, y, device, normalization=norm) for x, y in ((xtr, ytr), (xte, yte)))
        hist = train_and_test(name, model, recipe, train, test, args.seed, progress, epoch_printer(name, "torch", t0))
        hist.other["resnet"] = model.info
        rep.written.append(save_state_dict(rep.out / f"resnet18_{protocol}.pt", model))
        out["torch"] = ({**common, "history": hist, "library": "torch", "device": dev_label},
                        torch_probabilities(model, test.x[:1])[0])
    if twin is not None:
        train, test = (normalize(xtr, norm), ytr), (normalize(xte, norm), yte)
        hist = scratch_train_and_test(twin, recipe, train, test, args.seed, progress, epoch_printer(name, "scratchnet", t0))
        hist.other["resnet"] = {**model.info, "library": "scratchnet", "model": "scratchnet.models.ResNet18MNIST"}
        rep.npz(f"resnet18_{protocol}_scratchnet.npz", twin.resnet.state_dict())
        out["scratchnet"] = ({**common, "history": hist, "library": "scratchnet",
                              "device": f"CPU ({rep.info['processor']})"}, scratch_probabilities(twin, test[0][:1])[0])
    return out


def plan_line(args, device) -> str:
    what = ("a data subset, 1 epoch each" if args.quick else
            f"SimpleNN {args.k}-fold then on all 60,000 images; ResNet18 {', '.join(args.protocols)}, each by "
            f"{' and '.join(args.libraries)} from the same weights")
    guide = "" if args.quick else f"; {plan_guide('finetune')} with the defaults"
    return f"finetune: {what} (torch on {device}, scratchnet on the CPU){guide}; then the report in {args.out}/"


def run(args) -> Report:
    rep, device, progress = start(args)
    used, weights_line, weights_error = resolve_weights(args.weights, args.weights_file, not args.no_download)
    weights = {"used": used, "description": weights_line, "not_found": weights_error}
    xtr, ytr, xte, yte, directory = load_splits(args.data_dir, args.quick)
    dev_label = (torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({rep.info['processor']})")
    data_line, data = rep.data(directory, len(ytr), len(yte), args.quick)
    t0 = time.perf_counter()
    print(plan_line(args, device), flush=True)
    kfold, simple, probs0 = run_simplenn(args, xtr, ytr, xte, yte, device, dev_label, progress, t0)
    runs: dict[str, dict] = {"SimpleNN (FFN)": simple}
    probs: dict[str, np.ndarray] = {"SimpleNN": probs0}
    for protocol in tqdm(args.protocols, desc="ResNet18 protocols", disable=progress is False or None):
        for library, (r, p0) in run_resnet(args, protocol, used, (xtr, ytr, xte, yte), device, dev_label, progress,
                                           rep, t0).items():
            runs[f"ResNet18 {protocol} ({library})"], probs[f"{protocol} ({library})"] = r, p0
    data["saved"] = [p.name for p in rep.written if p.suffix in (".pt", ".npz")]
    rows = metrics_rows(runs, kfold, args.k)
    rep.csv("metrics.csv", rows, list(rows[0]), float_format=".6f")
    rep.csv("folds.csv", kfold["folds"], list(kfold["folds"][0]), float_format=".6f")
    rep.json("history.json", {
        "provenance": rep.info, "weights": weights, "data": data, "metrics": rows,
        "kfold": {k: v for k, v in kfold.items() if k != "histories"}, "kfold_histories": kfold["histories"],
        "runs": {name: {**r, "history": r["history"].to_dict()} for name, r in runs.items()},
        "wall_time_s": time.perf_counter() - t0,
    }, default=str)
    rep.figure("loss.png", plot_losses(runs, kfold["histories"]))
    rep.figure("confusion.png", plot_confusions(runs))
    rep.figure("example.png", plot_example(xte[0], int(yte[0]), probs))
    lines = report_lines(rep, rows, kfold, weights, data_line, data, args)
    rep.markdown("report.md", lines)
    rep.print_results(lines, "## Results", t0)
    return rep


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
    p.add_argument("--image-size", type=int, default=28,
                   help="side the digits are resized to for torch's ResNet18 (scratchnet's takes 28 only) (default 28)")
    p.add_argument("--libraries", default=",".join(LIBRARIES),
                   help="comma-separated libraries that train the ResNet18 protocols, from torch, scratchnet; each "
                        "from the same initial weights (default torch,scratchnet)")
    add_report_arguments(p, "finetune", quick="one epoch each, 3 folds")
    args = p.parse_args(argv)
    args.protocols = [s.strip() for s in args.protocols.split(",") if s.strip()]
    unknown = [s for s in args.protocols if s not in PROTOCOLS]
    if unknown:
        p.error(f"--protocols: unknown {', '.join(unknown)}; expected some of {', '.join(PROTOCOLS)}")
    args.libraries = [s.strip() for s in args.libraries.split(",") if s.strip()]
    if not args.libraries or set(args.libraries) - set(LIBRARIES):
        p.error(f"--libraries: expected some of {', '.join(LIBRARIES)}, got {', '.join(args.libraries) or 'none'}")
    if "scratchnet" in args.libraries and args.image_size != 28:
        p.error(f"--image-size {args.image_size}: scratchnet's ResNet18MNIST takes the 28 px digits; "
                "use --libraries torch for other sizes")
    if args.k < 2:
        p.error(f"--k must be >= 2, got {args.k}")
    check_counts(p, epochs=args.epochs, ffn_epochs=args.ffn_epochs)
    if args.weights == "none" and args.weights_file:
        p.error("--weights-file given with --weights none; drop one of them")
    if args.quick:
        args.epochs = args.ffn_epochs = 1
        args.k = min(args.k, 3)
    return run_report(lambda: run(args), (WeightsNotFoundError,))


__all__ = ["SIMPLENN", "resolve_weights", "metrics_rows", "run", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
