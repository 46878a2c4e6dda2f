"""scratchnet's recipes in torch (plus ResNet18 fine-tuning), and ``run``: one recipe trained end to end.

The FFN, SeedCNN and ExamplesNet recipes are ``scratchnet.recipes.RECIPES`` themselves. Each run writes
``<out>/<run>.json`` (a :class:`scratchnet.run.History`, final test metrics with confusion matrix,
provenance), ``<out>/<run>.png`` and refreshes ``<out>/README.md``. ResNet18 runs are named
``resnet18_<protocol>``. The command line is ``python -m torchref.train``.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scratchnet import models as scratch_models
from scratchnet import recipes as scratch_recipes
from scratchnet.recipes import RECIPES as SCRATCH_RECIPES
from scratchnet.recipes import SPEEDRUN, Recipe, SpeedrunRecipe, run_stem
from scratchnet.run.history import History
from scratchnet.run.outputs import claim_outputs
from scratchnet.run.provenance import data_source, run_provenance
from scratchnet.run.summary import finish_run

from .checkpoint import save_state_dict
from .data import load_device_mnist
from .device import select_device
from .models import SpeedCNN, build_model
from .resnet import build_resnet18
from .train import final_metrics, fit
from .transfer import load_scratch_weights

#: ResNet18 fine-tuning recipes, one per protocol. references.md gives the workshop's layer surgery but
#: not its optimiser, batch or epochs: Adam 1e-3 is its SimpleNN's; SGD 0.01 is the public full
#: fine-tuning notebook's (~98.2% after one epoch at 28 px). Batch 64 and 3 epochs are our choice.
RESNET_RECIPES: dict[str, Recipe] = {
    "workshop": Recipe("resnet18", "adam", 1e-3, 64, 3, "half",
                       source="the workshop's ResNet18: ImageNet backbone frozen, new conv1 (1->64) and fc (512->10); "
                              "Adam 1e-3 as its SimpleNN (optimiser, batch and epochs not given in the reference)"),
    "linear-probe": Recipe("resnet18", "adam", 1e-3, 64, 3, "imagenet",
                           source="linear probe: pretrained conv1 on grey replicated to 3 channels, ImageNet mean/std; "
                                  "only fc trains; Adam 1e-3"),
    "full": Recipe("resnet18", "sgd", 1e-2, 64, 3, "imagenet",
                   source="full fine-tuning, grey replicated to 3 channels, ImageNet mean/std; SGD 0.01 as the public "
                          "notebook in references.md"),
}
MODEL_NAMES = (*sorted(SCRATCH_RECIPES), "resnet18")


def recipe_for(model: str, protocol: str | None = None) -> Recipe:
    """scratchnet's recipe for a twin, or the ResNet18 recipe of ``protocol`` (default workshop)."""
    if model == "resnet18":
        return RESNET_RECIPES[protocol or "workshop"]
    if model not in SCRATCH_RECIPES:
        raise ValueError(f"unknown model {model!r}: expected one of {', '.join(MODEL_NAMES)}")
    return SCRATCH_RECIPES[model]


def data_normalization(recipe: Recipe) -> str:
    """The preset the data pipeline applies: the ImageNet protocols get x/255 and normalise in the model."""
    return "unit" if recipe.normalization == "imagenet" else recipe.normalization


def build_optimizer(recipe: Recipe, model: nn.Module):
    """scratchnet's ``build_optimizer`` with torch's classes, over the trainable parameters only."""
    return scratch_recipes.build_optimizer(recipe, model, params=[p for p in model.parameters() if p.requires_grad],
                                           optimizers=torch.optim, schedulers=torch.optim.lr_scheduler)


