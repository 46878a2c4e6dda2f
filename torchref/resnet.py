"""ResNet18 fine-tuned on MNIST, three protocols, with ImageNet weights found (never faked) or none.

Protocols (``build_resnet18(protocol=...)``):

- ``workshop``: as the reference workshop: the pretrained network frozen, ``conv1`` replaced by a new
  ``Conv2d(1, 64, 7, 2, 3, bias=False)`` and ``fc`` by a new ``Linear(512, 10)``; only these two
  train. Input: one channel, the recipe's normalisation. BatchNorm layers run in train mode (batch
  statistics, running stats updated), as they do in the workshop's ``model.train()``; the new conv1
  feeds bn1 with statistics the ImageNet running stats know nothing about.
- ``linear-probe``: the pretrained conv1 kept, the grey image replicated to 3 channels and normalised
  with ImageNet's mean/std; only the new ``fc`` trains. The backbone is a fixed feature extractor,
  so its BatchNorm layers stay in eval mode (ImageNet running stats).
- ``full``: the same input as linear-probe, every layer trains (BatchNorm in train mode).

The architecture is ``torchvision.models.resnet18`` itself (torchvision is required for ResNet18; where
it cannot be imported, building one raises an ImportError that says why). Its state_dict is the one
``scratchnet.models.resnet18`` has, so ``torchref.transfer`` moves weights between the two.

ImageNet weights (torchvision's IMAGENET1K_V1, ``resnet18-f37072fd.pth``) are looked for in
(1) an explicit ``weights_file``, else (2) the torch hub cache ``torch.hub.get_dir()/checkpoints/``,
then (3) downloaded from torchvision's URL with its hash check. Not found anywhere: a
``WeightsNotFoundError`` listing every place looked; there is no silent random-init fallback.
"""

from __future__ import annotations

import functools
import hashlib
import os
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scratchnet.run.provenance import portable_path

PROTOCOLS = ("workshop", "linear-probe", "full")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET18_IMAGENET_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
RESNET18_IMAGENET_FILE = "resnet18-f37072fd.pth"
RESNET18_HASH_PREFIX = "f37072fd"  # torchvision names its files by the first 8 hex digits of the SHA-256


class WeightsNotFoundError(FileNotFoundError):
    """ImageNet weights were asked for but are not in any of the places looked (all listed)."""


# ---------------------------------------------------------------------------------------------
# the architecture: torchvision's own


@functools.lru_cache(maxsize=1)
def torchvision_status() -> tuple[Callable[..., nn.Module] | None, str]:
    """(torchvision.models.resnet18 or None, a line saying which architecture code is used, or why none is)."""
    try:
        import torchvision
        from torchvision.models import resnet18
    except Exception as err:  # ImportError, or RuntimeError/OSError from a wheel whose C++ ops do not load
        reason = f"{type(err).__name__}: {err}".splitlines()[0][:200]
        return None, f"torchvision not importable ({reason}); torchref's ResNet18 needs it"
    return resnet18, f"torchvision.models.resnet18 (torchvision {torchvision.__version__})"


def resnet18_architecture(num_classes: int = 1000) -> tuple[nn.Module, str]:
    """A randomly initialised ``torchvision.models.resnet18`` and the line naming the code that built it."""
    builder, source = torchvision_status()
    if builder is None:
        raise ImportError(f"torchref.resnet: {source} (pip install torchvision, built for this torch)")
    return builder(weights=None, num_classes=num_classes), source


# ---------------------------------------------------------------------------------------------
# finding the ImageNet weights


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, model_dir: Path, progress: bool) -> Path:
    """Fetch ``url`` into ``model_dir`` with torch.hub's hash check (the file name's 8 hex digits)."""
    torch.hub.load_state_dict_from_url(url, model_dir=str(model_dir), progress=progress, check_hash=True,
                                       map_location="cpu", weights_only=True)
    return model_dir / os.path.basename(url)


def _describe_file(path: Path, source: str) -> dict[str, Any]:
    """The weights by what they are (file name, SHA-256) and where they were found, as a record that names no
    machine's folders can hold it (``portable_path``)."""
    digest = _sha256(path)
    official = digest.startswith(RESNET18_HASH_PREFIX)
    text = f"imagenet ({source} {path.name}, sha256 {digest})"
    if not official:
        text += f"; NOT torchvision's IMAGENET1K_V1 file (its sha256 starts with {RESNET18_HASH_PREFIX})"
    return {"name": "imagenet", "source": source, "file": path.name, "location": portable_path(path), "sha256": digest,
            "matches_torchvision_hash": official, "description": text}


