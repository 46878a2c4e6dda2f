"""scratchnet's recipes in torch (plus ResNet18 fine-tuning), runnable from the command line.

    python -m torchref.train --model seedcnn                          # Adam 1e-3, batch 60, 10 epochs
    python -m torchref.train --model examplesnet --device cuda --bf16 --channels-last
    python -m torchref.train --model resnet18 --protocol workshop --weights imagenet --image-size 64
    python -m torchref.train summary reports/mnist_cpu_torch           # rebuild the summary

The FFN, SeedCNN and ExamplesNet recipes are ``scratchnet.recipes.RECIPES`` themselves; flags mean what
they mean for ``python -m scratchnet.train``. Each run writes ``<out>/<model>.json`` (history with the
same keys as scratchnet's, final test metrics with confusion matrix, provenance), ``<out>/<model>.png``
and refreshes ``<out>/README.md``. ResNet18 runs are named ``resnet18_<protocol>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scratchnet import models as scratch_models
from scratchnet.data import IDXError, MNISTNotFoundError
from scratchnet.fileio import atomic_write_text
from scratchnet.recipes import RECIPES as SCRATCH_RECIPES
from scratchnet.recipes import Recipe, command_line, git_commit, plot_history, run_command, run_stem, seed_lines

from .checkpoint import save_state_dict
from .data import load_device_mnist
from .device import DeviceError, select_device
from .models import build_model
from .resnet import PROTOCOLS, WeightsNotFoundError, build_resnet18
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
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


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
    """torch's Adam/Adadelta/SGD over the trainable parameters with the recipe's lr (like scratchnet's
    ``build_optimizer``: defaults otherwise), and StepLR when the recipe has one."""
    opts = {"adam": torch.optim.Adam, "adadelta": torch.optim.Adadelta, "sgd": torch.optim.SGD}
    if recipe.optimizer not in opts:
        raise ValueError(f"optimizer: expected one of {sorted(opts)}, got {recipe.optimizer!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = opts[recipe.optimizer](params, lr=recipe.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, recipe.scheduler_step, recipe.scheduler_gamma) if recipe.scheduler_step else None
    return opt, sched


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
    else:
        stem = run_name(recipe.model, protocol)
        base = RESNET_RECIPES[protocol or "workshop"]
        for flag, differs in ((f"_ep{recipe.epochs}", recipe.epochs != base.epochs),
                              (f"_lr{recipe.lr:g}", recipe.lr != base.lr),
                              (f"_b{recipe.batch_size}", recipe.batch_size != base.batch_size),
                              (f"_sub{subset}", bool(subset)), ("_f64", float64)):
            stem += flag if differs else ""
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
    out: str | Path = "reports/mnist_torch",
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
) -> dict[str, Any]:
    """Train one recipe on MNIST with torch, test it, write history, figure and summary; return the history."""
    wall0 = time.perf_counter()
    out = Path(out)
    dev = select_device(device)
    name = run_file_stem(recipe, protocol, seed, init=init, weights=weights, image_size=image_size, subset=subset,
                         float64=dtype == torch.float64, bf16=bf16)
    if recipe.model == "resnet18" and protocol is None:
        protocol = "workshop"
    norm = data_normalization(recipe)
    train = load_device_mnist(data_dir, "train", dev, normalization=norm, subset=subset, dtype=dtype)
    test = load_device_mnist(data_dir, "test", dev, normalization=norm, subset=test_subset, dtype=dtype)
    model = make_model(recipe.model, seed=seed, device=dev, dtype=dtype, init=init, protocol=protocol or "workshop",
                       weights=weights, weights_file=weights_file, download=download, image_size=image_size,
                       deterministic=deterministic)
    opt, sched = build_optimizer(recipe, model)
    source = {"train_dir": train.info["directory"], "test_dir": test.info["directory"],
              "train_samples": len(train), "test_samples": len(test)}
    extra: dict[str, Any] = {
        "recipe": asdict(recipe), "data": source, "command": command_line(), "git_commit": git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "init": init,
        "implementation": "torchref",
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    if recipe.model == "resnet18":
        extra["resnet"] = model.info
        extra["weights"] = model.info["weights"]["description"]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters ({trainable:,} trainable); {recipe.source}")
    if recipe.model == "resnet18":
        log(f"weights: {extra['weights']}; architecture: {model.info['architecture']}")
    log(f"data: {len(train)} train / {len(test)} test images from {source['train_dir']}; device {dev}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    model_names = {"ffn": "FFN", "seedcnn": "SeedCNN", "examplesnet": "ExamplesNet"}
    display = model_names.get(recipe.model, f"ResNet18-{protocol}")
    history = fit(
        model, opt, train, epochs=recipe.epochs, batch_size=recipe.batch_size, scheduler=sched, test_data=test,
        seed=seed, bf16=bf16, channels_last=channels_last, compile=compile, deterministic=deterministic,
        checkpoint_path=checkpoint, resume=resume, history_path=out / f"{name}.json", progress=progress, log=log,
        extra=extra, model_name=display,
    )
    for note in history["notes"]:
        log(f"note: {note}")
    history["final_test"] = final_metrics(model, test, bf16=history["config"]["bf16"])
    if save_model:
        extra["saved_model"] = str(save_state_dict(save_model, model))
    extra["wall_time_s"] = time.perf_counter() - wall0
    extra["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    atomic_write_text(out / f"{name}.json", json.dumps(history, indent=1))
    plot_history(history, out / f"{name}.png")
    write_summary(out)
    t = history["final_test"]
    log(f"test accuracy {t['accuracy']:.4f}, macro F1 {t['macro_f1']:.4f}; training took {history['train_time_s']:.1f} s "
        f"(wall time {extra['wall_time_s']:.1f} s)")
    return history


def _is_torchref_history(h: dict[str, Any]) -> bool:
    return "final_test" in h and "torch" in h.get("environment", {})


def write_summary(out: str | Path) -> Path:
    """README.md of a torchref run directory: one row per finished torchref history, with provenance."""
    rows, prov, devices, by_recipe = [], [], set(), {}
    for path in sorted(Path(out).glob("*.json")):
        try:
            h = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(h, dict) or not _is_torchref_history(h):
            continue
        r, t, env, cfg, ex = h["extra"]["recipe"], h["final_test"], h["environment"], h["config"], h["extra"]
        devices.add(env["device_name"])
        setting = {"recipe": r, "dtype": cfg.get("dtype"), "init": ex.get("init"), "weights": ex.get("weights"),
                   "samples": [ex["data"].get(k) for k in ("train_samples", "test_samples")],
                   "flags": [k for k in ("bf16", "channels_last", "compile") if cfg.get(k)], "device": cfg["device"]}
        key = (h["model"], json.dumps(setting, sort_keys=True, default=str), len(h["epochs"]), False)
        by_recipe.setdefault(key, []).append((cfg["seed"], t["accuracy"], None))
        sched = f" + StepLR({r['scheduler_step']}, {r['scheduler_gamma']})" if r.get("scheduler_step") else ""
        flags = [k for k in ("bf16", "channels_last", "compile", "deterministic") if cfg.get(k)]
        rows.append(
            f"| {h['model']} | {cfg['device']}{' (' + ', '.join(flags) + ')' if flags else ''} | "
            f"{r['optimizer']} {r['lr']:g}{sched} | {r['batch_size']} | {len(h['epochs'])} | {r['normalization']} | "
            f"**{100 * t['accuracy']:.2f}%** | {100 * t['macro_f1']:.2f}% | "
            f"{100 * h['epochs'][-1]['train_accuracy']:.2f}% | {h['train_time_s']:.1f} s | "
            f"{np.mean([e['images_per_s'] for e in h['epochs']]):.0f} | {cfg['seed']} | "
            f"[history]({path.name}), [plot]({path.stem}.png) |"
        )
        nd = h.get("nondeterminism", {})
        repro = "reproducible with the same seed" if nd.get("reproducible") else \
            "may vary: " + "; ".join(nd.get("nondeterministic_kernels", []))
        wall = f"wall time {ex['wall_time_s']:.1f} s" if "wall_time_s" in ex else "wall time not recorded"
        if ex.get("load_average_at_start") and ex.get("load_average_at_end"):
            start, end = ex["load_average_at_start"][0], ex["load_average_at_end"][0]
            wall += f" (1-min load average {start:.2f} at start, {end:.2f} at end"
            wall += f"; above the {env['cpu_count']} cores: other processes shared them, times are upper bounds)" \
                if max(start, end) > env["cpu_count"] else ")"
        line = (
            f"- {h['model']}: {ex['date']}, `{ex['command']}`, commit {ex['git_commit']}; "
            f"{env['processor']} ({env['cpu_count']} cores), device {env['device_name']}"
            f"{', CUDA ' + str(env['cuda_version']) + ', cuDNN ' + str(env['cudnn_version']) if cfg['device'].startswith('cuda') else ''}; "
            f"Python {env['python']}, NumPy {env['numpy']}, torch {env['torch']} ({env['torch_threads']} threads), "
            f"torchvision {env['torchvision']}; seed {cfg['seed']}, init {ex.get('init', 'torch')}; "
            f"{h['trainable_parameters']:,} of {h['num_parameters']:,} parameters trained; "
            f"data {ex['data']['train_samples']} train / {ex['data']['test_samples']} test images; "
            f"train time {h['train_time_s']:.1f} s (median epoch {np.median([e['time_s'] for e in h['epochs']]):.1f} s), "
            f"{wall}; {repro}"
        )
        if "weights" in ex:
            line += f"; weights {ex['weights']}"
        prov.append(line)
    where = ", ".join(sorted(devices)) or "no runs yet"
    text = "\n".join([
        f"# torchref on MNIST ({where})",
        "",
        "The PyTorch reference, trained with `python -m torchref.train` on scratchnet's recipes and the very",
        "batch order scratchnet uses for the same seed (`scratchnet.data.epoch_order`); every number below is",
        "read from the run's history file, whose keys are those of scratchnet's histories. Test accuracy is",
        "measured on the test set after the last epoch; the train accuracy is the running accuracy over the",
        "last epoch's batches (dropout on). Train time counts the training steps only; wall time is the whole",
        "command (data loading, evaluation after every epoch, writing files).",
        "",
        "| model | device | optimiser | batch | epochs | normalisation | test acc | test macro F1 | train acc | train time | img/s | seed | files |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *seed_lines(by_recipe),
        "## Provenance",
        "",
        *prov,
        "",
    ])
    return atomic_write_text(Path(out) / "README.md", text)


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``torchref.train`` and ``torchref.kfold``."""
    p.add_argument("--model", choices=MODEL_NAMES, required=True)
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--batch-size", type=int, help="default: the recipe's")
    p.add_argument("--lr", type=float, help="default: the recipe's")
    p.add_argument("--normalization", choices=["unit", "mnist", "half"],
                   help="input scaling: /255 only, (0.1307, 0.3081) or (0.5, 0.5) (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="directory of MNIST-format IDX files (default: MNIST_DIR, cache, download)")
    p.add_argument("--subset", type=int, help="use the first N training images only")
    p.add_argument("--float64", action="store_true", help="train in float64 instead of float32")
    p.add_argument("--init", choices=["torch", "scratchnet"], default="torch",
                   help="initial weights: torch's init seeded by --seed, or scratchnet's for the same seed")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only; ignored with a note elsewhere)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (CUDA only)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (off by default)")
    p.add_argument("--deterministic", action="store_true",
                   help="torch.use_deterministic_algorithms(True), cuDNN deterministic, no autotuner")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    g = p.add_argument_group("ResNet18 (--model resnet18 only)")
    g.add_argument("--protocol", choices=PROTOCOLS, help="workshop (default), linear-probe or full")
    g.add_argument("--image-size", type=int, help="resize the 28x28 digits on the device (28, 64, 112, 224 ...)")
    g.add_argument("--weights", choices=["imagenet", "none"], help="ImageNet IMAGENET1K_V1 (default) or random init")
    g.add_argument("--weights-file", help="the ImageNet resnet18 .pth to use (else the torch hub cache, then a download)")
    g.add_argument("--no-download", action="store_true", help="never download the ImageNet weights")


