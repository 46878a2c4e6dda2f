"""The flags ``python -m torchref.train`` and ``python -m torchref.kfold`` share, spelled and checked once
(imported by the command lines only)."""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch

from scratchnet.checkpoint import CheckpointError
from scratchnet.data import IDXError, MNISTNotFoundError
from scratchnet.recipes import Recipe
from scratchnet.run.args import add_training_arguments, positive_int, run_options, with_overrides
from scratchnet.run.outputs import OutputError

from .device import DeviceError
from .recipes import MODEL_NAMES, recipe_for
from .resnet import PROTOCOLS, WeightsNotFoundError

#: the failures a torchref command answers with one line on stderr and exit status 2
INPUT_ERRORS = (MNISTNotFoundError, IDXError, DeviceError, WeightsNotFoundError, OutputError, CheckpointError, OSError)


def add_common_arguments(p: argparse.ArgumentParser, out: str) -> None:
    """Flags shared by ``torchref.train`` and ``torchref.kfold`` (those of scratchnet.train, plus torch's)."""
    add_training_arguments(p, list(MODEL_NAMES), out=out, threads="torch CPU threads")
    p.add_argument("--init", choices=["torch", "scratchnet"], default="torch",
                   help="initial weights: torch's init seeded by --seed, or scratchnet's for the same seed")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only; ignored with a note elsewhere)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (CUDA only)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--deterministic", action="store_true",
                   help="torch.use_deterministic_algorithms(True), cuDNN deterministic, no autotuner")
    g = p.add_argument_group("ResNet18 (--model resnet18 only)")
    g.add_argument("--protocol", choices=PROTOCOLS, help="workshop (default), linear-probe or full")
    g.add_argument("--image-size", type=positive_int, help="resize the 28x28 digits on the device (28, 64, 112, 224 ...)")
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
    return with_overrides(recipe, args)


def torch_run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of ``torchref.recipes.run`` / ``torchref.kfold.run_kfold`` that the shared flags give."""
    return {**run_options(args), "protocol": args.protocol, "image_size": args.image_size or 28,
            "weights": args.weights or "imagenet", "weights_file": args.weights_file, "download": not args.no_download,
            "device": args.device, "dtype": torch.float64 if args.float64 else torch.float32, "init": args.init,
            "bf16": args.bf16, "channels_last": args.channels_last, "compile": args.compile,
            "deterministic": args.deterministic}


__all__ = ["INPUT_ERRORS", "add_common_arguments", "resolve_arguments", "torch_run_options"]
