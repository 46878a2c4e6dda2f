"""Property-based test of the layer API: whatever goes in, no crash, no garbage.

Hypothesis draws layers, shapes (batch 0 included), dtypes, layouts (Fortran order, transposed,
strided, reversed, read-only, unaligned views, lists) and upstream gradients (right, non-contiguous,
or wrong in shape, ndim, dtype or type). Every case either matches torch, forward and backward
(``tests.parity_utils.assert_parity``), or raises a ValueError/TypeError that names the layer.

Each case runs in a worker process (``tests/layer_api_worker.py``), so a case that kills the
interpreter fails the test with the case that did it instead of killing pytest. One worker serves
all cases (starting one costs seconds: numba and torch imports) and is restarted after a crash.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
CASE_TIMEOUT_S = 120.0  # generous: a cold numba cache compiles kernels inside the first cases


class Worker:
    """A ``tests.layer_api_worker`` process: ``run(case)`` returns its result, or ``{"crash": ...}``
    with the exit status and the end of its stderr when the case killed it (a new worker then starts)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.stderr = None
        self.starts = 0

    def start(self) -> None:
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.layer_api_worker"], cwd=REPO, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
        )
        self.starts += 1
        ready = self._read(CASE_TIMEOUT_S)
        if ready != {"ready": True}:
            raise RuntimeError(f"layer API worker did not start: {ready}")

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.proc.kill()
                self.proc.wait()
                return {"crash": f"no answer within {timeout:.0f} s (killed)", "stderr": self._stderr_tail()}
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                line = self.proc.stdout.readline()
                if line:
                    return json.loads(line)
                rc = self.proc.wait()
                return {"crash": f"the worker died with exit status {rc}", "stderr": self._stderr_tail()}

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-3000:]

    def run(self, case: dict) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        try:
            self.proc.stdin.write(json.dumps(case) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died; _read reports how
        res = self._read(CASE_TIMEOUT_S)
        if "crash" in res:
            self.proc = None  # the next case starts a new worker
        return res

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


FLOATS = ("float32", "float64")
PARAM_LAYERS = ("Linear", "Conv2d", "ffn", "seedcnn", "examplesnet", "BatchNorm1d", "BatchNorm2d", "BasicBlock")


def documented_refusal(case: dict, stage: str) -> bool:
    """Cases where scratchnet refuses on purpose what torch accepts (see scratchnet/ops/_checks.py)."""
    if stage == "fwd":
        if case["layout"] == "list" or case["x_dtype"] not in FLOATS:
            return True  # an ndarray of float32/float64 only
        if case["layer"] in PARAM_LAYERS and case["x_dtype"] != case["dtype"]:
            return True  # torch refuses this too
        if case["layer"].startswith("BatchNorm") and len(case["shape"]) > 1 \
                and case["shape"][1] != case["params"]["num_features"]:
            return True  # torch skips this check when the layer has neither affine weights nor running stats
        if case["layer"] == "LogSoftmax" and len(case["shape"]) != 2:
            return True  # scratchnet's LogSoftmax takes (N, K) only
        if case["layer"] in ("Conv2d", "MaxPool2d", "seedcnn", "AvgPool2d", "AdaptiveAvgPool2d") \
                and len(case["shape"]) == 3:
            return True  # batches (N, C, H, W) only; torch also takes one unbatched (C, H, W) image
        if case["layer"] in ("Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d") and 0 in case["shape"][1:]:
            return True  # an empty channel or spatial axis is refused (torch refuses it too, but not everywhere)
        return False
    return case["grad"] not in ("right", "noncontig")  # torch casts another dtype; we refuse it


def check_result(case: dict, res: dict) -> None:
    """The property: no crash; each stage either matches torch or is a clear, named refusal."""
    shown = json.dumps(case)
    assert "crash" not in res, f"case {shown} crashed the interpreter: {res['crash']}\n{res.get('stderr', '')}"
    assert "harness_error" not in res, f"case {shown}: harness error\n{res['harness_error']}"
    for stage in ("fwd", "bwd"):
        ours, theirs = res.get(f"ours_{stage}"), res.get(f"torch_{stage}")
        if ours is None:
            break
        if "error" in ours:
            assert ours["error"] in ("ValueError", "TypeError"), f"case {shown}: {stage}: unclear error {ours}"
            assert any(ours["msg"].startswith(n) for n in res["names"]), (
                f"case {shown}: {stage}: the error does not name the layer ({res['names']}): {ours['msg']}"
            )
            if theirs and theirs.get("ok"):
                assert documented_refusal(case, stage), (
                    f"case {shown}: {stage}: scratchnet refused what torch accepts: {ours['msg']}"
                )
            break
        assert theirs and theirs.get("ok"), f"case {shown}: {stage}: scratchnet accepted what torch refused: {theirs}"
    assert res.get("mismatch") is None, f"case {shown}: {res['mismatch']}"


# -- the strategies ----------------------------------------------------------------------------
LAYOUTS = ("c", "c", "c", "f", "transposed", "strided", "reversed", "readonly", "unaligned", "list")
GRADS = ("right", "right", "right", "noncontig", "bigger", "permuted", "flat", "extra_axis", "other_dtype", "int", "list")


@st.composite
def cases(draw) -> dict:
    layer = draw(st.sampled_from(
        ["Linear", "Conv2d", "MaxPool2d", "ReLU", "Dropout", "Flatten", "LogSoftmax", "seedcnn", "ffn"]
        + ["BatchNorm1d", "BatchNorm2d", "AvgPool2d", "AdaptiveAvgPool2d", "Sigmoid", "Tanh", "LeakyReLU",
           "Identity", "Softmax", "BasicBlock"]
    ))
    # BatchNorm in training normalises a handful of values per channel here: its float32 gradients cancel
    # to round-off in both libraries (tests/test_resnet_layers_parity.py compares them with care), so
    # its parameters are float64 (float32 inputs still go in, to be refused)
    dtype = "float64" if layer in ("BatchNorm1d", "BatchNorm2d", "BasicBlock") else draw(st.sampled_from(FLOATS))
    x_dtype = draw(st.sampled_from([dtype] * 8 + ["float32", "float64", "float16", "int32"]))
    n = draw(st.sampled_from([0, 1, 2, 3]))
    small = st.integers(1, 4)
    params: dict = {}
    if layer == "Linear":
        n_in = draw(small)
        params = dict(in_features=n_in, out_features=draw(small), bias=draw(st.booleans()))
        lead = draw(st.lists(st.integers(0, 3), min_size=0, max_size=2))
        shape = [n, *lead, draw(st.sampled_from([n_in] * 5 + [n_in + 1]))]
    elif layer in ("Conv2d", "MaxPool2d"):
        k = draw(st.sampled_from([1, 2, 3, (1, 2), (3, 2)]))
        kk = k if isinstance(k, tuple) else (k, k)
        pad = draw(st.sampled_from([0, 1, (0, 1)]))
        if layer == "MaxPool2d":
            pad = tuple(min(p, q // 2) for p, q in zip(pad if isinstance(pad, tuple) else (pad, pad), kk))
            params = dict(kernel_size=k, stride=draw(st.sampled_from([None, 1, 2, (2, 1)])), padding=pad)
            c = draw(st.integers(0, 3))
        else:
            c = draw(st.integers(1, 3))
            params = dict(in_channels=c, out_channels=draw(small), kernel_size=k,
                          stride=draw(st.sampled_from([1, 2, (1, 2)])), padding=pad, bias=draw(st.booleans()))
            c = draw(st.sampled_from([c] * 6 + [c + 1]))
        shape = [n, c, draw(st.integers(1, 7)), draw(st.integers(1, 7))]
        if draw(st.integers(0, 9)) == 0:
            shape = shape[1:]  # a 3-d input: refused
    elif layer in ("ReLU", "Dropout", "Flatten"):
        shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=4))
        if layer == "Dropout":
            params = dict(p=draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])), training=draw(st.booleans()))
        if layer == "Flatten":
            params = dict(start_dim=draw(st.integers(-3, 3)), end_dim=draw(st.integers(-3, 3)))
    elif layer in ("Sigmoid", "Tanh", "LeakyReLU", "Identity"):
        shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=4))
        if layer == "LeakyReLU":
            params = dict(negative_slope=draw(st.sampled_from([0.01, 0.2])))
    elif layer == "Softmax":
        shape = draw(st.lists(st.integers(0, 4), min_size=1, max_size=4))
        params = dict(dim=draw(st.integers(-2, 2)))
    elif layer in ("BatchNorm1d", "BatchNorm2d"):
        c = draw(st.integers(1, 3))
        params = dict(num_features=c, momentum=draw(st.sampled_from([0.1, None])), affine=draw(st.booleans()),
                      track_running_stats=draw(st.booleans()), training=draw(st.booleans()))
        c = draw(st.sampled_from([c] * 6 + [c + 1]))
        spatial = [draw(st.integers(1, 4))] * (2 if layer == "BatchNorm2d" else draw(st.integers(0, 1)))
        shape = [n, c, *spatial]
    elif layer in ("AvgPool2d", "AdaptiveAvgPool2d"):
        if layer == "AvgPool2d":
            k = draw(st.sampled_from([1, 2, 3, (2, 3)]))
            kk = k if isinstance(k, tuple) else (k, k)
            params = dict(kernel_size=k, stride=draw(st.sampled_from([None, 1, 2])),
                          padding=tuple(min(p, q // 2) for p, q in zip((1, 1), kk)) if draw(st.booleans()) else 0,
                          count_include_pad=draw(st.booleans()))
        else:
            params = dict(output_size=draw(st.sampled_from([1, 2, (2, 3), (None, 2)])))
        shape = [n, draw(st.integers(0, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))]
    elif layer == "BasicBlock":
        cin = draw(st.integers(1, 3))
        planes, stride = draw(st.sampled_from([(cin, 1), (cin + 1, 2), (cin + 1, 1)]))
        params = dict(inplanes=cin, planes=planes, stride=stride, training=draw(st.booleans()))
        shape = [n, cin, draw(st.integers(1, 5)), draw(st.integers(1, 5))]
    elif layer == "LogSoftmax":
        shape = draw(st.sampled_from([[n, draw(st.integers(0, 5))]] * 5 + [[3], [2, 3, 4]]))
    else:  # whole models
        shape = [n, 1, 28, 28] if draw(st.integers(0, 7)) else [n, 784] if layer == "ffn" else [n, 28, 28]
    return dict(layer=layer, params=params, dtype=dtype, x_dtype=x_dtype, shape=shape,
                layout=draw(st.sampled_from(LAYOUTS)), grad=draw(st.sampled_from(GRADS)),
                input_grad=draw(st.sampled_from([True, True, True, False])), seed=draw(st.integers(0, 2**16)))


@settings(max_examples=int(os.environ.get("LAYER_API_EXAMPLES", "250")), deadline=None, derandomize="LAYER_API_RANDOM" not in os.environ,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_any_input_to_the_layer_api_matches_torch_or_is_a_named_error(worker, case):
    check_result(case, worker.run(case))


# -- the harness itself, and the cases of issue 15 ------------------------------------------------
def test_a_crashing_case_fails_with_the_case_and_the_next_case_runs(worker):
    case = dict(layer="__crash__", params={}, dtype="float32", x_dtype="float32", shape=[1], layout="c",
                grad="right", input_grad=True, seed=0)
    res = worker.run(case)
    assert "crash" in res and "exit status -11" in res["crash"], res
    with pytest.raises(AssertionError, match=r'case \{"layer": "__crash__".*crashed the interpreter'):
        check_result(case, res)
    starts = worker.starts
    follow = dict(case, layer="ReLU", shape=[2, 3])
    check_result(follow, worker.run(follow))  # a fresh worker takes over
    assert worker.starts == starts + 1


ISSUE_15_CASES = [  # the reported inputs: a wrong upstream gradient crashed or returned garbage on main
    dict(layer="MaxPool2d", params=dict(kernel_size=2), shape=[1, 1, 4, 4], grad="bigger"),
    dict(layer="Conv2d", params=dict(in_channels=1, out_channels=2, kernel_size=3), shape=[1, 1, 5, 5], grad="bigger"),
    dict(layer="Conv2d", params=dict(in_channels=1, out_channels=2, kernel_size=3), shape=[3, 1, 5, 5], grad="permuted"),
    dict(layer="ReLU", params={}, shape=[5], grad="extra_axis"),
    dict(layer="seedcnn", params={}, shape=[2, 1, 28, 28], grad="bigger"),
    dict(layer="ffn", params={}, shape=[2, 1, 28, 28], grad="flat"),
]


@pytest.mark.parametrize("spec", ISSUE_15_CASES, ids=lambda s: f"{s['layer']}-{s['grad']}")
def test_wrong_upstream_gradient_is_a_named_error_not_a_crash(worker, spec):
    case = dict(spec, dtype="float32", x_dtype="float32", layout="c", input_grad=True, seed=1)
    res = worker.run(case)
    check_result(case, res)
    assert res["ours_bwd"]["error"] == "ValueError" and "expected upstream gradient" in res["ours_bwd"]["msg"], res


LAYER_SPECS = {
    "Linear": dict(layer="Linear", params=dict(in_features=5, out_features=3), shape=[4, 5]),
    "Linear3d": dict(layer="Linear", params=dict(in_features=5, out_features=3), shape=[2, 3, 5]),
    "Conv2d": dict(layer="Conv2d", params=dict(in_channels=2, out_channels=3, kernel_size=3, padding=1), shape=[2, 2, 6, 5]),
    "Conv2d-s2": dict(layer="Conv2d", params=dict(in_channels=2, out_channels=3, kernel_size=3, stride=2), shape=[2, 2, 7, 6]),
    "MaxPool2d": dict(layer="MaxPool2d", params=dict(kernel_size=2), shape=[2, 3, 6, 6]),
    "MaxPool2d-3s1p1": dict(layer="MaxPool2d", params=dict(kernel_size=3, stride=1, padding=1), shape=[2, 3, 5, 4]),
    "ReLU": dict(layer="ReLU", params={}, shape=[3, 4]),
    "Dropout": dict(layer="Dropout", params=dict(p=0.5, training=True), shape=[3, 4]),
    "Flatten": dict(layer="Flatten", params={}, shape=[2, 3, 4]),
    "LogSoftmax": dict(layer="LogSoftmax", params={}, shape=[3, 7]),
    "BatchNorm1d": dict(layer="BatchNorm1d", params=dict(num_features=3), shape=[4, 3]),
    "BatchNorm2d": dict(layer="BatchNorm2d", params=dict(num_features=2), shape=[2, 2, 3, 3]),
    "AvgPool2d": dict(layer="AvgPool2d", params=dict(kernel_size=2), shape=[2, 3, 6, 5]),
    "AdaptiveAvgPool2d": dict(layer="AdaptiveAvgPool2d", params=dict(output_size=(2, 3)), shape=[2, 3, 5, 7]),
    "Sigmoid": dict(layer="Sigmoid", params={}, shape=[3, 4]),
    "Tanh": dict(layer="Tanh", params={}, shape=[3, 4]),
    "LeakyReLU": dict(layer="LeakyReLU", params={}, shape=[3, 4]),
    "Identity": dict(layer="Identity", params={}, shape=[3, 4]),
    "Softmax": dict(layer="Softmax", params=dict(dim=1), shape=[3, 4]),
    "BasicBlock": dict(layer="BasicBlock", params=dict(inplanes=2, planes=3, stride=2), shape=[2, 2, 5, 5]),
}


@pytest.mark.parametrize("grad", ["bigger", "permuted", "flat", "extra_axis"])
@pytest.mark.parametrize("name", LAYER_SPECS)
def test_every_layer_refuses_an_upstream_gradient_of_the_wrong_shape_by_name(worker, name, grad):
    case = dict(LAYER_SPECS[name], dtype="float32", x_dtype="float32", layout="c", grad=grad, input_grad=True, seed=2)
    res = worker.run(case)
    check_result(case, res)
    msg = res["ours_bwd"]["msg"]
    assert re.fullmatch(r".+: expected upstream gradient \([0-9, ]*\) float32, got \([0-9, ]*\) float32", msg), msg


def test_issue_15_message_names_the_layer_and_both_shapes(worker):
    """The issue's own reproducer (exit status 139 on main), in the worker so that a crash fails only this test."""
    case = dict(layer="__issue15__", params={}, dtype="float32", x_dtype="float32", shape=[1], layout="c",
                grad="right", input_grad=True, seed=0)
    res = worker.run(case)
    check_result(case, res)
    assert res["ours_bwd"] == {
        "error": "ValueError",
        "msg": "MaxPool2d(kernel_size=2): expected upstream gradient (1, 1, 2, 2) float32, got (64, 8, 2, 2) float32",
    }
