"""``python -m compare.parity``: how closely scratchnet tracks torch, layer by layer and over training.

For each model and dtype, both sides start from the same weights and see the same batch. The report
gives, per layer, the largest difference of the layer's output (forward) and of the gradient arriving
at its input (backward), and per parameter the largest gradient difference, each relative to the
largest |torch value| of that tensor. Then both sides train for ``--steps`` steps with Adam on the same
batches, and the two loss curves are overlaid with their difference.

Writes ``reports/parity/``: report.md, parity.csv, curves.json, layers.png, training.png.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from scratchnet.data import MNIST_DIR_ENV, MNISTNotFoundError, load_mnist_split, normalize
from scratchnet.recipes import RECIPES

from scratchnet.run.args import HelpFormatter, positive_int, seed_int

from .cli import check_counts, run_report
from .figures import pyplot
from .models import Pair, build_pair, display_name
from .report import Report, table, texts

TEXT = texts("parity")
MODEL_NAMES = ("ffn", "seedcnn", "examplesnet")
NO_DROPOUT = {"ffn": {"dropout": 0.0}, "seedcnn": {}, "examplesnet": {"dropout1": 0.0, "dropout2": 0.0}}
DTYPES = {"float64": np.float64, "float32": np.float32}


def load_images(data_dir: str | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str, Path | None]:
    """n MNIST training images (uint8) and labels, or generated digit-like ones when no directory was named
    (``data_dir`` or ``MNIST_DIR``) and the cache holds no MNIST. A named directory without the files is
    an error, not a reason to measure something else. Also returns the source in words and the directory."""
    try:
        split = load_mnist_split(data_dir, "train", download=False)
        idx = np.random.default_rng(seed).choice(len(split), n, replace=False)
        return split.images[idx], split.labels[idx], "MNIST training images", split.directory
    except MNISTNotFoundError:
        if data_dir is not None or os.environ.get(MNIST_DIR_ENV):
            raise
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 10, size=n)
        x = rng.integers(0, 80, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, 3 + 2 * c : 6 + 2 * c, 5:23] = 255
        return x, y.astype(np.int64), "generated digit-like images (MNIST not found)", None


#: two entries of a max-pool window closer than this many units of roundoff (relative) count as tied
TIE_ULPS = 4


def _row(model: str, dtype: str, layer: str, kind: str, ours, theirs, tied=None) -> dict[str, Any]:
    """max |ours - theirs|, that divided by max |theirs|, and the count of elements off by more than 1e-4 of it;
    ``tied`` (bool, the tensor's shape) marks elements set apart as depending on a near-tied max-pool window:
    ``max_rel_untied`` is the same measure over the others (equal to ``max_rel`` when none is set apart)."""
    d = np.abs(np.asarray(ours, dtype=np.float64) - np.asarray(theirs, dtype=np.float64))
    scale = float(np.max(np.abs(theirs))) or 1.0
    tied = np.zeros(d.shape, dtype=bool) if tied is None else np.asarray(tied, dtype=bool).reshape(d.shape)
    rest = d[~tied]
    return {"model": model, "dtype": dtype, "layer": layer, "kind": kind, "max_abs": float(d.max()),
            "max_rel": float(d.max()) / scale, "elements_off": int(np.count_nonzero(d > 1e-4 * scale)),
            "elements": int(np.size(theirs)), "elements_tied": int(tied.sum()), "tied_windows": 0,
            "max_rel_untied": float(rest.max()) / scale if rest.size else 0.0}


def _windows(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, Ho, Wo, kernel * kernel): the entries of every max-pool window."""
    w = x.unfold(2, kernel, stride).unfold(3, kernel, stride)
    return w.reshape(*w.shape[:4], -1)


def near_tied_windows(ours, theirs, kernel: int, stride: int, ulps: int = TIE_ULPS) -> np.ndarray:
    """bool (N, C, Ho, Wo): the max-pool windows whose two largest entries lie within ``ulps`` units of
    roundoff of each other in either implementation, and whose entries are not identical in both. There
    the two max-pools may pick different positions (a valid subgradient each); identical windows, exact
    ties included, are broken the same way on both sides and are not set apart."""
    a, b = (torch.as_tensor(np.asarray(v)) for v in (ours, theirs))
    eps = float(np.finfo(np.asarray(ours).dtype).eps)
    wa, wb = _windows(a, kernel, stride), _windows(b, kernel, stride)

    def tied(w: torch.Tensor) -> torch.Tensor:
        top = w.topk(2, dim=-1).values
        return (top[..., 0] - top[..., 1]) <= ulps * eps * top[..., 0].abs()

    return ((tied(wa) | tied(wb)) & (wa != wb).any(dim=-1)).numpy()


def window_elements(windows: np.ndarray, kernel: int, stride: int, shape: tuple[int, ...]) -> np.ndarray:
    """bool ``shape`` (the pool's input): the elements that belong to any of the marked ``windows``."""
    m = torch.as_tensor(windows, dtype=torch.float64).reshape(-1, 1, *windows.shape[2:])
    cover = torch.nn.functional.conv_transpose2d(m, torch.ones(1, 1, kernel, kernel, dtype=torch.float64), stride=stride)
    out = np.zeros((m.shape[0], 1, *shape[2:]), dtype=bool)
    h, w = min(cover.shape[2], shape[2]), min(cover.shape[3], shape[3])
    out[:, :, :h, :w] = cover[:, :, :h, :w].numpy() > 0
    return out.reshape(shape)


def tie_masks(ours: list, t_outs: list, theirs: list) -> tuple[dict[int, np.ndarray], int]:
    """Per layer index: the elements of the gradient at that layer's output that can depend on a near-tied
    max-pool window (the window's own entries, and, earlier in the net, whatever feeds them, found by
    sending random positive weights on those entries back through torch's graph), and the number of
    near-tied windows. Call before the loss's backward (the graph is kept)."""
    masks: dict[int, np.ndarray] = {}
    count = 0
    for p, layer in enumerate(theirs):
        if p == 0 or not isinstance(layer, torch.nn.MaxPool2d):
            continue
        kernel, stride = (int(np.atleast_1d(v)[0]) for v in (layer.kernel_size, layer.stride or layer.kernel_size))
        windows = near_tied_windows(ours[p - 1], t_outs[p - 1].detach().numpy(), kernel, stride)
        count += int(windows.sum())
        if not windows.any():
            continue
        elements = torch.from_numpy(window_elements(windows, kernel, stride, tuple(t_outs[p - 1].shape)))
        weights = (torch.rand(elements.shape, generator=torch.Generator().manual_seed(p), dtype=t_outs[p - 1].dtype)
                   + 0.5) * elements
        grads = torch.autograd.grad(t_outs[p - 1], t_outs[:p], grad_outputs=weights, retain_graph=True,
                                    allow_unused=True)
        for i, g in enumerate(grads):
            if g is not None:
                masks[i] = masks.get(i, np.zeros(g.shape, dtype=bool)) | (g != 0).numpy()
    for t in t_outs:  # retain_grad() also keeps what autograd.grad computed: the loss's backward starts clean
        t.grad = None
    return masks, count


def dropout_free_pair(name: str, dtype: str, seed: int) -> Pair:
    """scratchnet's model and its torch twin from the same weights, dropout off, with Adam(1e-3) on both."""
    recipe = replace(RECIPES[name], optimizer="adam", lr=1e-3)
    return build_pair(recipe, seed, dtype=DTYPES[dtype], **NO_DROPOUT[name])


def layer_parity(name: str, dtype: str, x: np.ndarray, y: np.ndarray, seed: int) -> list[dict[str, Any]]:
    """Per-layer forward/backward differences and per-parameter gradient differences."""
    pair = dropout_free_pair(name, dtype, seed)
    ours, theirs = pair.scratchnet.model, pair.torch.model
    xs = x.astype(DTYPES[dtype])
    t_in = torch.from_numpy(xs.copy()).requires_grad_(True)
    rows: list[dict[str, Any]] = []
    outs, t_outs = [], []
    h, th = xs, t_in
    for (lname, layer), tlayer in zip(ours.named_children(), theirs.children()):
        h = layer(h)
        th = tlayer(th)
        th.retain_grad()
        outs.append(h)
        t_outs.append(th)
        rows.append(_row(name, dtype, lname, "forward output", h, th.detach().numpy()))
    masks, windows = tie_masks(outs, t_outs, list(theirs.children()))
    crit, tcrit = pair.scratchnet.loss, pair.torch.loss
    loss = crit(outs[-1], y)
    tloss = tcrit(t_outs[-1], torch.from_numpy(y))
    tloss.backward()
    grad = crit.backward()
    rows.append(_row(name, dtype, "loss", "loss value", np.array(loss), np.array(tloss.item())))
    for i, (lname, layer) in reversed(list(enumerate(ours.named_children()))):
        rows.append(_row(name, dtype, lname, "gradient at output", grad, t_outs[i].grad.numpy(), masks.get(i))
                    | {"tied_windows": windows})
        grad = layer.backward(grad)
    tparams = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        rows.append(_row(name, dtype, pname, "parameter gradient", p.grad, tparams[pname].grad.numpy()))
    return rows


def training_curves(name: str, dtype: str, x: np.ndarray, y: np.ndarray, steps: int, batch: int, seed: int) -> dict[str, Any]:
    """Both sides trained with Adam(1e-3) from the same weights on the same batches; both loss curves."""
    pair = dropout_free_pair(name, dtype, seed)
    rng = np.random.default_rng(seed)
    xs = x.astype(DTYPES[dtype])
    a, b = [], []
    for _ in range(steps):
        idx = rng.choice(len(xs), batch, replace=False)
        a.append(float(pair.scratchnet.step(xs[idx], y[idx])))
        b.append(pair.torch.step(torch.from_numpy(xs[idx]), torch.from_numpy(y[idx])).item())
    return {"model": name, "dtype": dtype, "scratchnet": a, "torch": b}


def plot_layers(rows: list[dict[str, Any]]):
    """Per model, per kind, per layer: the relative difference on a log axis that holds every bar. Filled
    bars leave out the elements set apart as depending on near-tied max-pool windows (``max_rel_untied``);
    where that changes the value, the raw measure over all elements is drawn beside it, hatched. An exact
    zero, which a log axis cannot show, is written as "0" at the bottom."""
    plt = pyplot()
    kinds = ["forward output", "gradient at output", "parameter gradient"]
    colours = {"float64": "tab:blue", "float32": "tab:orange"}
    top = 10 ** np.ceil(np.log10(max([1e-2] + [3 * r["max_rel"] for r in rows])))
    fig, axes = plt.subplots(len(MODEL_NAMES), len(kinds), figsize=(15, 3.4 * len(MODEL_NAMES)), squeeze=False)
    for i, name in enumerate(MODEL_NAMES):
        for j, kind in enumerate(kinds):
            ax = axes[i][j]
            for k, dtype in enumerate(DTYPES):
                sel = [r for r in rows if r["model"] == name and r["kind"] == kind and r["dtype"] == dtype]
                if not sel:
                    continue
                pos = np.arange(len(sel)) + (k - 0.5) * 0.4
                untied = np.array([r["max_rel_untied"] for r in sel])
                raw = np.array([r["max_rel"] for r in sel])
                split = raw > untied
                width = np.where(split, 0.2, 0.38)
                ax.bar(pos - split * 0.1, np.where(untied > 0, untied, np.nan), width=width, color=colours[dtype],
                       label=f"{dtype} (near-tied max-pool windows set apart)")
                if split.any():
                    ax.bar((pos + 0.1)[split], raw[split], width=0.2, color="white", edgecolor=colours[dtype],
                           hatch="///", label=f"{dtype} raw, all elements")
                for x in pos[untied == 0]:
                    ax.text(x, 2e-18, "0", ha="center", va="bottom", fontsize=8, color=colours[dtype])
                ax.set_xticks(np.arange(len(sel)), [r["layer"] for r in sel], rotation=45, ha="right", fontsize=7)
            ax.set_yscale("log")
            ax.set_ylim(1e-18, top)
            ax.set_title(f"{display_name(name)}: {kind}", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
            if j == 0:
                ax.set_ylabel("max |diff| / max |torch|")
    handles = max((ax.get_legend_handles_labels() for ax in axes.ravel()), key=lambda hl: len(hl[0]))
    axes[0][-1].legend(*handles, fontsize=7.5, loc="upper left")  # where the bars stay low: no bar hidden
    fig.suptitle("Largest relative difference, scratchnet vs torch, per layer (log axis; a written 0: exactly equal)",
                 fontsize=10)
    return fig


def plot_curves(curves: list[dict[str, Any]]):
    plt = pyplot()
    fig, axes = plt.subplots(2, len(MODEL_NAMES), figsize=(5 * len(MODEL_NAMES), 6.5), squeeze=False)
    for j, name in enumerate(MODEL_NAMES):
        if not any(c["model"] == name for c in curves):
            for ax in axes[:, j]:
                ax.set_axis_off()
            continue
        for c in (c for c in curves if c["model"] == name):
            a, b = np.array(c["scratchnet"]), np.array(c["torch"])
            steps = np.arange(1, len(a) + 1)
            if c["dtype"] == "float32":
                axes[0][j].plot(steps, b, "-", color="tab:orange", lw=3, alpha=0.5, label="torch (float32)")
                axes[0][j].plot(steps, a, "--", color="tab:blue", lw=1.2, label="scratchnet (float32)")
            diff = np.abs(a - b)
            line = axes[1][j].semilogy(steps, np.where(diff > 0, diff, np.nan), ".-", ms=3, label=c["dtype"])[0]
            zeros = int((diff == 0).sum())
            if zeros:  # a log axis has no 0: exact agreement is marked on the bottom edge, not invented
                axes[1][j].plot(steps[diff == 0], np.full(zeros, 0.04 * (c["dtype"] == "float32")), "v", ms=4, color=line.get_color(),
                                clip_on=False, transform=axes[1][j].get_xaxis_transform(),
                                label=f"{c['dtype']}: exactly 0 ({zeros} step{'s' if zeros != 1 else ''}, ▼ at the bottom)")
        axes[0][j].set(title=f"{display_name(name)}: training loss, Adam 1e-3", xlabel="step", ylabel="loss")
        axes[1][j].set(title=f"{display_name(name)}: |scratchnet - torch| loss", xlabel="step",
                       ylabel="abs difference (log scale)")
        for ax in axes[:, j]:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    return fig


def run(out: Path, data_dir: str | None, seed: int, batch: int, steps: int, quick: bool, progress: bool | None) -> Report:
    rep = Report(out, seed=seed)
    names = ("ffn", "seedcnn") if quick else MODEL_NAMES
    images, labels, source, directory = load_images(data_dir, max(batch * 4, 256), seed)
    x = normalize(images, "mnist", dtype=np.float64)
    rows, curves = [], []
    jobs = [(n, d) for n in names for d in DTYPES]
    for name, dtype in tqdm(jobs, desc="parity", disable=None if progress is None else not progress):
        rows += layer_parity(name, dtype, x[:batch], labels[:batch], seed)
        curves.append(training_curves(name, dtype, x, labels, steps, batch, seed))
    data_line = f"- data: {batch} {source}" if directory is None else rep.data(directory, batch)[0]
    rep.csv("parity.csv", rows, list(rows[0]))
    rep.json("curves.json", {"provenance": rep.info, "curves": curves})
    rep.figure("layers.png", plot_layers(rows))
    rep.figure("training.png", plot_curves(curves))
    rep.markdown("report.md", report_lines(rep, rows, curves, data_line, batch, steps))
    return rep


def _worst(rows: list[dict[str, Any]], kind: str, key: str = "max_rel") -> str:
    r = max((r for r in rows if r["kind"] == kind), key=lambda r: r[key])
    return f"{r[key]:.1e} ({r['layer']})"


def report_lines(rep: Report, rows, curves, data_line: str, batch: int, steps: int) -> list[str]:
    lines = [*rep.header("Parity: scratchnet against torch, layer by layer and over training"),
             data_line + ", normalised with (0.1307, 0.3081); dropout probabilities set to 0 on both sides", "", TEXT["intro"], ""]
    worst = []
    for name in dict.fromkeys(r["model"] for r in rows):
        for dtype in DTYPES:
            sel = [r for r in rows if r["model"] == name and r["dtype"] == dtype]
            grads = [r for r in sel if r["kind"] == "gradient at output"]
            worst.append([display_name(name), dtype, _worst(sel, "forward output"), _worst(sel, "gradient at output"),
                          _worst(sel, "gradient at output", "max_rel_untied"), f"{grads[0]['tied_windows']:,}",
                          *(_worst(sel, k) for k in ("parameter gradient", "loss value"))])
    lines += table(["model", "dtype", "largest forward diff", "largest input-gradient diff (raw)",
                    "the same, near-tied max-pool windows set apart", "near-tied windows",
                    "largest parameter-gradient diff", "loss diff"], worst)
    flipped = [r for r in rows if r["kind"] == "gradient at output" and r["max_rel"] > 1e-3]
    if flipped:
        lines += ["", "**Where a gradient differs by much more than round-off** (" + ", ".join(
            f"{r['model']} {r['dtype']} at {r['layer']}: {r['elements_off']} of {r['elements']} elements, "
            f"{r['max_rel']:.1e} raw, {r['max_rel_untied']:.1e} without the {r['elements_tied']} elements that depend "
            "on near-tied windows" for r in flipped) + ")" + TEXT["ties"]]
    lines += ["", f"## Training: {steps} Adam steps from the same weights on the same batches of {batch}", "",
              "![training curves](training.png)", ""]
    finals = []
    for c in curves:
        a, b = np.array(c["scratchnet"]), np.array(c["torch"])
        finals.append([display_name(c["model"]), c["dtype"], f"{a[0]:.6f} / {b[0]:.6f}", f"{a[-1]:.6f} / {b[-1]:.6f}",
                       f"{np.max(np.abs(a - b)):.1e}"])
    lines += table(["model", "dtype", "first loss (scratchnet / torch)", "last loss (scratchnet / torch)",
                    "largest |difference|"], finals)
    return lines + ["", "Full per-layer numbers: [parity.csv](parity.csv); curves: [curves.json](curves.json).", ""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compare.parity", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--out", default="runs/parity",
                   help="folder for the report (git-ignored; the committed one is reports/parity)")
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DIR"),
                   help="MNIST-format IDX directory for the real-digit inputs (default: MNIST_DIR; without it, "
                        "generated images)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the weights, inputs and batches")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per layer check and training step")
    p.add_argument("--steps", type=positive_int, default=100, help="Adam steps of the training comparison")
    p.add_argument("--quick", action="store_true", help="FFN and SeedCNN only, 10 steps (for CI)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    steps = 10 if args.quick else args.steps
    check_counts(p, steps=steps, batch_size=args.batch_size)
    return run_report(lambda: run(Path(args.out), args.data_dir, args.seed, args.batch_size, steps, args.quick,
                                  False if args.no_progress else None))


if __name__ == "__main__":
    raise SystemExit(main())
