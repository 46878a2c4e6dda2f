"""compare.ffn_vs_cnn --quick runs end to end into a temporary directory; its files exist and parse."""

import csv
import json

from compare import ffn_vs_cnn


def test_ffn_vs_cnn_quick_writes_every_file(tmp_path, data_dir):
    out = tmp_path / "report"
    assert ffn_vs_cnn.main(["--quick", "--out", str(out), "--data-dir", data_dir, "--no-progress", "--device", "cpu"]) == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [(r["model"], r["implementation"]) for r in rows] == [
        ("FFN", "scratchnet"), ("FFN", "torch"), ("SeedCNN", "scratchnet"), ("SeedCNN", "torch")]
    assert all(0.0 <= float(r["test_accuracy"]) <= 1.0 for r in rows)
    hist = json.loads((out / "history.json").read_text())
    assert set(hist["histories"]) == {"ffn/scratchnet", "ffn/torch", "seedcnn/scratchnet", "seedcnn/torch"}
    assert hist["provenance"]["git_commit"] and hist["data"]["train"] == 2000
    # SeedCNN has no randomness: from the same weights and batches, one epoch agrees almost everywhere
    assert hist["agreement"]["seedcnn"]["fraction"] > 0.98
    report = (out / "report.md").read_text()
    assert "--quick: a subset" in report and "99.13%" in report and "95.68%" in report
    for png in ("curves", "confusion", "f1", "samples", "misclassified", "filters"):
        assert (out / f"{png}.png").read_bytes()[:4] == b"\x89PNG", png
        assert f"({png}.png)" in report
