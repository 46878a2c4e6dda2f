"""scratchnet vs torch on the CPU, side by side: train and inference throughput, per-op speed, JIT cost, memory.

    python -m compare.bench            # the full run (~10-15 minutes), writes reports/benchmarks.{md,csv,png}
    python -m compare.bench --quick    # everything shrunk: a smoke test in under a minute

Both implementations run in the same process with the same thread count (``numba.set_num_threads`` =
``torch.set_num_threads`` = the usable cores, or ``--threads``), start from the same weights
(``torchref.from_scratch``) and see the same batches. Repetitions are interleaved (scratchnet, torch,
torch, scratchnet, ...) after a warm-up, so background load hits both alike; we report the median and
the min-max of the repetitions and the ratio of the medians. JIT cost and peak memory are measured in
fresh subprocesses (``resource.getrusage``), the empty-cache JIT point with ``NUMBA_CACHE_DIR`` at a new
temporary directory.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import _machine

REPO = _machine.REPO
RECIPE_BATCH = {"ffn": 60, "seedcnn": 60, "examplesnet": 64}
MODEL_TITLE = {"ffn": "FFN", "seedcnn": "SeedCNN", "examplesnet": "ExamplesNet"}
OPTIMISER = {"ffn": "Adam(lr=1e-3)", "seedcnn": "Adam(lr=1e-3)", "examplesnet": "Adadelta(lr=1.0)"}
INFER_BATCH = 1000
IMPLS = ("scratchnet", "torch")


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------
@dataclass
class Stat:
    """Repetitions of one measurement (values in ``unit``), summarised as median and min-max."""

    values: list[float]
    unit: str

    @property
    def median(self) -> float:
        return float(np.median(self.values))

    @property
    def lo(self) -> float:
        return float(np.min(self.values))

    @property
    def hi(self) -> float:
        return float(np.max(self.values))

    def fmt(self, digits: int = 0) -> str:
        return f"{self.median:,.{digits}f} ({self.lo:,.{digits}f}-{self.hi:,.{digits}f})"


@dataclass
class Results:
    meta: dict
    rows: list[dict] = field(default_factory=list)

    def add(self, section: str, item: str, impl: str, stat: Stat | float, unit: str | None = None, **extra) -> None:
        if isinstance(stat, Stat):
            row = dict(median=stat.median, min=stat.lo, max=stat.hi, unit=stat.unit, n=len(stat.values))
        else:
            row = dict(median=float(stat), min=float("nan"), max=float("nan"), unit=unit or "", n=1)
        self.rows.append(dict(section=section, item=item, impl=impl, **row, **extra))

    def get(self, section: str, item: str, impl: str) -> dict | None:
        for r in self.rows:
            if (r["section"], r["item"], r["impl"]) == (section, item, impl):
                return r
        return None


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each function; calls alternate between the functions and their order
    flips every repetition, so load from elsewhere on the machine falls on all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    order = list(fns)
    for r in range(reps):
        for k in order if r % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t)
    return times


def set_threads(n: int) -> None:
    """The same thread count for both. torch goes first: if Numba's OpenMP pool is started before torch
    loads its own OpenMP runtime, torch's small parallel regions run several times slower in this process
    (measured: FFN train steps ~9x slower), which would flatter scratchnet."""
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    import numba

    numba.set_num_threads(n)


def mnist_dir() -> str:
    return os.environ.get("MNIST_DIR", "/work/shared/data/mnist")


_MNIST: list = []


def sample_batches(n_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """``n_images`` normalised MNIST training images (N, 1, 28, 28) float32 and labels; synthetic
    images of the same shape when the data set is not there (the source is returned as a string)."""
    try:
        from scratchnet.data import load_mnist, normalize

        if not _MNIST:
            _MNIST.append(load_mnist(mnist_dir(), split="train", download=False))
        images, labels = _MNIST[0]
        idx = np.random.default_rng(seed).permutation(len(images))[:n_images]
        return normalize(images[idx]), labels[idx].astype(np.int64), "MNIST train"
    except Exception:  # noqa: BLE001 - benchmarks only need the right shapes
        rng = np.random.default_rng(seed)
        x = ((rng.random((n_images, 1, 28, 28)) - 0.1307) / 0.3081).astype(np.float32)
        return x, rng.integers(0, 10, n_images), "synthetic"


def make_pair(name: str):
    """scratchnet model + torch twin with the same weights, their losses and optimisers."""
    import torch

    import torchref
    from scratchnet import models, optim

    ours = models.build_model(name, rng=0)
    theirs = torchref.from_scratch(ours, torchref.build_model(name))
    if name == "examplesnet":
        opt, topt = optim.Adadelta(list(ours.parameters()), lr=1.0), torch.optim.Adadelta(theirs.parameters(), lr=1.0)
    else:
        opt, topt = optim.Adam(list(ours.parameters()), lr=1e-3), torch.optim.Adam(theirs.parameters(), lr=1e-3)
    return ours, theirs, ours.make_loss(), torchref.models.make_loss(theirs), opt, topt


# ----------------------------------------------------------------------------------------------
# throughput: train steps and inference
# ----------------------------------------------------------------------------------------------
def scratch_steps(net, crit, opt, batches) -> Callable[[], None]:
    """A closure running one scratchnet train step per batch (the input needs no gradient, as in torch)."""
    def run() -> None:
        for xb, yb in batches:
            crit(net(xb), yb)
            opt.zero_grad()
            net.backward(crit.backward(), input_grad=False)
            opt.step()
    return run


def torch_steps_of(net, crit, opt, batches) -> Callable[[], None]:
    """A closure running one torch train step per batch."""
    def run() -> None:
        for xb, yb in batches:
            loss = crit(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return run


def bench_throughput(res: Results, names: list[str], cfg: dict, threads: int, bar) -> None:
    import torch

    for name in names:
        B = RECIPE_BATCH[name]
        ours, theirs, crit, tcrit, opt, topt = make_pair(name)
        steps = cfg["steps"][name]
        x, y, _ = sample_batches(B * steps, seed=1)
        batches = [(x[i * B:(i + 1) * B], y[i * B:(i + 1) * B]) for i in range(steps)]
        tbatches = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in batches]

        ours_steps = scratch_steps(ours, crit, opt, batches)
        torch_steps = torch_steps_of(theirs, tcrit, topt, tbatches)
        ours.train()
        theirs.train()
        t = interleaved({"scratchnet": ours_steps, "torch": torch_steps}, cfg["reps"], cfg["warmup"])
        for impl in IMPLS:
            res.add("train", name, impl, Stat([B * steps / s for s in t[impl]], "images/s"), batch=B, steps=steps)
        if cfg["alone"]:
            for impl in IMPLS:
                env = dict(os.environ, SCRATCHNET_MALLOC="default") if impl == "torch" else None
                alone, _ = run_child(["alone", "--impl", impl, "--model", name, "--threads", str(threads), "--steps",
                                      str(steps), "--reps", str(cfg["reps"]), "--warmup", str(cfg["warmup"])], env=env)
                res.add("train", name, f"{impl} alone", Stat(alone["images_per_s"], "images/s"), batch=B, steps=steps)
        bar.update(1)

        # inference: eval mode, one forward of a 1000-image batch
        xi, _, _ = sample_batches(cfg["infer_batch"], seed=2)
        txi = torch.from_numpy(xi)
        ours.eval()
        theirs.eval()

        def ours_infer():
            ours(xi)

        def torch_infer():
            with torch.inference_mode():
                theirs(txi)

        t = interleaved({"scratchnet": ours_infer, "torch": torch_infer}, cfg["infer_reps"], 2)
        for impl in IMPLS:
            res.add("infer", name, impl, Stat([len(xi) / s for s in t[impl]], "images/s"), batch=len(xi))
        bar.update(1)


# ----------------------------------------------------------------------------------------------
# per-op timings
# ----------------------------------------------------------------------------------------------
def op_cases() -> list[tuple]:
    """(label, kind, shapes...) of the layers of the three models at their recipe batch sizes."""
    return [
        ("SeedCNN conv1 1->8 3x3 p1, 60x28x28", "conv", (60, 1, 28, 28), (8, 1, 3, 3), 1),
        ("SeedCNN conv2 8->16 3x3 p1, 60x14x14", "conv", (60, 8, 14, 14), (16, 8, 3, 3), 1),
        ("ExamplesNet conv1 1->32 3x3, 64x28x28", "conv", (64, 1, 28, 28), (32, 1, 3, 3), 0),
        ("ExamplesNet conv2 32->64 3x3, 64x26x26", "conv", (64, 32, 26, 26), (64, 32, 3, 3), 0),
        ("SeedCNN pool1 2x2, 60x8x28x28", "pool", (60, 8, 28, 28)),
        ("SeedCNN pool2 2x2, 60x16x14x14", "pool", (60, 16, 14, 14)),
        ("ExamplesNet pool 2x2, 64x64x24x24", "pool", (64, 64, 24, 24)),
        ("FFN fc1 784->128, batch 60", "linear", (60, 784), (128, 784)),
        ("ExamplesNet fc1 9216->128, batch 64", "linear", (64, 9216), (128, 9216)),
    ]


def bench_ops(res: Results, cfg: dict, peak: float, bar) -> None:
    import torch
    import torch.nn.functional as F

    from scratchnet import ops

    rng = np.random.default_rng(3)
    aten = torch.ops.aten
    for case in op_cases():
        label, kind = case[0], case[1]
        fns: dict[str, Callable] = {}
        flops: dict[str, float] = {}
        if kind == "conv":
            xs, ws, pad = case[2], case[3], case[4]
            x = rng.standard_normal(xs).astype(np.float32)
            w = (rng.standard_normal(ws) * 0.2).astype(np.float32)
            b = rng.standard_normal(ws[0]).astype(np.float32)
            out, cache = ops.conv2d_forward(x, w, b, 1, pad)
            g = rng.standard_normal(out.shape).astype(np.float32)
            tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))
            n_flop = 2.0 * out.size * ws[1] * ws[2] * ws[3]
            conv_bwd = lambda mask: aten.convolution_backward(  # noqa: E731
                tg, tx, tw, [ws[0]], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, mask
            )
            grad_input, grad_weight = ops.conv.conv2d_backward_input, ops.conv.conv2d_backward_weight
            fns = {
                "forward/scratchnet": lambda: ops.conv2d_forward(x, w, b, 1, pad),
                "forward/torch": lambda: F.conv2d(tx, tw, tb, padding=pad),
                "grad-input/scratchnet": lambda: grad_input(g, cache),
                "grad-input/torch": lambda: conv_bwd([True, False, False]),
                "grad-weight+bias/scratchnet": lambda: grad_weight(g, cache),
                "grad-weight+bias/torch": lambda: conv_bwd([False, True, True]),
            }
            flops = {k: n_flop for k in fns}
        elif kind == "pool":
            xs = case[2]
            x = rng.standard_normal(xs).astype(np.float32)
            out, cache = ops.maxpool2d_forward(x, 2)
            g = rng.standard_normal(out.shape).astype(np.float32)
            tx, tg = torch.from_numpy(x), torch.from_numpy(g)
            _, tidx = aten.max_pool2d_with_indices(tx, [2, 2], [2, 2])
            fns = {
                "forward/scratchnet": lambda: ops.maxpool2d_forward(x, 2),
                "forward/torch": lambda: aten.max_pool2d_with_indices(tx, [2, 2], [2, 2]),
                "backward/scratchnet": lambda: ops.maxpool2d_backward(g, cache),
                "backward/torch": lambda: aten.max_pool2d_with_indices_backward(
                    tg, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, tidx
                ),
            }
        else:  # linear
            xs, ws = case[2], case[3]
            x = rng.standard_normal(xs).astype(np.float32)
            w = (rng.standard_normal(ws) * 0.05).astype(np.float32)
            b = rng.standard_normal(ws[0]).astype(np.float32)
            out, cache = ops.linear_forward(x, w, b)
            g = rng.standard_normal(out.shape).astype(np.float32)
            tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))
            n_flop = 2.0 * xs[0] * ws[0] * ws[1]

            def torch_linear_bwd():
                return tg @ tw, tg.t() @ tx, tg.sum(0)

            fns = {
                "forward/scratchnet": lambda: ops.linear_forward(x, w, b),
                "forward/torch": lambda: F.linear(tx, tw, tb),
                "backward/scratchnet": lambda: ops.linear_backward(g, cache),
                "backward/torch": torch_linear_bwd,
            }
            flops = {"forward/scratchnet": n_flop, "forward/torch": n_flop,
                     "backward/scratchnet": 2 * n_flop, "backward/torch": 2 * n_flop}
        t = interleaved(fns, cfg["op_reps"], 3)
        for key, secs in t.items():
            what, impl = key.split("/")
            st = Stat([s * 1e3 for s in secs], "ms")
            extra = {}
            if key in flops:
                gf = flops[key] / (st.median * 1e-3) / 1e9
                extra = dict(gflops=gf, peak_frac=gf / peak if peak == peak else float("nan"))
            res.add("op", f"{label} | {what}", impl, st, **extra)
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


# ----------------------------------------------------------------------------------------------
# JIT cost and peak memory: fresh subprocesses
# ----------------------------------------------------------------------------------------------
def child_alone(impl: str, model: str, threads: int, steps: int, reps: int, warmup: int) -> dict:
    """One implementation's train throughput in a process of its own (same batches and block timing as
    the side-by-side run): torch without Numba threads and with glibc's default malloc, scratchnet
    without torch imported. A check that sharing a process does not slow either side down."""
    B = RECIPE_BATCH[model]
    x, y, _ = sample_batches(B * steps, seed=1)
    if impl == "torch":
        import torch

        torch.set_num_threads(threads)
        import torchref

        tb = [(torch.from_numpy(x[i * B:(i + 1) * B]), torch.from_numpy(y[i * B:(i + 1) * B])) for i in range(steps)]
        net = torchref.build_model(model)
        crit = torchref.models.make_loss(net)
        opt = (torch.optim.Adadelta(net.parameters(), lr=1.0) if model == "examplesnet"
               else torch.optim.Adam(net.parameters(), lr=1e-3))
        net.train()
        run = torch_steps_of(net, crit, opt, tb)
    else:
        import numba

        from scratchnet import models, optim

        numba.set_num_threads(threads)
        sb = [(x[i * B:(i + 1) * B], y[i * B:(i + 1) * B]) for i in range(steps)]
        net = models.build_model(model, rng=0)
        crit = net.make_loss()
        params = list(net.parameters())
        opt = optim.Adadelta(params, lr=1.0) if model == "examplesnet" else optim.Adam(params, lr=1e-3)
        net.train()
        run = scratch_steps(net, crit, opt, sb)

    secs = interleaved({impl: run}, reps, warmup)[impl]
    return dict(images_per_s=[B * steps / t for t in secs])


def child_jit(model: str, threads: int) -> dict:
    """Import scratchnet, build ``model`` and run two train steps; seconds for each phase."""
    t0 = time.perf_counter()
    import numba

    from scratchnet import models, optim

    numba.set_num_threads(threads)
    t_import = time.perf_counter() - t0
    B = RECIPE_BATCH[model]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, B)
    net = models.build_model(model, rng=0)
    crit = net.make_loss()
    params = list(net.parameters())
    opt = optim.Adadelta(params, lr=1.0) if model == "examplesnet" else optim.Adam(params, lr=1e-3)
    times = []
    for _ in range(2):
        t = time.perf_counter()
        crit(net(x), y)
        opt.zero_grad()
        net.backward(crit.backward(), input_grad=False)
        opt.step()
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


def child_memory(model: str, impl: str, threads: int, images: int) -> dict:
    """One epoch over the MNIST training set (or its first ``images``), recipe batch size; peak RSS.

    ``ru_maxrss`` (resource.getrusage) is the peak of the whole process, data loading included; where
    Linux allows it, the peak mark is also reset once the data are loaded, so that a second peak
    (VmHWM) covers the training epoch alone.
    """
    import resource

    def maxrss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB

    t0 = time.perf_counter()
    from scratchnet.data import DataLoader, load_mnist, normalize

    if impl == "torch":
        import torch

        import torchref

        torch.set_num_threads(threads)
    else:
        import numba

        from scratchnet import models, optim

        numba.set_num_threads(threads)
    rss_import = _status_mb("VmRSS")
    images_u8, labels = load_mnist(mnist_dir(), split="train", download=False)
    if images and images < len(images_u8):
        images_u8, labels = images_u8[:images], labels[:images]
    x = normalize(images_u8)
    y = labels.astype(np.int64)
    del images_u8
    rss_data = _status_mb("VmRSS")
    peak_load = maxrss_mb()
    reset = _reset_peak_rss()
    B = RECIPE_BATCH[model]
    loader = DataLoader(x, y, batch_size=B, shuffle=True, seed=0)
    t1 = time.perf_counter()
    if impl == "torch":
        net = torchref.build_model(model)
        crit = torchref.models.make_loss(net)
        if model == "examplesnet":
            opt = torch.optim.Adadelta(net.parameters(), lr=1.0)
        else:
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        net.train()
        for xb, yb in loader:
            loss = crit(net(torch.from_numpy(xb)), torch.from_numpy(yb))
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:
        net = models.build_model(model, rng=0)
        crit = net.make_loss()
        params = list(net.parameters())
        opt = optim.Adadelta(params, lr=1.0) if model == "examplesnet" else optim.Adam(params, lr=1e-3)
        net.train()
        for xb, yb in loader:
            crit(net(xb), yb)
            opt.zero_grad()
            net.backward(crit.backward(), input_grad=False)
            opt.step()
    epoch_s = time.perf_counter() - t1
    return dict(images=len(x), rss_import_mb=rss_import, rss_data_mb=rss_data, peak_load_mb=peak_load,
                peak_rss_mb=maxrss_mb(), peak_epoch_mb=_status_mb("VmHWM") if reset else float("nan"),
                epoch_s=epoch_s, total_s=time.perf_counter() - t0)


#: Runs its arguments as a child and returns its exit code. Measuring children are started through it
#: because Linux carries a process's peak RSS (ru_maxrss) over fork+exec: a child of this big process
#: would report at least our own peak; a grandchild of this small launcher reports its own.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def run_child(args: list[str], env: dict | None = None, timeout: float = 3600) -> tuple[dict, float]:
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
                res.add("jit", name, point, out["import_s"], "s", phase="import")
                res.rows[-1]["first_step_s"] = out["first_step_s"]
                res.rows[-1]["second_step_s"] = out["second_step_s"]
                res.rows[-1]["to_first_step_s"] = out["to_first_step_s"]
                res.rows[-1]["process_wall_s"] = wall
                bar.update(1)


def bench_memory(res: Results, names: list[str], threads: int, images: int, bar) -> None:
    for name in names:
        for impl in IMPLS:
            out, wall = run_child(["memory", "--model", name, "--impl", impl, "--threads", str(threads),
                                   "--images", str(images)])
            res.add("memory", name, impl, out["peak_rss_mb"], "MiB", **{k: v for k, v in out.items() if k != "peak_rss_mb"})
            bar.update(1)


# ----------------------------------------------------------------------------------------------
# reports
# ----------------------------------------------------------------------------------------------
def write_csv(res: Results, path: Path, baseline: dict | None = None) -> None:
    """One row per measurement (column ``run`` = 'this run'); with ``--baseline``, that run's rows follow
    (``run`` = 'baseline'), so the report's 'before' columns can be traced to numbers in this file."""
    keys: list[str] = []
    for r in res.rows:
        keys += [k for k in r if k not in keys]
    first = ["run", "section", "item", "impl"]
    fields = first + [k for k in keys if k not in first]
    if baseline:
        for r in baseline["rows"].values():
            fields += [k for k in r if k not in fields]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for k, v in res.meta.items():
            w.writerow(dict(run="this run", section="meta", item=k, impl=str(v)))
        for r in res.rows:
            w.writerow({"run": "this run", **{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()}})
        if baseline:
            for k, v in baseline["meta"].items():
                w.writerow(dict(run="baseline", section="meta", item=k, impl=v))
            for r in baseline["rows"].values():
                w.writerow({**r, "run": "baseline"})


