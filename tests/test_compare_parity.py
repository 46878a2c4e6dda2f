"""compare.parity --quick runs end to end into a temporary directory; its files exist and parse."""

import csv
import json

import matplotlib

from compare import parity


def test_parity_quick_writes_report_csv_json_and_figures(tmp_path):
    assert parity.main(["--quick", "--out", str(tmp_path), "--no-progress", "--batch-size", "8"]) == 0
    assert matplotlib.get_backend().lower() == "agg"
    rows = list(csv.DictReader((tmp_path / "parity.csv").open()))
    assert {r["model"] for r in rows} == {"ffn", "seedcnn"} and {r["dtype"] for r in rows} == {"float32", "float64"}
    params = [r for r in rows if r["kind"] == "parameter gradient" and r["dtype"] == "float64"]
    assert params and max(float(r["max_rel"]) for r in params) < 1e-10
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert curves["provenance"]["git_commit"] and len(curves["curves"]) == 4
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# Parity") and "- git commit:" in report and "![training curves](training.png)" in report
    for png in ("layers.png", "training.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
