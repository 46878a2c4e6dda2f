"""Measurements that need a fresh process: each library's train throughput alone, the JIT cost of a cold and a
warm Numba cache, and the peak memory of one training epoch. The parent starts ``python -m compare.bench
--child ...`` through a small launcher and reads the JSON line the child prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .timing import Results, interleaved, set_threads
from .workload import IMPLS, as_tensors, recipe, side_alone, step_loop, train_batches

REPO = Path(__file__).resolve().parents[2]

#: Runs its arguments as a child and returns its exit code. Measuring children are started through it
#: because Linux carries a process's peak RSS (ru_maxrss) over fork+exec: a child of this big process
#: would report at least our own peak; a grandchild of this small launcher reports its own.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def child_alone(impl: str, model: str, threads: int, steps: int, reps: int, warmup: int) -> dict:
    """One implementation's train throughput in a process of its own (same batches and block timing as
    the side-by-side run): torch without Numba threads and with glibc's default malloc, scratchnet
    without torch imported. A check that sharing a process does not slow either side down."""
    batches = train_batches(model, steps)
    set_threads(threads, (impl,))
    side = side_alone(impl, model)
    side.model.train()
    run = step_loop(side, as_tensors(batches) if impl == "torch" else batches)
    secs = interleaved({impl: run}, reps, warmup)[impl]
    return dict(images_per_s=[recipe(model).batch_size * steps / t for t in secs])


def child_jit(model: str, threads: int) -> dict:
    """Import scratchnet, build ``model`` and run two train steps; seconds for each phase."""
    t0 = time.perf_counter()
    set_threads(threads, ("scratchnet",))
    from scratchnet import models, optim  # noqa: F401 - the import itself is what is timed

    t_import = time.perf_counter() - t0
    side = side_alone("scratchnet", model)  # the recipe's optimiser: counted in "to first step done"
    b = recipe(model).batch_size
    rng = np.random.default_rng(0)
    step = step_loop(side, [(rng.standard_normal((b, 1, 28, 28)).astype(np.float32),
                                          rng.integers(0, 10, b))])
    times = []
    for _ in range(2):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return dict(import_s=t_import, first_step_s=times[0], second_step_s=times[1],
                to_first_step_s=time.perf_counter() - t0 - times[1])


def _status_mb(field: str) -> float:
    """A size from /proc/self/status (VmRSS, VmHWM) in MiB, or NaN where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return float("nan")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child_memory(model: str, impl: str, threads: int, images: int) -> dict:
    """One epoch over the MNIST training set (or its first ``images``), recipe batch size; peak RSS.

    ``ru_maxrss`` (resource.getrusage) is the peak of the whole process, data loading included; where
    Linux allows it, the peak mark is also reset once the data are loaded, so that a second peak
    (VmHWM) covers the training epoch alone.
    """
    t0 = time.perf_counter()
    from scratchnet.data import DataLoader, load_mnist, normalize

    set_threads(threads, (impl,))
    if impl == "torch":
        import torchref  # noqa: F401 - imported before measuring, as the scratchnet side imports its library
    else:
        from scratchnet import models  # noqa: F401
    rss_import = _status_mb("VmRSS")
    images_u8, labels = load_mnist(None, split="train", download=False)
    if images and images < len(images_u8):
        images_u8, labels = images_u8[:images], labels[:images]
    x, y = normalize(images_u8), labels.astype(np.int64)
    del images_u8
    rss_data, peak_load, reset = _status_mb("VmRSS"), _maxrss_mb(), _reset_peak_rss()
    loader = DataLoader(x, y, batch_size=recipe(model).batch_size, shuffle=True, seed=0)
    t1 = time.perf_counter()
    side = side_alone(impl, model)
    side.model.train()
    batches = loader
    if impl == "torch":
        import torch

        batches = ((torch.from_numpy(xb), torch.from_numpy(yb)) for xb, yb in loader)
    step_loop(side, batches)()
    epoch_s = time.perf_counter() - t1
    return dict(images=len(x), rss_import_mb=rss_import, rss_data_mb=rss_data, peak_load_mb=peak_load,
                peak_rss_mb=_maxrss_mb(), peak_epoch_mb=_status_mb("VmHWM") if reset else float("nan"),
                epoch_s=epoch_s, total_s=time.perf_counter() - t0)


def run_child(args: list[str], env: dict | None = None, timeout: float = 3600) -> tuple[dict, float]:
    """Run ``python -m compare.bench --child <args>`` through the launcher; its JSON result and wall seconds."""
    cmd = [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "compare.bench", "--child", *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line), wall


def bench_jit(res: Results, names: list[str], threads: int, bar) -> None:
    for name in names:
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache_dir:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
            for point in ("empty cache", "warm cache"):  # the second run finds what the first compiled
                out, wall = run_child(["jit", "--model", name, "--threads", str(threads)], env=env)
                res.add("jit", name, point, out["import_s"], "s", phase="import", first_step_s=out["first_step_s"],
                        second_step_s=out["second_step_s"], to_first_step_s=out["to_first_step_s"],
                        process_wall_s=wall)
                bar.update(1)


#: ResNet18's memory epoch stops here, full run and --quick (a full epoch takes minutes per library; the peak
#: is reached in the first steps)
RESNET_MEMORY_IMAGES = {False: 6400, True: 320}


def bench_memory(res: Results, names: list[str], threads: int, images: int, bar, quick: bool = False) -> None:
    for name in names:
        cap = RESNET_MEMORY_IMAGES[quick]
        n = min(images or cap, cap) if name == "resnet18" else images
        for impl in IMPLS:
            out, _ = run_child(["memory", "--model", name, "--impl", impl, "--threads", str(threads),
                                "--images", str(n)])
            res.add("memory", name, impl, out["peak_rss_mb"], "MiB", **{k: v for k, v in out.items() if k != "peak_rss_mb"})
            bar.update(1)
