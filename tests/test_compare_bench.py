"""compare.bench --quick (one model, throughput and scale only) runs end to end; its files exist, parse and agree;
ResNet18's two sides start from the same weights."""

import csv
import re

import numpy as np
import pytest

from compare.bench.__main__ import main
from compare.bench.children import run_child
from compare.bench.scale import BATCHES, batches_for, thread_counts
from compare.bench.workload import IMPLS, build_pair, optimiser_label


def _rows(path):
    return list(csv.DictReader(path.open()))


def test_bench_quick_writes_markdown_csv_and_chart_and_reads_a_baseline(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--quick", "--models", "ffn", "--skip", "ops,jit,memory", "--threads", "1"]
    assert main([*common, "--out", str(first)]) == 0
    rows = _rows(first / "benchmarks.csv")
    train = {r["impl"]: float(r["median"]) for r in rows if r["section"] == "train" and r["item"] == "ffn"}
    assert set(train) >= {"scratchnet", "torch"} and all(v > 0 for v in train.values())
    md = (first / "benchmarks.md").read_text()
    assert md.startswith("# Benchmarks") and "| FFN | 60 |" in md
    ratio = f"**{train['scratchnet'] / train['torch']:.2f}x**"
    assert ratio in md, "the ratio in the report is the ratio of the medians in the CSV"
    assert (first / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scale = [r for r in rows if r["section"] in ("scale-train", "scale-infer")]
    points = {(r["section"], int(r["batch"]), int(r["threads"]), r["impl"]) for r in scale}
    assert points == {(s, b, t, i) for s in ("scale-train", "scale-infer") for b in BATCHES for t in thread_counts()
                      for i in IMPLS}
    assert all(float(r["median"]) > 0 for r in scale)
    assert "## Scale: batch size and threads" in md and "| FFN | train step | 1 |" in md
    probe = re.search(r"host speed probe, GFLOP/s before / after each section: throughput (\d+) / (\d+), scale (\d+)", md)
    assert probe, "the host speed is measured around each section"
    assert (first / "benchmarks_scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main([*common, "--skip", "scale,ops,jit,memory", "--out", str(second), "--baseline",
                 str(first / "benchmarks.csv")]) == 0
    rows2 = _rows(second / "benchmarks.csv")
    old = [r for r in rows2 if r.get("run") == "baseline" and r["section"] == "train" and r["impl"] == "scratchnet"]
    assert old and float(old[0]["median"]) == train["scratchnet"]
    assert "before: scratchnet img/s" in (second / "benchmarks.md").read_text()


def test_bench_alone_child_measures_each_implementation_in_its_own_process():
    for impl in IMPLS:
        out, _ = run_child(["alone", "--impl", impl, "--model", "ffn", "--threads", "1", "--steps", "2",
                                  "--reps", "2", "--warmup", "1"])
        assert len(out["images_per_s"]) == 2 and min(out["images_per_s"]) > 0


def test_resnet18_pair_starts_from_the_same_weights_and_trains_from_batch_2():
    import torch

    pair = build_pair("resnet18", seed=0)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    pair.scratchnet.model.eval()
    pair.torch.model.eval()
    with torch.no_grad():
        theirs = pair.torch.model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(pair.scratchnet.model(x), theirs, rtol=1e-4, atol=1e-4)
    assert pair.torch.optimizer.defaults["momentum"] == 0.9 and optimiser_label("resnet18") == "SGD(lr=0.01, momentum=0.9)"
    assert batches_for("resnet18", "scale-train")[0] == 4 and batches_for("ffn", "scale-train")[0] == 1


@pytest.mark.parametrize("vendor,family,flags,lanes", [
    ("AuthenticAMD", "25", "avx2 fma avx512f", 8),  # Zen 4: 512-bit FMAs in two halves on 256-bit pipes
    ("AuthenticAMD", "26", "avx2 fma avx512f", 16),  # Zen 5: full-width pipes
    ("GenuineIntel", "6", "avx2 fma avx512f", 16),
    ("AuthenticAMD", "25", "avx2 fma", 8),  # Zen 3
    ("GenuineIntel", "6", "sse2", 4),
])
def test_peak_estimate_counts_the_fma_datapath_width(monkeypatch, vendor, family, flags, lanes):
    from compare import _machine

    monkeypatch.setattr(_machine, "_cpuinfo", lambda: {"vendor_id": vendor, "cpu family": family, "flags": flags,
                                                       "cpu MHz": "2000.0", "model name": "test cpu"})
    monkeypatch.setattr(_machine, "_lscpu", lambda: {})
    m = _machine.describe(2)
    assert m["fp32_lanes"] == lanes
    assert m["peak_gflops"] == pytest.approx(2 * 2.0 * lanes * (4 if "fma" in flags else 1))
    assert f"x {lanes} fp32 lanes" in _machine.peak_formula(m)
