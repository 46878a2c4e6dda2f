"""Train-step and inference throughput of each model, scratchnet and torch from the same weights on the same
batches, interleaved in one process; and the fp32 GEMM rate of NumPy's and torch's BLAS as a practical peak."""

from __future__ import annotations

import os

import numpy as np

from .children import run_child
from .timing import Results, Stat, interleaved
from .workload import IMPLS, as_tensors, build_pair, recipe, sample_batches, step_loop, train_batches


def bench_train(res: Results, name: str, pair, cfg: dict, threads: int) -> None:
    """Images per second of train steps at the recipe batch, side by side; with ``cfg['alone']`` also each
    library in a process of its own."""
    b, n_steps = recipe(name).batch_size, cfg["steps"][name]
    batches = train_batches(name, n_steps)
    pair.scratchnet.model.train()
    pair.torch.model.train()
    loops = {"scratchnet": step_loop(pair.scratchnet, batches), "torch": step_loop(pair.torch, as_tensors(batches))}
    t = interleaved(loops, cfg["reps"], cfg["warmup"])
    for impl in IMPLS:
        res.add("train", name, impl, Stat([b * n_steps / s for s in t[impl]], "images/s"), batch=b, steps=n_steps)
    if not cfg["alone"]:
        return
    for impl in IMPLS:
        env = dict(os.environ, SCRATCHNET_MALLOC="default") if impl == "torch" else None
        alone, _ = run_child(["alone", "--impl", impl, "--model", name, "--threads", str(threads), "--steps",
                              str(n_steps), "--reps", str(cfg["reps"]), "--warmup", str(cfg["warmup"])], env=env)
        res.add("train", name, f"{impl} alone", Stat(alone["images_per_s"], "images/s"), batch=b, steps=n_steps)


def bench_infer(res: Results, name: str, pair, cfg: dict) -> None:
    """Images per second of one forward pass of a large batch in eval mode (torch under ``inference_mode``,
    scratchnet under ``no_grad``: neither keeps anything for a backward pass)."""
    import torch

    import scratchnet

    xi, _, _ = sample_batches(cfg["infer_batch"], seed=2)
    txi = torch.from_numpy(xi)
    ours, theirs = pair.scratchnet.model, pair.torch.model
    ours.eval()
    theirs.eval()

    def torch_infer():
        with torch.inference_mode():
            theirs(txi)

    def scratch_infer():
        with scratchnet.no_grad():
            ours(xi)

    t = interleaved({"scratchnet": scratch_infer, "torch": torch_infer}, cfg["infer_reps"], 2)
    for impl in IMPLS:
        res.add("infer", name, impl, Stat([len(xi) / s for s in t[impl]], "images/s"), batch=len(xi))


def bench_throughput(res: Results, names: list[str], cfg: dict, threads: int, bar) -> None:
    for name in names:
        pair = build_pair(name, seed=0)
        bench_train(res, name, pair, cfg, threads)
        bar.update(1)
        bench_infer(res, name, pair, cfg)
        bar.update(1)


def bench_sgemm(res: Results, cfg: dict) -> None:
    """A measured practical peak: the best fp32 GEMM rate of NumPy's BLAS and torch's on 2048^3."""
    import torch

    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    ta = torch.from_numpy(a)
    t = interleaved({"numpy": lambda: a @ a, "torch": lambda: ta @ ta}, cfg["gemm_reps"], 2)
    for impl, secs in t.items():
        res.add("sgemm", f"{n}x{n}x{n}", impl, Stat([2 * n**3 / s / 1e9 for s in secs], "GFLOP/s"))