def speedrun_model(recipe: SpeedrunRecipe = SPEEDRUN, *, seed: int = 0, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> SpeedCNN:
    """The speedrun recipe's SpeedCNN twin, with torch's initialisation after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return SpeedCNN(**recipe.model_kwargs()).to(device=device, dtype=dtype)


def speedrun_loss(recipe: SpeedrunRecipe = SPEEDRUN) -> nn.CrossEntropyLoss:
    """torch's twin of ``scratchnet.recipes.speedrun_loss``: cross-entropy with the recipe's label smoothing."""
    return nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)


def speedrun_optimizer(recipe: SpeedrunRecipe, model: nn.Module, steps_per_epoch: int):
    """torch's twin of ``scratchnet.recipes.speedrun_optimizer`` (that function, with torch's classes): SGD
    (Nesterov) or Adam and OneCycleLR, the scheduler stepped after every batch (``scheduler_interval="step"``)."""
    return scratch_recipes.speedrun_optimizer(recipe, model, steps_per_epoch, optimizers=torch.optim,
                                              schedulers=torch.optim.lr_scheduler)


def make_model(name: str, *, seed: int = 0, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
               init: str = "torch", protocol: str = "workshop", weights: str = "imagenet",
               weights_file: str | None = None, download: bool = True, image_size: int = 28,
               deterministic: bool = False) -> nn.Module:
    """A seeded model on ``device``. ``torch.manual_seed(seed)`` first, so init and dropout repeat.

    ``init="scratchnet"`` starts a twin from scratchnet's initial weights for the same seed
    (``scratchnet.models.build_model(name, rng=np.random.default_rng(seed))``, as ``python -m
    scratchnet.train`` builds it): with the same batches, both implementations then start equal.
    """
    torch.manual_seed(seed)
    if name == "resnet18":
        if init != "torch":
            raise ValueError("--init scratchnet applies to ffn, seedcnn and examplesnet (scratchnet has no ResNet18)")
        model = build_resnet18(protocol, weights=weights, weights_file=weights_file, download=download,
                               image_size=image_size, deterministic=deterministic)
    else:
        model = build_model(name)
        if init == "scratchnet":
            np_dtype = np.float64 if dtype == torch.float64 else np.float32
            scratch = scratch_models.build_model(name, dtype=np_dtype, rng=np.random.default_rng(seed))
            model.to(dtype)
            load_scratch_weights(model, scratch.state_dict())
        elif init != "torch":
            raise ValueError(f"init must be 'torch' or 'scratchnet', got {init!r}")
    return model.to(device=device, dtype=dtype)


def run_name(model: str, protocol: str | None = None) -> str:
    return f"resnet18_{protocol or 'workshop'}" if model == "resnet18" else model


def run_file_stem(recipe: Recipe, protocol: str | None = None, seed: int = 0, *, init: str = "torch",
                  weights: str = "imagenet", image_size: int = 28, subset: int | None = None, float64: bool = False,
                  bf16: bool = False) -> str:
    """File stem of a run, named as scratchnet names its runs: what differs from the recipe (and, here,
    from torchref's defaults: init, ResNet18 weights and input size, bf16), then the seed."""
    if recipe.model != "resnet18":
        stem = run_stem(recipe, 0, subset=subset, float64=float64)
    else:  # named by protocol; a ResNet18 stem has never named the normalisation
        base = replace(RESNET_RECIPES[protocol or "workshop"], normalization=recipe.normalization)
        stem = run_stem(recipe, 0, subset=subset, float64=float64, name=run_name(recipe.model, protocol), base=base)
        stem += "_random" if weights == "none" else ""
        stem += f"_px{image_size}" if image_size != 28 else ""
    stem += "_scratchinit" if init == "scratchnet" else ""
    stem += "_bf16" if bf16 else ""
    return stem if seed == 0 else f"{stem}_seed{seed}"


def run(
    recipe: Recipe,
    *,
    protocol: str | None = None,
    image_size: int = 28,
    weights: str = "imagenet",
    weights_file: str | None = None,
    download: bool = True,
    data_dir: str | None = None,
    out: str | Path = "runs/torchref",
    seed: int = 0,
    subset: int | None = None,
    test_subset: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    init: str = "torch",
    bf16: bool = False,
    channels_last: bool = False,
    compile: bool = False,
    deterministic: bool = False,
    checkpoint: str | None = None,
    resume: bool = False,
    save_model: str | None = None,
    progress: bool | None = None,
    log=print,
) -> History:
    """Train one recipe on MNIST with torch, test it, write history, figure and summary; return the history."""
    wall0 = time.perf_counter()
    dev = select_device(device)
    protocol = protocol or "workshop"  # (a twin ignores it)
    with claim_outputs(out, checkpoint) as out:  # checked and locked before any data is read
        name = run_file_stem(recipe, protocol, seed, init=init, weights=weights, image_size=image_size, subset=subset,
                             float64=dtype == torch.float64, bf16=bf16)
        norm = data_normalization(recipe)
        train = load_device_mnist(data_dir, "train", dev, normalization=norm, subset=subset, dtype=dtype)
        test = load_device_mnist(data_dir, "test", dev, normalization=norm, subset=test_subset, dtype=dtype)
        model = make_model(recipe.model, seed=seed, device=dev, dtype=dtype, init=init, protocol=protocol,
                           weights=weights, weights_file=weights_file, download=download, image_size=image_size,
                           deterministic=deterministic)
        opt, sched = build_optimizer(recipe, model)
        source = data_source(train.info["directory"], test.info["directory"], len(train), len(test))
        extra: dict[str, Any] = {"recipe": asdict(recipe), "data": source, **run_provenance(), "init": init,
                                 "implementation": "torchref"}
        if recipe.model == "resnet18":
            extra["resnet"] = model.info
            extra["weights"] = model.info["weights"]["description"]
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        log(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters ({trainable:,} trainable); {recipe.source}")
        if recipe.model == "resnet18":
            log(f"weights: {extra['weights']}; architecture: {model.info['architecture']}")
        log(f"data: {len(train)} train / {len(test)} test images, {source['label']}; device {dev}; "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        display = scratch_models.MODELS[recipe.model].__name__ if recipe.model in scratch_models.MODELS \
            else f"ResNet18-{protocol}"
        history = fit(
            model, opt, train, epochs=recipe.epochs, batch_size=recipe.batch_size, scheduler=sched, test_data=test,
            seed=seed, bf16=bf16, channels_last=channels_last, compile=compile, deterministic=deterministic,
            checkpoint_path=checkpoint, resume=resume, history_path=out / f"{name}.json", progress=progress, log=log,
            extra=extra, model_name=display,
        )
        for note in history.notes or []:
            log(f"note: {note}")
        final = final_metrics(model, test, bf16=history.config["bf16"])
        if save_model:
            extra["saved_model"] = Path(save_state_dict(save_model, model)).name
        return finish_run(history, out / name, final, wall0, log)


def run_keywords(given: dict[str, Any], caller: str, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """``given`` keywords of :func:`run` with its defaults filled in, for a caller that takes run()'s options as
    ``**options`` (``torchref.kfold.run_kfold``); one that run() does not take, or ``exclude`` names, is a TypeError
    naming it, as Python's own."""
    params = {name: p.default for name, p in inspect.signature(run).parameters.items() if p.kind is p.KEYWORD_ONLY}
    wrong = sorted(set(given) - set(params) | set(given) & set(exclude))
    if wrong:
        raise TypeError(f"{caller}() got unexpected keyword argument(s): {', '.join(wrong)} (it takes run()'s "
                        f"keywords{', except ' + ', '.join(exclude) if exclude else ''})")
    return {**{name: d for name, d in params.items() if name not in exclude}, **given}


__all__ = ["speedrun_model", "speedrun_loss", "speedrun_optimizer", "RESNET_RECIPES", "MODEL_NAMES", "recipe_for", "build_optimizer", "make_model", "run", "run_file_stem", "run_keywords",
           "run_name", "data_normalization"]
