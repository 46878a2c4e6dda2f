"""python -m compare.robustness: every area runs and, on this code, nothing is unexpected."""

from __future__ import annotations

import json

from compare.robustness import __main__ as robustness


def test_a_small_robustness_run_finds_nothing_unexpected(tmp_path, capsys):
    assert robustness.main(["--out", str(tmp_path), "--mutations", "9", "--kills", "1", "--seed", "3"]) == 0
    result = json.loads((tmp_path / "robustness.json").read_text())
    assert result["unexpected"] == [], result["unexpected"]
    areas = set(result["counts"])
    assert {"command-line values", "output locations", "layer backward, wrong upstream gradient", "mutated checkpoints",
            "fuzzed IDX files", "training killed with SIGKILL, then --resume"} <= areas
    assert result["counts"]["command-line values"]["clear error"] >= 50
    assert "None." in (tmp_path / "robustness.md").read_text()


def test_an_unexpected_outcome_is_listed():
    tally = robustness.Tally()
    tally.add("area", robustness.CLEAR, "fine")
    tally.add("area", "unexpected: KeyError", "case 7")
    assert tally.unexpected == ["area: case 7: unexpected: KeyError"] and tally.counts["area"]["clear error"] == 1
