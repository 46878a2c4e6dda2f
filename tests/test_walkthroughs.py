"""The teaching walkthroughs: each runs, writes its markdown and figures, and really checks its claims."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import scratchnet.ops
import scratchnet.optim.adam
from compare import walkthroughs
from compare.walkthroughs import (
    ClaimFailed,
    Report,
    UnknownWalkthrough,
    check_close,
    claim,
    run,
)
from compare.walkthroughs.__main__ import main

NAMES = walkthroughs.names()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Run every walkthrough once, in order, into one temporary folder; record how long each took."""
    out = tmp_path_factory.mktemp("walkthroughs")
    timings = {}
    for name in NAMES:
        start = time.perf_counter()
        run(name, out, echo=False)
        timings[name] = time.perf_counter() - start
    print("walkthrough run times:", {k: f"{v:.1f}s" for k, v in timings.items()})
    return out, timings


def test_there_are_the_seven_promised_walkthroughs():
    assert NAMES == [
        "linear_softmax", "conv2d", "pooling_relu_dropout", "optimizers", "seedcnn_step", "gradient_checking",
        "vanishing_exploding",
    ]
    for name in NAMES:
        assert walkthroughs.script_path(name).is_file()


@pytest.mark.parametrize("name", NAMES)
def test_each_walkthrough_writes_markdown_with_existing_relative_figures(reports, name):
    out, _ = reports
    md = out / f"{name}.md"
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# ")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links, f"{name}.md has no figure"
    for link in links:
        assert not os.path.isabs(link) and "/" not in link, f"{name}.md: figure link {link!r} is not relative"
        png = out / link
        assert png.is_file(), f"{name}.md links {link}, which was not written"
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        assert png.stat().st_size > 5000
    assert not list(out.glob(".*.tmp")), "temporary files were left behind"


@pytest.mark.parametrize("name", NAMES)
def test_each_walkthrough_checks_its_claims_as_it_runs(reports, name):
    text = (reports[0] / f"{name}.md").read_text(encoding="utf-8")
    checks = text.count("- check ✓")
    assert checks >= 10, f"{name}: only {checks} checks"
    summary = re.search(r"(\d+) checks ran and held", text)
    assert summary and int(summary.group(1)) >= checks  # the table at the end lists every check


def test_walkthroughs_compare_with_torch_when_it_is_installed(reports):
    pytest.importorskip("torch")
    for name in NAMES:
        text = (reports[0] / f"{name}.md").read_text(encoding="utf-8")
        assert "torch" in text and "*skipped:*" not in text, name


def test_seedcnn_step_uses_the_real_digit_when_mnist_is_found(reports):
    from scratchnet.data import locate_mnist

    try:
        locate_mnist(split="test", download=False)
    except (OSError, ValueError):
        pytest.skip("MNIST is not available here (set MNIST_DIR)")
    text = (reports[0] / "seedcnn_step.md").read_text(encoding="utf-8")
    assert "the real MNIST test image #0" in text
    assert "generated" not in text


