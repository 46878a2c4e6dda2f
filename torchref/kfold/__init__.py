"""k-fold cross-validation of any torchref model over the MNIST training set, on the device.

    python -m torchref.kfold --model ffn --k 5                       # the recipe's epochs per fold
    python -m torchref.kfold --model seedcnn --k 5 --epochs 2 --subset 12000 --out runs/kfold

Folds come from ``scratchnet.data.kfold_indices`` (stratified by default, like
``scratchnet.train.cross_validate``); fold f trains a fresh model seeded ``seed + f`` on the other
folds with batch order seed ``seed + f``, and is scored on its held-out fold: accuracy, macro
precision, recall and F1, then mean and sample std (ddof=1) over folds. Writes
``<out>/<run>_kfold.json`` (folds, mean, std, per-fold histories, provenance) and ``<out>/<run>_kfold.csv``.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from torch import nn

from scratchnet.fileio import atomic_write_text
from scratchnet.recipes import Recipe
from scratchnet.run.crossval import cross_validate_folds
from scratchnet.run.history import FOLD_METRICS
from scratchnet.run.outputs import claim_outputs
from scratchnet.run.provenance import describe_split, run_provenance

from ..data import DeviceData, load_device_mnist
from ..device import select_device
from ..recipes import build_optimizer, data_normalization, make_model, run_keywords, run_name
from ..train import environment, final_metrics, fit

METRICS = FOLD_METRICS


def cross_validate(build_model: Callable[[int], nn.Module], build_optimizer: Callable[[nn.Module], Any],
                   data: DeviceData, *, k: int = 5, seed: int = 0, stratified: bool = True, num_classes: int = 10,
                   log: Callable[[str], None] | None = None, **fit_options: Any) -> dict[str, Any]:
    """k-fold cross-validation, as ``scratchnet.train.cross_validate`` (the same folds and arguments), on the device.

    build_model : ``build_model(fold)`` -> a new model on ``data``'s device (seed it from the fold).
    build_optimizer : ``build_optimizer(model)`` -> an optimiser, or (optimiser, scheduler).
    data : the whole set on the device; folds are index selections of it.
    fit_options : passed to :func:`torchref.train.fit` (``epochs`` and ``batch_size`` required; bf16,
        channels_last, compile, deterministic ...), fold f's batches seeded ``seed + f``.

    Returns {"k", "stratified", "folds": [{fold, train_samples, val_samples, accuracy, macro_precision,
    macro_recall, macro_f1, loss, train_time_s}], "mean": {...}, "std": {...} (ddof=1),
    "histories": per-fold fit histories} -- the shape of ``scratchnet.train.cross_validate``'s result
    plus the histories.
    """
    def fit_fold(fold: int, train_idx, val_idx):
        model = build_model(fold)
        built = build_optimizer(model)
        optimizer, scheduler = built if isinstance(built, tuple) else (built, None)
        history = fit(model, optimizer, data.subset(train_idx), scheduler=scheduler, seed=seed + fold, **fit_options)
        metrics = final_metrics(model, data.subset(val_idx), num_classes, bf16=history.config["bf16"])
        history.other["val_report"] = metrics
        return history, metrics

    result, histories = cross_validate_folds(fit_fold, data.y.cpu().numpy(), k=k, seed=seed, stratified=stratified,
                                             log=log)
    return {**result, "histories": [h.to_dict() for h in histories]}


def folds_csv(result: dict[str, Any]) -> str:
    """One row per fold, then the mean and std rows."""
    buf = io.StringIO()
    cols = ["fold", "train_samples", "val_samples", *METRICS]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in result["folds"]:
        w.writerow(row)
    for name in ("mean", "std"):
        w.writerow({"fold": name, **result[name]})
    return buf.getvalue()


#: run()'s keywords that a fold has no use for: a fold is scored on its held-out part, not tested, resumed or saved
NOT_PER_FOLD = ("test_subset", "checkpoint", "resume", "save_model")
#: run()'s keywords that go on to every fold's fit
FIT_OPTIONS = ("bf16", "channels_last", "compile", "deterministic")


def run_kfold(recipe: Recipe, *, k: int = 5, stratified: bool = True, out: str | Path = "runs/kfold",
              **options: Any) -> dict[str, Any]:
    """Cross-validate one recipe over the MNIST training set; write JSON and CSV; return the result.

    ``options``: the keywords of :func:`torchref.recipes.run`, with its defaults, but for ``NOT_PER_FOLD``: the
    model (protocol, image_size, weights, weights_file, download, init), the data (data_dir, subset), seed, device,
    dtype, progress, log, and ``FIT_OPTIONS``, which every fold's fit gets as run() gives them to its one fit.
    """
    wall0 = time.perf_counter()
    o = SimpleNamespace(**run_keywords(options, "run_kfold", exclude=NOT_PER_FOLD))
    dev = select_device(o.device)
    with claim_outputs(out, summary=False) as out:  # checked and locked before any data is read
        data = load_device_mnist(o.data_dir, "train", dev, normalization=data_normalization(recipe), subset=o.subset,
                                 dtype=o.dtype)
        name = run_name(recipe.model, o.protocol)
        log = o.log
        log(f"{name}: {k}-fold cross-validation ({'stratified' if stratified else 'plain'}) over {len(data)} training "
            f"images, {recipe.epochs} epochs per fold; device {dev}")

        def build(fold: int) -> nn.Module:
            return make_model(recipe.model, seed=o.seed + fold, device=dev, dtype=o.dtype, init=o.init,
                              protocol=o.protocol or "workshop", weights=o.weights, weights_file=o.weights_file,
                              download=o.download, image_size=o.image_size, deterministic=o.deterministic)

        result = cross_validate(build, lambda m: build_optimizer(recipe, m), data, k=k, epochs=recipe.epochs,
                                batch_size=recipe.batch_size, seed=o.seed, stratified=stratified,
                                progress=o.progress, log=log, **{key: getattr(o, key) for key in FIT_OPTIONS})
        result["model"] = name
        result["provenance"] = {
            "recipe": asdict(recipe), **run_provenance(), "seed": o.seed, "init": o.init,
            "data": describe_split(data.info["directory"], "train"), "samples": len(data), "environment": environment(dev),
            "wall_time_s": time.perf_counter() - wall0,
        }
        atomic_write_text(out / f"{name}_kfold.json", json.dumps(result, indent=1))
        atomic_write_text(out / f"{name}_kfold.csv", folds_csv(result))
        m, s = result["mean"], result["std"]
        log(" | ".join(f"{key} {m[key]:.4f} ± {s[key]:.4f}" for key in METRICS[:4]))
        return result


__all__ = ["cross_validate", "run_kfold", "folds_csv", "NOT_PER_FOLD", "FIT_OPTIONS"]