def resolve_arguments(p: argparse.ArgumentParser, args: argparse.Namespace) -> Recipe:
    """Check flag combinations (p.error on a bad one), set threads, return the recipe with overrides."""
    resnet_flags = {"--protocol": args.protocol, "--image-size": args.image_size, "--weights": args.weights,
                    "--weights-file": args.weights_file, "--no-download": args.no_download or None}
    if args.model != "resnet18":
        given = [k for k, v in resnet_flags.items() if v is not None]
        if given:
            p.error(f"{', '.join(given)} apply to --model resnet18 only")
    if args.bf16 and args.float64:
        p.error("--bf16 and --float64 exclude each other")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.deterministic:  # cuBLAS reads it when its first handle is made: set it before any CUDA work
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    recipe = recipe_for(args.model, args.protocol)
    if args.normalization and recipe.normalization == "imagenet":
        p.error(f"--normalization does not apply to --protocol {args.protocol}: its input is the grey image "
                "replicated to 3 channels with ImageNet's mean/std")
    return replace(recipe, **{k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                                  ("lr", args.lr), ("normalization", args.normalization))
                              if v is not None})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["summary"]:
        for d in argv[1:] or ["reports/mnist_torch"]:
            print(write_summary(Path(d)))
        return 0
    p = argparse.ArgumentParser(prog="python -m torchref.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p)
    p.add_argument("--out", default="reports/mnist_torch", help="where the history, figure and summary go")
    p.add_argument("--test-subset", type=int, help="test on the first N test images only")
    p.add_argument("--checkpoint", help="torch checkpoint written after each epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--save-model", help="write the final state_dict here (load with torch.load(weights_only=True))")
    args = p.parse_args(argv)
    if args.resume and not args.checkpoint:
        p.error("--resume needs --checkpoint")
    recipe = resolve_arguments(p, args)
    return run_command(lambda: run(
        recipe, protocol=args.protocol, image_size=args.image_size or 28, weights=args.weights or "imagenet",
        weights_file=args.weights_file, download=not args.no_download, data_dir=args.data_dir, out=args.out,
        seed=args.seed, subset=args.subset, test_subset=args.test_subset, device=args.device,
        dtype=torch.float64 if args.float64 else torch.float32, init=args.init, bf16=args.bf16,
        channels_last=args.channels_last, compile=args.compile, deterministic=args.deterministic,
        checkpoint=args.checkpoint, resume=args.resume, save_model=args.save_model,
        progress=False if args.no_progress else None,
    ), (MNISTNotFoundError, IDXError, DeviceError, WeightsNotFoundError))


__all__ = ["RESNET_RECIPES", "MODEL_NAMES", "recipe_for", "build_optimizer", "make_model", "run", "write_summary", "main"]
