"""Per-op timings at the shapes of the three models' layers: convolution (forward, grad-input, grad-weight),
max-pool and linear (forward, backward), scratchnet's ops against torch's ATen calls, with GFLOP/s and the
fraction of the estimated peak where the flops are well defined."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .timing import Results, Stat, interleaved

Case = tuple[dict[str, Callable], dict[str, float]]  # functions by "what/impl", and their flops


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


def _normal(rng, shape, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def conv_case(rng, xs: tuple, ws: tuple, pad: int) -> Case:
    import torch
    import torch.nn.functional as F

    from scratchnet import ops

    x, w, b = _normal(rng, xs), _normal(rng, ws, 0.2), _normal(rng, ws[0])
    out, cache = ops.conv2d_forward(x, w, b, 1, pad)
    g = _normal(rng, out.shape)
    tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))

    def conv_bwd(mask):
        return torch.ops.aten.convolution_backward(tg, tx, tw, [ws[0]], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, mask)

    fns = {
        "forward/scratchnet": lambda: ops.conv2d_forward(x, w, b, 1, pad),
        "forward/torch": lambda: F.conv2d(tx, tw, tb, padding=pad),
        "grad-input/scratchnet": lambda: ops.conv.conv2d_backward_input(g, cache),
        "grad-input/torch": lambda: conv_bwd([True, False, False]),
        "grad-weight+bias/scratchnet": lambda: ops.conv.conv2d_backward_weight(g, cache),
        "grad-weight+bias/torch": lambda: conv_bwd([False, True, True]),
    }
    return fns, dict.fromkeys(fns, 2.0 * out.size * ws[1] * ws[2] * ws[3])


def pool_case(rng, xs: tuple) -> Case:
    import torch

    from scratchnet import ops

    aten = torch.ops.aten
    x = _normal(rng, xs)
    out, cache = ops.maxpool2d_forward(x, 2)
    g = _normal(rng, out.shape)
    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    _, tidx = aten.max_pool2d_with_indices(tx, [2, 2], [2, 2])
    return {
        "forward/scratchnet": lambda: ops.maxpool2d_forward(x, 2),
        "forward/torch": lambda: aten.max_pool2d_with_indices(tx, [2, 2], [2, 2]),
        "backward/scratchnet": lambda: ops.maxpool2d_backward(g, cache),
        "backward/torch": lambda: aten.max_pool2d_with_indices_backward(tg, tx, [2, 2], [2, 2], [0, 0], [1, 1],
                                                                         False, tidx),
    }, {}


def linear_case(rng, xs: tuple, ws: tuple) -> Case:
    import torch
    import torch.nn.functional as F

    from scratchnet import ops

    x, w, b = _normal(rng, xs), _normal(rng, ws, 0.05), _normal(rng, ws[0])
    out, cache = ops.linear_forward(x, w, b)
    g = _normal(rng, out.shape)
    tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))
    n_flop = 2.0 * xs[0] * ws[0] * ws[1]
    fns = {
        "forward/scratchnet": lambda: ops.linear_forward(x, w, b),
        "forward/torch": lambda: F.linear(tx, tw, tb),
        "backward/scratchnet": lambda: ops.linear_backward(g, cache),
        "backward/torch": lambda: (tg @ tw, tg.t() @ tx, tg.sum(0)),
    }
    return fns, {k: n_flop * (2 if k.startswith("backward") else 1) for k in fns}


CASES = {"conv": conv_case, "pool": pool_case, "linear": linear_case}


def bench_ops(res: Results, cfg: dict, peak: float, bar) -> None:
    rng = np.random.default_rng(3)
    for label, kind, *shapes in op_cases():
        fns, flops = CASES[kind](rng, *shapes)
        for key, secs in interleaved(fns, cfg["op_reps"], 3).items():
            what, impl = key.split("/")
            st = Stat([s * 1e3 for s in secs], "ms")
            extra = {}
            if key in flops:
                gf = flops[key] / (st.median * 1e-3) / 1e9
                extra = dict(gflops=gf, peak_frac=gf / peak if peak == peak else float("nan"))
            res.add("op", f"{label} | {what}", impl, st, **extra)
        bar.update(1)