def _hub_file() -> Path:
    """Where the torch hub cache keeps the weights, and where a download puts them."""
    return Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_IMAGENET_FILE


def locate_imagenet_weights(weights_file: str | os.PathLike | None = None, *, download: bool = True,
                            progress: bool = False) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Find and load ResNet18's ImageNet state_dict; returns (state_dict, description of what was used).

    Looks in ``weights_file`` (if given, and only there: an explicit file that is missing is an error,
    never a reason to use another copy), else the torch hub cache, else downloads (if ``download``).
    Files are read with ``torch.load(weights_only=True)``.

    Raises
    ------
    WeightsNotFoundError : not found; the message lists every place looked and why each failed.
    """
    if weights_file is not None:
        path = Path(weights_file).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(
                f"ImageNet ResNet18 weights not found: --weights-file {path} does not exist (an explicit file "
                "is not replaced by the hub cache or a download; leave --weights-file out to look there)"
            )
        return _load_weights(path, "file")
    cached = _hub_file()
    hub_dir = cached.parent
    looked = [f"torch hub cache: {cached} (no such file)"]
    if cached.is_file():
        return _load_weights(cached, "hub cache")
    if download:
        try:
            path = _download(RESNET18_IMAGENET_URL, hub_dir, progress)
        except (urllib.error.URLError, OSError, RuntimeError, ValueError) as err:
            looked.append(f"download: {RESNET18_IMAGENET_URL} failed ({type(err).__name__}: {err})")
        else:
            return _load_weights(path, "download")
    else:
        looked.append(f"download: {RESNET18_IMAGENET_URL} not tried (downloads are off)")
    raise WeightsNotFoundError(
        "ImageNet ResNet18 weights (torchvision IMAGENET1K_V1) not found; looked in:\n  - "
        + "\n  - ".join(looked)
        + f"\nPut {RESNET18_IMAGENET_FILE} in {hub_dir} or pass --weights-file PATH, or train from random "
        "init with --weights none."
    )


def _load_weights(path: Path, source: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: not a readable state_dict file ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state_dict (a dict of name -> tensor), got {type(state).__name__}")
    return state, _describe_file(path, source)


# ---------------------------------------------------------------------------------------------
# the MNIST model


class InputTransform(nn.Module):
    """Per batch, on the device: bilinear resize to ``image_size``, replicate to ``channels``, normalise.

    Input (N, 1, H, W) already scaled (by the data pipeline); output (N, channels, S, S). No parameters
    and no saved state. ``mean``/``std`` (one per output channel) are applied after the resize; for
    the 3-channel protocols the data arrive as x/255, so this is ImageNet's Normalize.
    """

    def __init__(self, image_size: int = 28, channels: int = 1, mean: tuple[float, ...] | None = None,
                 std: tuple[float, ...] | None = None) -> None:
        super().__init__()
        if image_size < 8:
            raise ValueError(f"InputTransform: image_size must be >= 8, got {image_size}")
        self.image_size, self.channels = int(image_size), int(channels)
        self.channels_last = False
        if mean is not None:
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        else:
            self.mean = self.std = None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"InputTransform: expected input (N, 1, H, W), got {tuple(x.shape)}")
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        if self.channels != 1:
            x = x.expand(-1, self.channels, -1, -1)
        if self.mean is not None:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, channels={self.channels}, normalise={'imagenet' if self.mean is not None else 'no'}"


class GlobalAvgPool(nn.Module):
    """Mean over H and W, kept as (N, C, 1, 1): ``AdaptiveAvgPool2d((1, 1))``'s function with a deterministic
    CUDA backward (a broadcast), for runs under ``torch.use_deterministic_algorithms(True)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3), keepdim=True)


