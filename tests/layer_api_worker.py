"""Runs layer-API cases for tests/test_layer_api_properties.py in a process of its own, so that a case
that crashes the interpreter (a kernel writing out of bounds) takes down this worker, not pytest.

Protocol: one JSON case per line on stdin, one JSON result per line on stdout (nothing else is written
there: stray prints go to stderr). ``python -m tests.layer_api_worker`` from the repository root.

A case describes a layer (``layer``, ``params``, parameter ``dtype``), an input (``shape``, ``x_dtype``,
``layout``), an upstream gradient (``grad``: right, or wrong in shape, ndim, dtype or type), whether
dL/dx is wanted (``input_grad``) and a ``seed``. The worker runs it in scratchnet and in torch and
reports, for forward and backward, ``{"ok": true}`` or ``{"error": type, "msg": message}`` per
library, and ``mismatch``: the parity helper's message when both ran and disagree (else None).
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import numpy as np

TOL = {"float32": 1e-5, "float64": 1e-10}
MODEL_TOL = {"float32": 1e-4, "float64": 1e-9}


def build_x(shape, x_dtype, layout, rng):
    """The input: ``shape`` of ``x_dtype`` values, laid out as ``layout`` says (or a list)."""
    base = np.asarray(rng.standard_normal(shape) * 2)
    if np.dtype(x_dtype).kind in "iub":
        base = np.round(base)
    x = base.astype(x_dtype)
    if layout == "c" or x.ndim == 0:
        return x
    if layout == "f":
        return np.asfortranarray(x)
    if layout == "transposed":  # a transposed view of an array of the reversed shape
        return np.ascontiguousarray(x.transpose(tuple(range(x.ndim))[::-1])).transpose(tuple(range(x.ndim))[::-1])
    if layout == "strided":  # every other element of a wider array
        wide = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), dtype=x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    if layout == "reversed":  # negative strides
        return np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    if layout == "readonly":
        x.flags.writeable = False
        return x
    if layout == "unaligned":
        raw = np.zeros(x.nbytes + 1, dtype=np.uint8)
        u = raw[1:].view(x.dtype).reshape(x.shape) if x.size else x
        u[...] = x
        return u
    if layout == "list":
        return x.tolist()
    raise ValueError(f"unknown layout {layout!r}")


def build_grad(kind, out, rng):
    """The upstream gradient for ``out``: right, or wrong in the way ``kind`` names."""
    g = np.asarray(rng.standard_normal(out.shape)).astype(out.dtype)
    if kind == "right":
        return g
    if kind == "noncontig":  # same values, another layout (a 0-d array has only one)
        if g.ndim == 0:
            return g
        return np.asfortranarray(g) if g.ndim > 1 else np.ascontiguousarray(np.repeat(g, 2))[::2]
    if kind == "bigger":  # one more along the first axis (the batch)
        return np.asarray(rng.standard_normal((out.shape[0] + 1, *out.shape[1:]) if out.ndim else (2,))).astype(out.dtype)
    if kind == "permuted":  # same size, another shape
        others = [s for s in (out.shape[::-1], out.shape[1:] + out.shape[:1]) if s != out.shape]
        shape = others[0] if others else (*out.shape, 1)
        return np.asarray(rng.standard_normal(shape)).astype(out.dtype)
    if kind == "flat":
        return g.reshape(-1) if g.ndim != 1 else g.reshape(1, -1)
    if kind == "extra_axis":
        return g[None]
    if kind == "other_dtype":
        return g.astype(np.float64 if out.dtype == np.float32 else np.float32)
    if kind == "int":
        return np.round(g).astype(np.int64)
    if kind == "list":
        return g.tolist()
    raise ValueError(f"unknown grad kind {kind!r}")


def build_layers(case):
    """(scratchnet module, torch module or None, names scratchnet may use in its errors)."""
    import torch

    from scratchnet import models
    from scratchnet import nn as snn
    from tests.torch_twins import TORCH_DTYPE, torch_twin

    kind, params, dtype = case["layer"], dict(case.get("params", {})), np.dtype(case["dtype"])
    if kind in ("ffn", "seedcnn", "examplesnet"):
        import torchref

        ours = models.build_model(kind, dtype=dtype, rng=case["seed"]).eval()
        theirs = torchref.from_scratch(ours, torchref.build_model(kind)).eval()
    elif kind == "Dropout":
        ours = snn.Dropout(params["p"], rng=case["seed"])
        if not params.get("training", False):
            ours.eval()
        theirs = None  # training: checked against the naive twin with the same generator
        if not ours.training:
            theirs = torch.nn.Dropout(params["p"]).eval()
    elif kind == "BasicBlock":
        import torchvision

        cin, planes, stride = params["inplanes"], params["planes"], params["stride"]
        down, tdown = None, None
        if stride != 1 or cin != planes:
            down = snn.Sequential(snn.Conv2d(cin, planes, 1, stride=stride, bias=False, dtype=dtype, rng=case["seed"]),
                                  snn.BatchNorm2d(planes, dtype=dtype))
            tdown = torch.nn.Sequential(torch.nn.Conv2d(cin, planes, 1, stride, bias=False), torch.nn.BatchNorm2d(planes))
        ours = snn.BasicBlock(cin, planes, stride, down, dtype=dtype, rng=case["seed"])
        theirs = torchvision.models.resnet.BasicBlock(cin, planes, stride, tdown).to(TORCH_DTYPE[dtype.type])
        theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
        if not params.get("training", True):
            ours.eval()
            theirs.eval()
    else:
        cls = getattr(snn, kind)
        params = {k: v for k, v in params.items() if k != "training"}
        if kind in ("Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d"):
            params.update(dtype=dtype)
        if kind in ("Linear", "Conv2d"):
            params.update(rng=case["seed"])
        ours = cls(**params)
        if not case.get("params", {}).get("training", True):
            ours.eval()
        theirs = torch_twin(ours)
    names = sorted({m._name() for m in ours.modules()} | {type(m).__name__ for m in ours.modules()})
    return ours, theirs, names


def _outcome(fn):
    try:
        return fn(), {"ok": True}
    except Exception as err:  # noqa: BLE001 - every exception is reported, the test judges it
        return None, {"error": type(err).__name__, "msg": str(err)}


def _parity(name, ours, theirs, rtol, scale=None):
    from tests.parity_utils import assert_parity, to_numpy

    t = to_numpy(theirs)
    if not isinstance(ours, np.ndarray):
        return f"{name}: scratchnet gave {type(ours).__name__}, torch an array {t.shape}"
    if ours.shape != t.shape or ours.dtype != t.dtype:
        return f"{name}: scratchnet {ours.shape} {ours.dtype} vs torch {t.shape} {t.dtype}"
    try:
        assert_parity(name, ours, t, rtol, scale=scale)
    except AssertionError as err:
        return str(err)
    return None


def run_case(case: dict) -> dict:
    """Run one case in scratchnet and torch; see the module docstring for the result."""
    import torch

    if case["layer"] == "__crash__":  # the harness's own test: die as a kernel bug would
        import ctypes

        ctypes.string_at(0)
    if case["layer"] == "__issue15__":  # issue 15's reproducer, word for word
        from scratchnet import nn

        p = nn.MaxPool2d(2)
        p(np.ones((1, 1, 4, 4), np.float32))
        _, bwd = _outcome(lambda: p.backward(np.ones((64, 8, 2, 2), np.float32)))
        return {"names": ["MaxPool2d(kernel_size=2)"], "mismatch": None, "ours_fwd": {"ok": True},
                "torch_fwd": {"ok": True}, "ours_bwd": bwd, "torch_bwd": {"error": "RuntimeError", "msg": "shape"}}
    rng = np.random.default_rng(case["seed"])
    ours, theirs, names = build_layers(case)
    model = case["layer"] in ("ffn", "seedcnn", "examplesnet", "BasicBlock", "BatchNorm1d", "BatchNorm2d")
    rtol = (MODEL_TOL if model else TOL)[case["dtype"]]
    x = build_x(tuple(case["shape"]), case["x_dtype"], case["layout"], rng)
    res = {"names": names, "mismatch": None}

    out, res["ours_fwd"] = _outcome(lambda: ours(x))
    if isinstance(out, np.ndarray) and out.dtype.name in TOL:  # a parameter-free layer runs in x's dtype
        rtol = (MODEL_TOL if model else TOL)[out.dtype.name]
    tx = None
    if theirs is not None:
        def torch_forward():
            nonlocal tx
            arr = np.array(x)  # a clean copy: torch sees the same values whatever the layout
            tx = torch.from_numpy(arr).requires_grad_(arr.dtype.kind == "f")
            return theirs(tx)
        tout, res["torch_fwd"] = _outcome(torch_forward)
    else:
        tout, res["torch_fwd"] = None, {"ok": True}
    if out is None:
        return res
    if theirs is None:  # Dropout in training: against the naive twin with the same generator
        from scratchnet.ops import naive

        nout, keep = naive.dropout_forward_naive(np.array(x), ours.p, np.random.default_rng(case["seed"]))
        res["mismatch"] = _parity("Dropout forward (naive twin)", out, nout, 0.0)
    elif tout is not None:
        res["mismatch"] = _parity(f"{case['layer']} forward", out, tout, rtol)
    if res["mismatch"]:
        return res

    g = build_grad(case["grad"], out, rng)
    input_grad = case.get("input_grad", True)
    ours.zero_grad()
    dx, res["ours_bwd"] = _outcome(lambda: ours.backward(g) if input_grad else ours.backward(g, input_grad=False))
    if theirs is None:
        res["torch_bwd"] = {"ok": True}
        if dx is not None:
            res["mismatch"] = _parity("Dropout grad input (naive twin)", dx,
                                      naive.dropout_backward_naive(np.array(g), keep, ours.p), 0.0)
        return res
    if tout is None:
        return res

    def torch_backward():
        tg = torch.from_numpy(np.array(g)) if isinstance(g, np.ndarray) else g
        tout.backward(tg)
    _, res["torch_bwd"] = _outcome(torch_backward)
    if res["ours_bwd"].get("ok") and res["torch_bwd"].get("ok"):
        # Gradients that cancel far below the upstream gradient's scale are compared at that scale: a
        # saturated tanh/sigmoid (1 - y*y) in float32, and batch norm over a few values per channel (its
        # dL/dx and everything below it sum terms of size |dout| to nearly nothing), in torch as here.
        cancels = case["layer"] in ("Sigmoid", "Tanh", "Softmax", "BatchNorm1d", "BatchNorm2d", "BasicBlock")
        scale = float(np.max(np.abs(g))) if cancels and np.size(g) else None
        if input_grad:
            res["mismatch"] = _parity(f"{case['layer']} grad input", dx, tx.grad, rtol, scale)
        elif dx is not None:
            res["mismatch"] = f"backward(input_grad=False) returned {type(dx).__name__}, expected None"
        for pname, p in ours.named_parameters():
            if res["mismatch"]:
                break
            tp = dict(theirs.named_parameters())[pname]
            res["mismatch"] = _parity(f"{case['layer']} grad {pname}", p.grad, tp.grad, rtol, scale)
    return res


def main() -> int:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # anything a case prints goes to stderr, never into the protocol
    import torch  # noqa: F401 - imported once, before the first case

    import scratchnet.nn  # noqa: F401

    protocol.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        case = json.loads(line)
        try:
            res = run_case(case)
        except Exception:  # noqa: BLE001 - a bug of the harness itself, reported as such
            res = {"harness_error": traceback.format_exc()}
        protocol.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
