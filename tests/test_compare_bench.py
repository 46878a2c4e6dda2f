"""compare.bench --quick (one model, throughput only) runs end to end; its files exist, parse and agree."""

import csv

from compare.bench.__main__ import main
from compare.bench.children import run_child
from compare.bench.workload import IMPLS


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

    assert main([*common, "--out", str(second), "--baseline", str(first / "benchmarks.csv")]) == 0
    rows2 = _rows(second / "benchmarks.csv")
    old = [r for r in rows2 if r.get("run") == "baseline" and r["section"] == "train" and r["impl"] == "scratchnet"]
    assert old and float(old[0]["median"]) == train["scratchnet"]
    assert "before: scratchnet img/s" in (second / "benchmarks.md").read_text()


def test_bench_alone_child_measures_each_implementation_in_its_own_process():
    for impl in IMPLS:
        out, _ = run_child(["alone", "--impl", impl, "--model", "ffn", "--threads", "1", "--steps", "2",
                                  "--reps", "2", "--warmup", "1"])
        assert len(out["images_per_s"]) == 2 and min(out["images_per_s"]) > 0