def read_baseline(path: Path) -> dict:
    """A previous run's CSV (e.g. of the code before a change): its meta and its rows by key (only the rows
    of that run itself, if the file holds a baseline of its own)."""
    meta, rows = {}, {}
    with path.open() as fh:
        for r in csv.DictReader(fh):
            if r.get("run", "this run") != "this run":
                continue
            r.pop("run", None)
            if r["section"] == "meta":
                meta[r["item"]] = r["impl"]
            else:
                rows[(r["section"], r["item"], r["impl"])] = r
    return {"meta": meta, "rows": rows, "path": str(path)}


def write_plot(res: Results, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"scratchnet": "#1f77b4", "torch": "#ee7733"}
    for ax, section, title in zip(axes, ("train", "infer"), ("train step (recipe batch)", "inference (batch 1000)")):
        xs = np.arange(len(names))
        for k, impl in enumerate(IMPLS):
            med = [res.get(section, n, impl)["median"] for n in names]
            lo = [res.get(section, n, impl)["min"] for n in names]
            hi = [res.get(section, n, impl)["max"] for n in names]
            err = np.array([np.subtract(med, lo), np.subtract(hi, med)])
            ax.bar(xs + (k - 0.5) * 0.38, med, 0.38, yerr=err, capsize=3, label=impl, color=colours[impl])
        for i, n in enumerate(names):
            ratio = res.get(section, n, "scratchnet")["median"] / res.get(section, n, "torch")["median"]
            top = max(res.get(section, n, impl)["max"] for impl in IMPLS)
            ax.text(i, top * 1.15, f"{ratio:.2f}x", ha="center", fontsize=9)
        ax.set_yscale("log")
        ax.set_xticks(xs, [MODEL_TITLE[n] for n in names])
        ax.set_ylabel("images / s (log scale)")
        ax.set_title(title)
        ax.set_ylim(top=ax.get_ylim()[1] * 2.5)
        ax.legend(loc="lower left")
    fig.suptitle(f"scratchnet vs torch, CPU, {res.meta['threads']} threads (median, min-max; label = scratchnet/torch)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _before_cells(baseline: dict, section: str, item: str) -> str:
    """The 'before' columns of a row: scratchnet's median and its ratio to torch in the baseline run."""
    old, oldt = baseline["rows"].get((section, item, "scratchnet")), baseline["rows"].get((section, item, "torch"))
    if not (old and oldt):
        return " - | - |"
    return f" {float(old['median']):,.0f} | {float(old['median']) / float(oldt['median']):.2f}x |"


def _ratio(res: Results, section: str, item: str) -> float:
    a, b = res.get(section, item, "scratchnet"), res.get(section, item, "torch")
    return a["median"] / b["median"] if a and b else float("nan")


#: issue 5's targets: scratchnet / torch train throughput at the recipe batch, and warm start in seconds
TARGETS = {"seedcnn": 1.5, "ffn": 1.0, "examplesnet": 0.7}
WARM_START_S = 3.0


def targets_section(res: Results, names: list[str]) -> list[str]:
    """The targets, each judged on the same-process ratio and on the own-process ratio."""
    L = ["", "### Targets", "", "| target | same process | own processes | met |", "|---|---|---|---|"]
    for n in names:
        if n not in TARGETS:
            continue
        same = _ratio(res, "train", n)
        sa, ta = res.get("train", n, "scratchnet alone"), res.get("train", n, "torch alone")
        own = sa["median"] / ta["median"] if sa and ta else None
        ok = same >= TARGETS[n] and (own is None or own >= TARGETS[n])
        verdict = "yes" if ok else ("no" if own is None or (same < TARGETS[n] and own < TARGETS[n]) else
                                    "only in one of the two measurements")
        L.append(f"| {MODEL_TITLE[n]} training >= {TARGETS[n]:.1f}x torch | {same:.2f}x | "
                 f"{'-' if own is None else f'{own:.2f}x'} | {verdict} |")
    warm = [r for r in res.rows if r["section"] == "jit" and r["impl"] == "warm cache"]
    if warm:
        worst = max(warm, key=lambda r: r["to_first_step_s"])
        L.append(f"| warm start (cached JIT) to first training step < {WARM_START_S:.0f} s | "
                 f"{worst['to_first_step_s']:.2f} s (slowest model: {MODEL_TITLE[worst['item']]}) | - | "
                 f"{'yes' if worst['to_first_step_s'] < WARM_START_S else 'no'} |")
    return L


def write_markdown(res: Results, names: list[str], path: Path, baseline: dict | None, args) -> None:
    m = res.meta
    L = ["# Benchmarks: scratchnet vs torch on the CPU", ""]
    L += [f"Written by `{m['command']}` on {m['date']}; commit `{m['commit']}`.", ""]
    L += ["| machine | |", "|---|---|"]
    L += [f"| CPU | {m['cpu']} ({m['cpu_family_model']}), {m['simd']} |",
          f"| cores used | {m['cores']} usable, {m['threads']} threads for both (numba.set_num_threads = torch.set_num_threads) |",
          f"| caches | L2 {m['l2']}, L3 {m['l3']} |",
          f"| versions | Python {m['python']}, NumPy {m['numpy']}, Numba {m['numba']}, torch {m['torch']} |",
          f"| load average at start / end | {m['load_start']:.2f} / {m['load_end']:.2f} |",
          f"| CPU used by other processes, in cores, per section | {m['others']} (0 = the machine was ours) |",
          f"| mode | {'--quick' if args.quick else 'full'}; {m['data']} images for the throughput runs |", ""]

    L += ["## Train-step throughput", "",
          "A step is forward, loss, `zero_grad`, backward and optimiser step, in training mode (dropout on), "
          f"at the recipe batch size; {res.meta['reps']} interleaved repetitions after warm-up, each of several steps. "
          "Images per second: median (min-max). Ratio = scratchnet / torch (above 1: scratchnet is faster). "
          "*Alone*: each implementation again in a fresh process of its own (torch without Numba threads and "
          "with glibc's default malloc; scratchnet without torch), a check that sharing one process slows "
          "neither side; the targets are judged on both ratios.", ""]
    head = ("| model | batch | optimiser | scratchnet img/s | torch img/s | ratio (same process) | scratchnet alone img/s "
            "| torch alone img/s | ratio (own processes) |")
    sep = "|---|---|---|---|---|---|---|---|---|"
    if baseline:
        head += " before: scratchnet img/s | before: ratio | before: torch alone img/s |"
        sep += "---|---|---|"
    L += [head, sep]
    for n in names:
        a, b = res.get("train", n, "scratchnet"), res.get("train", n, "torch")
        sa, ta = res.get("train", n, "scratchnet alone"), res.get("train", n, "torch alone")
        fmt = lambda r: Stat([r["median"], r["min"], r["max"]], "").fmt() if r else "-"  # noqa: E731
        alone_ratio = f"**{sa['median'] / ta['median']:.2f}x**" if sa and ta else "-"
        row = (f"| {MODEL_TITLE[n]} | {a['batch']} | {OPTIMISER[n]} | {fmt(a)} | {fmt(b)} | "
               f"**{_ratio(res, 'train', n):.2f}x** | {fmt(sa)} | {fmt(ta)} | {alone_ratio} |")
        if baseline:
            olda = baseline["rows"].get(("train", n, "torch alone"))
            row += _before_cells(baseline, "train", n) + (f" {float(olda['median']):,.0f} |" if olda else " - |")
        L.append(row)
    if baseline:
        L += ["", "Before this work, scratchnet's Linear layers ran on NumPy's OpenBLAS, whose worker threads spin "
              "after each call; in that run they also slowed the torch side of the shared process (compare its "
              "*torch* and *torch alone* throughput), which flatters the old FFN ratio."]
    L += ["", "Where the two ratios differ, the side-by-side one is the disturbed measurement: in one process "
          "each library's worker threads stay awake for a while after its own call and compete with the other's "
          "for the cores (our reading of the gap, not measured separately); the own-process ratio is each "
          "library as a user runs it."]
    L += targets_section(res, names)
    L += ["", "## Inference throughput", "",
          f"Evaluation mode, one forward pass of a batch of {INFER_BATCH} (torch under `inference_mode`).", ""]
    head = "| model | scratchnet img/s | torch img/s | ratio |"
    sep = "|---|---|---|---|"
    if baseline:
        head += " before: scratchnet img/s | before: ratio |"
        sep += "---|---|"
    L += [head, sep]
    for n in names:
        a, b = res.get("infer", n, "scratchnet"), res.get("infer", n, "torch")
        row = (f"| {MODEL_TITLE[n]} | {Stat([a['median'], a['min'], a['max']], '').fmt()} "
               f"| {Stat([b['median'], b['min'], b['max']], '').fmt()} | **{_ratio(res, 'infer', n):.2f}x** |")
        if baseline:
            row += _before_cells(baseline, "infer", n)
        L.append(row)
    L += ["", "![throughput](benchmarks.png)", ""]

    if baseline:
        bm = baseline["meta"]
        L += [f"*Before* columns: an earlier run of this benchmark on the code before the kernel work "
              f"(commit `{bm.get('commit', '?')}`, {bm.get('date', '?')}, `{bm.get('command', '?')}`; other "
              f"processes used {bm.get('others', '?')} cores), passed in with `--baseline`; its rows are in "
              "`benchmarks.csv` with `run = baseline`.", ""]

    gemm = [r for r in res.rows if r["section"] == "sgemm"]
    L += ["## Per-op timings", "",
          f"Estimated machine peak: {_machine.peak_formula(m)}. "
          + ("Measured fp32 GEMM rate (2048^3, best implementation's median): "
             + ", ".join(f"{r['impl']} {r['median']:.0f} GFLOP/s" for r in gemm) + ". " if gemm else "")
          + "The peak uses the nominal clock; under boost a core can run faster, so a fraction near or above 100% "
            "means the clock was above nominal, not that the estimate was beaten. "
            "GFLOP/s = 2 x multiply-adds / median time. Grad-weight includes the bias gradient on both sides. "
            "Speed-up = torch time / scratchnet time.", ""]
    L += ["| op | pass | scratchnet ms | torch ms | speed-up | scratchnet GFLOP/s (% peak) | torch GFLOP/s (% peak) |",
          "|---|---|---|---|---|---|---|"]
    seen = []
    for r in res.rows:
        if r["section"] == "op" and r["item"] not in seen:
            seen.append(r["item"])
    for item in seen:
        a, b = res.get("op", item, "scratchnet"), res.get("op", item, "torch")
        op, what = item.split(" | ")
        gf = lambda r: f"{r['gflops']:.1f} ({100 * r['peak_frac']:.0f}%)" if "gflops" in r else "-"  # noqa: E731
        L.append(f"| {op} | {what} | {Stat([a['median'], a['min'], a['max']], '').fmt(3)} "
                 f"| {Stat([b['median'], b['min'], b['max']], '').fmt(3)} | {b['median'] / a['median']:.2f}x "
                 f"| {gf(a)} | {gf(b)} |")

    L += ["", "## JIT cost (fresh processes)", "",
          "Each model in a new Python process: import scratchnet, build the model, run two train steps. "
          "*Empty cache*: `NUMBA_CACHE_DIR` points at a new temporary directory, so every kernel is compiled; "
          "*warm cache*: a second process with the same directory loads the compiled kernels. "
          "*To first step done* counts from the first import to the end of the first step; "
          "*process wall* adds interpreter start-up and exit.", ""]
    L += ["| model | cache | import s | first step s | second step s | to first step done s | process wall s |",
          "|---|---|---|---|---|---|---|"]
    for r in res.rows:
        if r["section"] == "jit":
            L.append(f"| {MODEL_TITLE[r['item']]} | {r['impl']} | {r['median']:.2f} | {r['first_step_s']:.2f} "
                     f"| {r['second_step_s']:.3f} | **{r['to_first_step_s']:.2f}** | {r['process_wall_s']:.2f} |")

    L += ["", "## Peak memory of one training epoch (fresh processes)", "",
          "Each run imports its library, loads the MNIST training set with `scratchnet.data.load_mnist` + `normalize` "
          f"({'a subset, --quick' if args.quick else 'all of it'}) and trains one epoch at the recipe batch size. "
          "*Peak (getrusage)* is `ru_maxrss` of the whole process, so it includes loading the data; "
          "*epoch peak* is the peak resident size during the epoch alone (the kernel's peak mark is reset, "
          "via /proc/self/clear_refs, once the data are loaded); *resident with data* is the resident size "
          "just before training, so *epoch peak - resident with data* is what training itself added.", ""]
    L += ["| model | impl | images | after import MiB | resident with data MiB | epoch peak MiB | training added MiB "
          "| peak (getrusage) MiB | epoch s |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in res.rows:
        if r["section"] == "memory":
            L.append(f"| {MODEL_TITLE[r['item']]} | {r['impl']} | {r['images']} | {r['rss_import_mb']:.0f} "
                     f"| {r['rss_data_mb']:.0f} | {r['peak_epoch_mb']:.0f} | {r['peak_epoch_mb'] - r['rss_data_mb']:.0f} "
                     f"| {r['median']:.0f} | {r['epoch_s']:.1f} |")
    L += ["", "## What the scratchnet side runs", "",
          "- **Convolution, stride 1** (every conv of the three models): a direct, im2col-free kernel on *flat rows*: "
          "each padded image plane is one contiguous vector, so a 3x3 tap is one long loop over all output rows "
          "(the 2 columns per row that run past the edge are computed and dropped). Register blocks of 4 output "
          "channels x 3 taps: one input load feeds 4 FMAs, one accumulator load/store carries 3. The grad-input is "
          "the same kernel on `dout` (full convolution, mirrored taps); the grad-weight is blocks of 4x3 dot "
          "products per image, the images then added in order. Forward and grad-input add their terms in the "
          "order of the plain loops, so they give the same bits as the original kernels.",
          "- **Linear**: Numba kernels instead of NumPy's BLAS (whose spinning worker threads fought the Numba "
          "threads for the two cores): 4x4 register-blocked dot products forward; the backward products sum in "
          "order of k in blocks of 192, the order of torch's MKL, which they reproduce bit for bit for layers with "
          "64 or more outputs.",
          "- **No input gradient**: a training step calls `model.backward(..., input_grad=False)`: the first layer with "
          "parameters skips dL/dx, which nothing needs (torch skips it too for an input without `requires_grad`).",
          "- **ReLU, dropout**: one-pass element-wise kernels (single thread: too short to be worth waking threads); "
          "**max-pool 2x2**: an unrolled kernel; the backward zeroes and scatters plane by plane.",
          "- **Memory**: importing `scratchnet.kernels` raises glibc's mmap and trim thresholds so that the arrays "
          "freed at the end of one step are reused by the next instead of being unmapped and page-faulted in again "
          "(`SCRATCHNET_MALLOC=default` turns it off). It is process-wide, so the torch side of this benchmark "
          "runs with it too.",
          "- Every kernel is deterministic: parallel loops run over batch items or independent output tiles and "
          "every sum has a fixed order, so results are bit-identical for any thread count.",
          "", "## How it was measured", "",
          "- Same process, same thread count, same initial weights (`torchref.from_scratch`), same batches; "
          "repetitions interleaved and their order flipped each time, so background load hits both sides; the "
          "header says how much CPU other processes used during each section.",
          "- Raw numbers: [benchmarks.csv](benchmarks.csv) (one row per measurement).", ""]
    path.write_text("\n".join(L))


# ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compare.bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions and a data subset: under a minute")
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: usable cores)")
    p.add_argument("--models", default="ffn,seedcnn,examplesnet")
    p.add_argument("--out", default=str(REPO / "reports"), help="directory for benchmarks.{md,csv,png}")
    p.add_argument("--skip", default="", help="comma-separated sections to skip: ops,jit,memory")
    p.add_argument("--memory-images", type=int, default=None, help="images in the memory epoch (default: all; quick: 3000)")
    p.add_argument("--baseline", default=None, help="CSV of an earlier run to show as 'before' columns")
    p.add_argument("--child", choices=["jit", "memory", "alone"], help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--impl", help=argparse.SUPPRESS)
    p.add_argument("--images", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    threads = args.threads or _machine.usable_cores()

    if args.child == "jit":
        print(json.dumps(child_jit(args.model, threads)))
        return 0
    if args.child == "memory":
        print(json.dumps(child_memory(args.model, args.impl, threads, args.images)))
        return 0
    if args.child == "alone":
        print(json.dumps(child_alone(args.impl, args.model, threads, args.steps, args.reps, args.warmup)))
        return 0

    from tqdm import tqdm

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.quick:
        cfg = dict(reps=3, warmup=1, steps={"ffn": 20, "seedcnn": 3, "examplesnet": 1}, infer_batch=INFER_BATCH,
                   infer_reps=3, op_reps=5, gemm_reps=3, alone=False)
        mem_images = args.memory_images or 3000
        jit_names = ["ffn"] if "ffn" in names else names[:1]  # the fewest kernels to compile
    else:
        cfg = dict(reps=15, warmup=2, steps={"ffn": 50, "seedcnn": 10, "examplesnet": 3}, infer_batch=INFER_BATCH,
                   infer_reps=15, op_reps=30, gemm_reps=10, alone=True)
        mem_images = args.memory_images or 0
        jit_names = names
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    set_threads(threads)
    meta = _machine.describe(threads)
    meta["load_start"] = _machine.other_load()
    meta["reps"] = cfg["reps"]
    meta["data"] = sample_batches(1)[2]
    res = Results(meta)
    baseline = read_baseline(Path(args.baseline)) if args.baseline else None

    total = 2 * len(names) + (0 if "ops" in skip else len(op_cases()))
    total += 0 if "jit" in skip else 2 * len(jit_names)
    total += 0 if "memory" in skip else 2 * len(names)
    others: dict[str, float] = {}
    with tqdm(total=total, desc="benchmarks", unit="part") as bar:
        meter = _machine.OtherLoad()
        bench_throughput(res, names, cfg, threads, bar)
        others["throughput"] = meter.cores()
        if "ops" not in skip:
            meter = _machine.OtherLoad()
            bench_sgemm(res, cfg)
            bench_ops(res, cfg, float(meta["peak_gflops"]), bar)
            others["per-op"] = meter.cores()
        if "jit" not in skip:
            meter = _machine.OtherLoad()
            bench_jit(res, jit_names, threads, bar)
            others["JIT"] = meter.cores()
        if "memory" not in skip:
            meter = _machine.OtherLoad()
            bench_memory(res, names, threads, mem_images, bar)
            others["memory"] = meter.cores()
    meta["load_end"] = _machine.other_load()
    meta["others"] = ", ".join(f"{k} {v:.2f}" for k, v in others.items())

    # print what the report will say
    print(f"\n{meta['cpu']}, {threads} threads; commit {meta['commit']}; other processes used (cores): {meta['others']}")
    for section in ("train", "infer"):
        for n in names:
            a, b, c = res.get(section, n, "scratchnet"), res.get(section, n, "torch"), res.get(section, n, "torch alone")
            print(f"{section:5s} {MODEL_TITLE[n]:12s} scratchnet {a['median']:10,.0f} img/s  torch {b['median']:10,.0f} img/s"
                  f"  ratio {a['median'] / b['median']:.2f}" + (f"  (torch alone {c['median']:,.0f} img/s)" if c else ""))
    for r in res.rows:
        if r["section"] == "op":
            gf = f"  {r['gflops']:.1f} GFLOP/s" if "gflops" in r else ""
            print(f"op    {r['item']:62s} {r['impl']:10s} {r['median']:8.3f} ms{gf}")
        elif r["section"] == "jit":
            print(f"jit   {MODEL_TITLE[r['item']]:12s} {r['impl']:11s} import {r['median']:.2f} s, first step "
                  f"{r['first_step_s']:.2f} s, to first step done {r['to_first_step_s']:.2f} s")
        elif r["section"] == "memory":
            print(f"mem   {MODEL_TITLE[r['item']]:12s} {r['impl']:10s} getrusage peak {r['median']:.0f} MiB, "
                  f"epoch peak {r['peak_epoch_mb']:.0f} MiB (resident with data {r['rss_data_mb']:.0f} MiB), "
                  f"epoch of {r['images']} images {r['epoch_s']:.1f} s")
    write_csv(res, out_dir / "benchmarks.csv", baseline)
    write_plot(res, names, out_dir / "benchmarks.png")
    write_markdown(res, names, out_dir / "benchmarks.md", baseline, args)
    print(f"wrote {out_dir / 'benchmarks.md'}, benchmarks.csv, benchmarks.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