def test_seedcnn_step_falls_back_to_a_generated_digit_and_says_so(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "no-mnist-here"
    empty.mkdir()
    monkeypatch.setenv("MNIST_DIR", str(empty))
    path = run("seedcnn_step", tmp_path, use_torch=False)
    text = path.read_text(encoding="utf-8")
    assert "MNIST was not found, so this run uses a generated digit-like image" in text
    assert "MNIST was not found" in capsys.readouterr().out  # said on stdout too
    assert "one Adam step lowered the loss on this digit" in text


def test_without_torch_a_walkthrough_still_runs_and_says_what_it_skipped(tmp_path, capsys):
    path = run("linear_softmax", tmp_path, use_torch=False)
    text = path.read_text(encoding="utf-8")
    assert "*skipped:* torch autograd comparison" in text
    out = capsys.readouterr().out
    assert "Linear + softmax cross-entropy" in out and "check ✓ dW: by hand = scratchnet.ops" in out


# -- claims really are checked: break the library and the walkthrough must fail loudly ------------


def test_a_wrong_linear_gradient_makes_linear_softmax_fail_loudly(tmp_path, monkeypatch):
    correct = scratchnet.ops.linear_backward

    def slightly_wrong(dout, cache):
        dx, dw, db = correct(dout, cache)
        return dx, dw * 1.001, db  # 0.1% off: the kind of bug a print statement would never show

    monkeypatch.setattr(scratchnet.ops, "linear_backward", slightly_wrong)
    with pytest.raises(AssertionError, match=r"dW: by hand vs scratchnet\.ops disagree.*worst at index"):
        run("linear_softmax", tmp_path, echo=False)
    assert not (tmp_path / "linear_softmax.md").exists(), "a failed walkthrough must not leave a report"


def test_max_pool_backward_that_spreads_the_gradient_makes_pooling_fail(tmp_path, monkeypatch):
    def average_pool_backward(dout, cache):  # a plausible bug: treat max-pooling like average-pooling
        _, x_shape = cache
        return np.repeat(np.repeat(dout, 2, axis=2), 2, axis=3)[:, :, : x_shape[2], : x_shape[3]] / 4

    monkeypatch.setattr(scratchnet.ops, "maxpool2d_backward", average_pool_backward)
    with pytest.raises(ClaimFailed, match="max-pool dx"):
        run("pooling_relu_dropout", tmp_path, echo=False)
    assert not (tmp_path / "pooling_relu_dropout.md").exists()


def test_an_adam_bug_that_only_shows_at_step_two_is_caught(tmp_path, monkeypatch):
    def no_decay_lerp(start, end, weight):  # m <- m + (1 - beta1) g: right at step 1 (m = 0), wrong after
        start += start.dtype.type(weight) * end
        return start

    monkeypatch.setattr(scratchnet.optim.adam, "_lerp_", no_decay_lerp)
    with pytest.raises(ClaimFailed, match=r"Adam: θ after each step: by hand vs scratchnet\.optim.*index \([12],\)"):
        run("optimizers", tmp_path, echo=False, use_torch=False)


# -- the helpers -----------------------------------------------------------------------------------


def test_claim_and_check_close_raise_clear_assertion_errors():
    claim(True, "fine")
    with pytest.raises(AssertionError, match="walkthrough claim failed: the loss went down"):
        claim(False, "the loss went down")
    assert check_close("dW", [1.0, 2.0], [1.0, 2.0 + 1e-13], 1e-12) < 1e-12
    with pytest.raises(ClaimFailed) as info:
        check_close("dW", np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.1]]), 1e-6, ("ours", "torch"))
    message = str(info.value)
    assert "dW: ours vs torch disagree" in message and "index (1, 1)" in message and "4.1" in message
    with pytest.raises(ClaimFailed, match="shapes differ"):
        check_close("x", np.zeros(3), np.zeros(4), 1.0)
    with pytest.raises(ClaimFailed, match="NaNs at different places"):
        check_close("x", [np.nan, 1.0], [0.0, 1.0], 1.0)


def test_report_writes_its_markdown_only_when_finished(tmp_path):
    report = Report("demo", "A demo", out_dir=tmp_path)
    report.echo = False
    report.text("Some prose.")
    report.table(["a", "b|c"], [[1.5, "x|y"]])
    report.check_close("v", [1.0], [1.0], 1e-12, ("left", "right"))
    assert not (tmp_path / "demo.md").exists()
    path = report.finish()
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "demo.md" and text.startswith("# A demo")
    assert "b\\|c" in text and "x\\|y" in text  # pipes inside cells do not break the table
    assert "1 checks ran and held" in text
    assert [p.name for p in tmp_path.iterdir()] == ["demo.md"]


# -- the command line --------------------------------------------------------------------------------


def test_list_prints_every_name(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out


def test_an_unknown_name_is_a_clear_error_that_lists_the_names(capsys):
    assert main(["linear_softmx"]) == 2
    err = capsys.readouterr().err
    assert "unknown walkthrough 'linear_softmx'" in err
    for name in NAMES:
        assert name in err
    with pytest.raises(UnknownWalkthrough, match="expected one of: linear_softmax, conv2d"):
        run("nope")


def test_the_module_runs_from_the_command_line_without_importing_torch():
    code = (
        "import sys, runpy; sys.argv = ['x', 'list']\n"
        "try:\n    runpy.run_module('compare.walkthroughs', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "import compare.walkthroughs._report\n"
        "assert 'torch' not in sys.modules, 'importing the walkthroughs imported torch'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "vanishing_exploding" in proc.stdout
