"""Peak memory of evaluating a model on the 10,000 test images, with and without ``scratchnet.no_grad()``.

A forward pass outside ``no_grad`` keeps what each layer's backward would need (inputs, masks, im2col
buffers...) until the next forward replaces it; under ``no_grad`` layers keep nothing. Each measurement is a
fresh process (started through the launcher of :mod:`.children`, so its peak is its own): load the test
set, reset the kernel's peak mark, then evaluate in batches of 1000 the way ``scratchnet.train.evaluate``
does; the peak above the resident size with the data loaded is what evaluation added."""

from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np

from .children import _maxrss_mb, _reset_peak_rss, _status_mb, run_child
from .timing import Results, set_threads

#: the models whose evaluation memory is measured: the largest activations (ExamplesNet) and the deepest net
EVAL_MODELS = ("examplesnet", "resnet18")
MODES = ("no_grad", "keeping caches")


def _build(model: str):
    from scratchnet import models

    if model == "resnet18":  # the workshop's MNIST adaptation, as in the README's model table
        return models.resnet18(num_classes=10, in_channels=1, rng=np.random.default_rng(0))
    return models.build_model(model, rng=np.random.default_rng(0))


def child_eval_memory(model: str, mode: str, threads: int, images: int, batch: int = 1000) -> dict:
    """Evaluate ``model`` (eval mode) on the first ``images`` test images in batches of ``batch``; peak RSS."""
    from scratchnet import no_grad
    from scratchnet.data import load_mnist, normalize

    set_threads(threads, ("scratchnet",))
    net = _build(model).eval()
    images_u8, _ = load_mnist(None, split="test", download=False)
    x = normalize(images_u8[:images] if images else images_u8)
    del images_u8
    rss_data, reset = _status_mb("VmRSS"), _reset_peak_rss()
    t = time.perf_counter()
    with no_grad() if mode == "no_grad" else nullcontext():
        for start in range(0, len(x), batch):
            net(x[start:start + batch]).argmax(axis=1)
    return dict(images=len(x), batch=batch, rss_data_mb=rss_data, seconds=time.perf_counter() - t,
                peak_eval_mb=_status_mb("VmHWM") if reset else float("nan"), peak_rss_mb=_maxrss_mb())


def bench_eval_memory(res: Results, names: list[str], threads: int, images: int, bar) -> None:
    """Each model of ``names`` evaluated on the test set (its first ``images``; 0: all) with and without no_grad."""
    for name in names:
        for mode in MODES:
            out, _ = run_child(["evalmem", "--model", name, "--impl", mode, "--threads", str(threads),
                                "--images", str(images)])
            added = out["peak_eval_mb"] - out["rss_data_mb"]
            res.add("evalmem", name, mode, added, "MiB", **{k: v for k, v in out.items()})
            bar.update(1)


def eval_memory_rows(res: Results, display_name) -> list[list]:
    """The table rows: model, mode, images, batch, resident with data, peak, added by evaluation, seconds."""
    return [[display_name(r["item"]), r["impl"], r["images"], r["batch"], f"{r['rss_data_mb']:.0f}",
             f"{r['peak_eval_mb']:.0f}", f"**{r['median']:.0f}**", f"{r['seconds']:.1f}"] for r in res.section("evalmem")]


__all__ = ["EVAL_MODELS", "MODES", "child_eval_memory", "bench_eval_memory", "eval_memory_rows"]
