"""compare.seeds: the statistics against hand-computed values, the verdict's three cases, and a --quick study
end to end (report, CSV, JSON and figure agree with the run files; finished seeds are reused, others not)."""

import csv
import json
import shutil
import math
from pathlib import Path

import numpy as np
import pytest

from compare import seeds, stats


def _t_cdf(x: float, df: int) -> float:
    """P(T <= x) for Student's t, by integrating its density numerically (x > 0)."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    t = np.linspace(0.0, x, 200_001)
    pdf = c * (1 + t * t / df) ** (-(df + 1) / 2)
    return 0.5 + float(np.sum((pdf[1:] + pdf[:-1]) / 2 * np.diff(t)))


@pytest.mark.parametrize("df", [1, 2, 3, 5, 9, 19, 30, 31, 45, 120])
def test_t_quantile_is_the_975_percent_point_of_students_t(df):
    q = stats.t_quantile_975(df)
    assert _t_cdf(q, df) == pytest.approx(0.975, abs=2e-4), f"df {df}: P(T <= {q}) = {_t_cdf(q, df)}"


def test_t_quantile_rounds_fractional_df_down_and_rejects_less_than_one():
    assert stats.t_quantile_975(4.9) == stats.t_quantile_975(4) == 2.776
    assert stats.t_quantile_975(1e6) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError, match="degrees of freedom: expected >= 1, got 0.5"):
        stats.t_quantile_975(0.5)


def test_describe_matches_hand_computed_values():
    s = stats.describe([98.0, 98.5, 99.0], target=98.5)
    half = 4.303 * 0.5 / math.sqrt(3)
    assert s["n"] == 3 and s["mean"] == pytest.approx(98.5) and s["std"] == pytest.approx(0.5)
    assert s["ci95"] == pytest.approx([98.5 - half, 98.5 + half])
    assert (s["min"], s["max"], s["reach_target"]) == (98.0, 99.0, 2)
    one = stats.describe([97.0], target=98.0)
    assert one["std"] is None and one["ci95"] is None and one["reach_target"] == 0
    with pytest.raises(ValueError, match="no values"):
        stats.describe([])


def test_paired_difference_is_the_t_interval_of_the_per_seed_differences():
    a = {0: 98.0, 1: 98.5, 2: 98.9, 3: 97.0}
    b = {0: 97.5, 1: 98.6, 2: 98.4, 5: 99.9}  # seed 3 and 5 have no partner: left out
    d = stats.paired_difference(a, b)
    diffs = [0.5, -0.1, 0.5]
    half = 4.303 * np.std(diffs, ddof=1) / math.sqrt(3)
    assert d["n"] == 3 and d["seeds"] == [0, 1, 2] and d["diff"] == pytest.approx(0.3)
    assert d["ci95"] == pytest.approx([0.3 - half, 0.3 + half])
    assert stats.paired_difference({0: 1.0}, {0: 2.0, 1: 3.0}) is None
    same = stats.paired_difference({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.5})  # a constant shift: no spread
    assert same["diff"] == pytest.approx(0.5) and same["ci95"] == pytest.approx([0.5, 0.5])
    assert [seeds._signed(v) for v in (-0.004, 0.0, 0.126, -0.2)] == ["+0.00", "+0.00", "+0.13", "-0.20"]


def test_verdict_follows_the_interval():
    below = stats.describe([98.5, 98.6, 98.7, 98.6], 98.8)
    above = stats.describe([98.9, 99.0, 99.1, 99.0], 98.8)
    inside = stats.describe([98.4, 99.2, 98.7], 98.8)
    assert stats.verdict(below, 98.8).startswith("falls short of the target on average")
    assert "0 of 4 seeds reach 98.80 %" in stats.verdict(below, 98.8)
    assert stats.verdict(above, 98.8).startswith("meets the target on average")
    assert stats.verdict(inside, 98.8).startswith("these seeds cannot tell")
    lo, hi = below["ci95"]
    assert f"[{lo:.3f}, {hi:.3f}] %" in stats.verdict(below, 98.8)
    assert stats.verdict(stats.describe([99.0], 98.8), 98.8).startswith("one seed cannot say")


def _rows(out, name):
    return list(csv.DictReader((out / f"{name}.csv").open()))


def test_quick_study_writes_report_csv_json_figure_and_reuses_finished_seeds(tmp_path, data_dir):
    out = tmp_path / "seeds"
    args = ["--model", "ffn", "--quick", "--seeds", "2", "--data-dir", data_dir, "--out", str(out), "--no-progress"]
    assert seeds.main(args) == 0
    name = "ffn_ep1_quick"
    study = json.loads((out / f"{name}.json").read_text())
    assert study["seeds"] == {"scratchnet": [0, 1], "torch": [0, 1]} and study["target"] == seeds.TARGETS["ffn"]
    assert study["quick"] and study["difference"]["seeds"] == [0, 1]
    report = (out / f"{name}.md").read_text()
    assert report.startswith("# Seeds: FFN, adam lr 0.001, batch 60, 1 epoch, normalisation unit — QUICK")
    assert "- git commit:" in report and f"![accuracy per epoch and per seed]({name}.png)" in report
    assert "this study uses 1 epoch instead of 10, the first 2,000 training and 500 test images." in report
    assert "earlier invocations" not in report, "nothing was reused"
    rows = _rows(out, name)
    assert [(r["library"], r["seed"]) for r in rows] == [("scratchnet", "0"), ("scratchnet", "1"),
                                                         ("torch", "0"), ("torch", "1")]
    for r in rows:  # every number comes from the run's own history file, which the report links
        h = json.loads((out / r["history"]).read_text())
        assert r["test_accuracy_pct"] == f"{100 * h['final_test']['accuracy']:.2f}"
        assert f"[json]({r['history']})" in report and r["reused"] == "False" and r["device"] == "cpu"
        assert f"| {h['extra']['date']} | `{h['extra']['git_commit'][:9]}` |" in report
        assert "pytest" in h["extra"]["command"] or "compare.seeds" in h["extra"]["command"]
    for lib in ("scratchnet", "torch"):
        s = study["stats"][lib]
        assert f"**{s['mean']:.2f} %**" in report
        assert s["mean"] == pytest.approx(np.mean([float(r["test_accuracy_pct"]) for r in rows if r["library"] == lib]),
                                          abs=0.01)
        assert f"[{lib}]({name}/{lib}/README.md)" in report
    assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a run whose recipe differs from the study's, or that was interrupted, is retrained; the others are read back
    first_torch = out / rows[2]["history"]
    h = json.loads(first_torch.read_text())
    h["status"] = "interrupted"
    first_torch.write_text(json.dumps(h))
    changed = out / rows[1]["history"]
    h = json.loads(changed.read_text())
    h["extra"]["recipe"]["lr"] = 0.5
    changed.write_text(json.dumps(h))
    assert seeds.main(args) == 0
    again = _rows(out, name)
    assert [r["reused"] for r in again] == ["True", "False", "False", "True"]
    assert [r["test_accuracy_pct"] for r in again] == [r["test_accuracy_pct"] for r in rows], "seeded runs repeat"
    report = (out / f"{name}.md").read_text()
    assert "*reused*" in report and ": 2 of 4 here." in report and "2 of its 4 runs were trained by earlier" in report

    # a study grows: one more seed trains only that seed, a smaller request still reports every finished seed
    assert seeds.main([*args[:4], "3", *args[5:]]) == 0
    assert [(r["seed"], r["reused"]) for r in _rows(out, name)] == [("0", "True"), ("1", "True"), ("2", "False")] * 2
    assert seeds.main([*args[:4], "1", *args[5:]]) == 0
    assert len(_rows(out, name)) == 6 and all(r["reused"] == "True" for r in _rows(out, name))


def test_reuse_needs_the_same_data_directory_seed_and_device(tmp_path, data_dir):
    out = tmp_path / "seeds"
    assert seeds.main(["--model", "ffn", "--quick", "--seeds", "1", "--data-dir", data_dir, "--out", str(out),
                       "--no-progress"]) == 0
    recipe = seeds.replace(seeds.RECIPES["ffn"], epochs=1)
    data = seeds.study_data(data_dir, quick=True)
    torch_file = seeds.history_path("torch", recipe, 0, out / "ffn_ep1_quick" / "torch", data)
    assert seeds.finished_run(torch_file, "torch", recipe, data, "cpu") is not None
    assert seeds.finished_run(torch_file, "torch", recipe, data, "cuda") is None, "a CPU run is not a CUDA run"
    other = seeds.replace(data, directory=str(tmp_path / "elsewhere"))
    assert seeds.finished_run(torch_file, "torch", recipe, other, "cpu") is None
    h = json.loads(torch_file.read_text())
    h["extra"]["recipe"]["source"] = "another description of the same recipe"
    torch_file.write_text(json.dumps(h))
    assert seeds.finished_run(torch_file, "torch", recipe, data, "cpu") is not None
    copy = shutil.copytree(data.directory, tmp_path / "copy")  # the same files in another folder: the same data
    assert seeds.finished_run(torch_file, "torch", recipe, seeds.replace(data, directory=str(copy)), "cpu") is not None
    h["config"]["seed"] = 7  # a file whose name does not match its seed is not trusted
    torch_file.write_text(json.dumps(h))
    assert seeds.finished_run(torch_file, "torch", recipe, data, "cpu") is None
    torch_file.write_text(json.dumps(h)[:200])  # truncated
    assert seeds.finished_run(torch_file, "torch", recipe, data, "cpu") is None
    torch_file.write_text("null")
    assert seeds.finished_run(torch_file, "torch", recipe, data, "cpu") is None


def test_one_library_has_no_difference_section(tmp_path, data_dir):
    out = tmp_path / "seeds"
    assert seeds.main(["--model", "seedcnn", "--quick", "--seeds", "1", "--libraries", "scratchnet", "--no-target",
                       "--data-dir", data_dir, "--out", str(out), "--no-progress"]) == 0
    report = (out / "seedcnn_ep1_quick.md").read_text()
    assert "## scratchnet against torch" not in report and "## Against the target" not in report
    assert not (out / "seedcnn_ep1_quick" / "torch").exists()


def test_bad_arguments_and_missing_data_are_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        seeds.main(["--model", "ffn", "--seeds", "0"])
    assert e.value.code == 2 and "--seeds must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        seeds.main(["--model", "ffn", "--target", "120"])
    assert "--target is a test accuracy in percent" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        seeds.main(["--model", "ffn", "--target", "98", "--no-target"])
    assert "--target and --no-target: give one of them" in capsys.readouterr().err
    assert seeds.main(["--model", "ffn", "--quick", "--data-dir", str(tmp_path / "nowhere"), "--out",
                       str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: data_dir=") and "missing train-images-idx3-ubyte" in err
    assert not (tmp_path / "o").exists(), "nothing is written when the data cannot be found"


def test_an_interrupted_study_keeps_finished_seeds_and_the_same_command_continues(tmp_path, data_dir, monkeypatch,
                                                                                   capsys):
    out = tmp_path / "seeds"
    args = ["--model", "seedcnn", "--quick", "--seeds", "2", "--libraries", "scratchnet", "--data-dir", data_dir,
            "--out", str(out), "--no-progress"]
    real = seeds.train_seed
    calls = []

    def stop_on_second(*a, **k):
        calls.append(a[2])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(seeds, "train_seed", stop_on_second)
    assert seeds.main(args) == 130
    assert "the same command continues the study" in capsys.readouterr().err
    assert not (out / "seedcnn_ep1_quick.md").exists(), "no report from half a study"
    monkeypatch.setattr(seeds, "train_seed", real)
    assert seeds.main(args) == 0
    assert [(r["seed"], r["reused"]) for r in _rows(out, "seedcnn_ep1_quick")] == [("0", "True"), ("1", "False")]