class ResNet18MNIST(nn.Module):
    """``prepare`` (InputTransform) then ``resnet`` (torchvision's ResNet18 with the protocol's new layers).

    ``state_dict`` keys are ``resnet.<torchvision key>``; ``model.resnet.state_dict()`` loads into a
    torchvision resnet18 of the same conv1/fc shapes.
    """

    outputs_log_probs = False

    def __init__(self, resnet: nn.Module, prepare: InputTransform, protocol: str, freeze_bn_stats: bool,
                 info: dict[str, Any]) -> None:
        super().__init__()
        self.prepare = prepare
        self.resnet = resnet
        self.protocol = protocol
        self.freeze_bn_stats = freeze_bn_stats
        self.info = info

    def forward(self, x: Tensor) -> Tensor:
        return self.resnet(self.prepare(x))

    def train(self, mode: bool = True) -> "ResNet18MNIST":
        super().train(mode)
        if mode and self.freeze_bn_stats:  # a fixed feature extractor: ImageNet running stats, not batch stats
            for m in self.resnet.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self


def build_resnet18(protocol: str = "workshop", *, weights: str = "imagenet", weights_file: str | os.PathLike | None = None,
                   download: bool = True, image_size: int = 28, num_classes: int = 10,
                   progress: bool = False, deterministic: bool = False) -> ResNet18MNIST:
    """ResNet18 for MNIST under one of :data:`PROTOCOLS`; see the module docstring.

    Parameters
    ----------
    protocol : "workshop", "linear-probe" or "full".
    weights : "imagenet" (found by :func:`locate_imagenet_weights`, else an error) or "none" (random init).
    weights_file, download : where to look for the ImageNet file, and whether a download may be tried.
    image_size : the side the 28x28 digits are resized to on the device (28 keeps them).
    deterministic : replace the global ``AdaptiveAvgPool2d`` by :class:`GlobalAvgPool` (same function),
        whose CUDA backward torch allows under ``use_deterministic_algorithms(True)``.
    Seed torch (``torch.manual_seed``) before calling: random init and the new layers draw from it.

    The returned model's ``info`` records protocol, weights used, architecture source, trainable
    parameter names and the BatchNorm mode, for the history.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"build_resnet18: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if weights not in ("imagenet", "none"):
        raise ValueError(f"build_resnet18: weights must be 'imagenet' or 'none', got {weights!r}")
    if weights == "none" and weights_file is not None:
        raise ValueError("build_resnet18: --weights-file given with --weights none; drop one of them")
    resnet, architecture = resnet18_architecture(num_classes=1000)
    if weights == "imagenet":
        state, used = locate_imagenet_weights(weights_file, download=download, progress=progress)
        try:
            resnet.load_state_dict(state)
        except RuntimeError as err:
            where = weights_file or _hub_file()  # the file itself for the user; the record names no folder
            raise ValueError(f"{where}: not a ResNet18 ImageNet state_dict: {err}") from None
    else:
        used = {"name": "none", "source": None, "file": None, "location": None, "sha256": None,
                "description": "none (random init)"}
    if protocol in ("workshop", "linear-probe"):
        for p in resnet.parameters():
            p.requires_grad_(False)
    if protocol == "workshop":
        resnet.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        prepare = InputTransform(image_size, channels=1)
    else:
        prepare = InputTransform(image_size, channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    resnet.fc = nn.Linear(512, num_classes)
    if deterministic:
        resnet.avgpool = GlobalAvgPool()
    freeze_bn = protocol == "linear-probe"
    trainable = [f"resnet.{n}" for n, p in resnet.named_parameters() if p.requires_grad]
    info = {
        "protocol": protocol,
        "architecture": architecture,
        "weights": used,
        "image_size": image_size,
        "input": "1 channel, the recipe's normalisation" if protocol == "workshop"
                 else "grey replicated to 3 channels, ImageNet mean/std",
        "batchnorm": "eval mode (ImageNet running stats, frozen)" if freeze_bn
                     else "train mode (batch statistics; running stats updated)",
        "global_pool": "mean over H, W (deterministic backward)" if deterministic else "AdaptiveAvgPool2d((1, 1))",
        "trainable_parameter_names": trainable if len(trainable) <= 10 else f"all {len(trainable)} tensors",
    }
    return ResNet18MNIST(resnet, prepare, protocol, freeze_bn, info)


__all__ = [
    "PROTOCOLS", "IMAGENET_MEAN", "IMAGENET_STD", "RESNET18_IMAGENET_URL", "RESNET18_IMAGENET_FILE",
    "WeightsNotFoundError", "InputTransform", "GlobalAvgPool", "ResNet18MNIST",
    "torchvision_status", "resnet18_architecture", "locate_imagenet_weights", "build_resnet18",
]
