"""compare.replication: --quick runs end to end; a reused scratchnet history must be the same recipe."""

import csv
import json

import pytest

from compare import replication
from scratchnet.run import EpochRecord, History


def test_replication_quick_writes_report_csv_history_and_figure(tmp_path, data_dir):
    out = tmp_path / "rep"
    assert replication.main(["--quick", "--extra-seeds", "0", "--data-dir", data_dir, "--out", str(out),
                             "--no-progress"]) == 0
    report = (out / "report.md").read_text()
    assert report.startswith("# Replicating the official PyTorch MNIST example") and "- git commit:" in report
    assert "--quick: a subset" in report and "![accuracy per epoch and one-epoch variants](accuracy.png)" in report
    hist = json.loads((out / "history.json").read_text())
    assert set(hist["histories"]) == {"torch", "scratchnet"}
    keys = [r["key"] for r in hist["one_epoch"]]
    assert keys[0] == "official" and "no_shuffle" in keys and "no_normalization" in keys
    # the official one-epoch variant is the main torch run's first epoch, not a second run
    assert hist["one_epoch"][0]["test_accuracy"] == hist["histories"]["torch"]["epochs"][0]["test_accuracy"]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert {r["implementation"] for r in rows} == {"torch", "scratchnet"}
    assert len([r for r in rows if r["run"].startswith("one epoch")]) == len(keys)
    for r in hist["one_epoch"]:  # every number in the variant table is one this run produced
        assert f"{100 * r['test_accuracy']:.2f}%" in report
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (out / "report.md").unlink()
    assert replication.main(["--render-only", "--out", str(out)]) == 0
    assert (out / "report.md").read_text() == report, "re-rendering a finished run gives the same report"


def _run(*test_accuracies: float, **fields) -> History:
    """A history with one epoch per test accuracy (the other numbers do not matter here)."""
    epochs = [EpochRecord(epoch=i + 1, lr=1.0, train_loss=0.1, train_accuracy=0.97, time_s=1.0, images_per_s=1000.0,
                          test_loss=0.05, test_accuracy=acc, test_time_s=0.1) for i, acc in enumerate(test_accuracies)]
    return History(**{"model": "ExamplesNet", "num_parameters": 1199882, "config": {}, "environment": {},
                      "epochs": epochs, **fields})


def _history(**changes) -> str:
    """A finished scratchnet.train history of the official recipe, as JSON, with ``changes`` made."""
    h = _run(status="finished", extra={"recipe": {"model": "examplesnet", "optimizer": "adadelta", "lr": 1.0,
                                                  "scheduler_step": 1, "scheduler_gamma": 0.7,
                                                  "normalization": "mnist"}},
             config={"batch_size": 64, "epochs": 14, "seed": 1, "shuffle": True, "dtype": "float32",
                     "train_samples": 60000, "test_samples": 10000})
    for key, value in changes.items():
        (h.config if key in h.config else h.recipe)[key] = value
    return json.dumps(h.to_dict())


def test_a_reused_scratchnet_history_is_checked_against_the_recipe(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(_history())
    assert replication.reuse_scratch_history(good, 14, 1, 60000, 10000).other["reused_from"] == str(good)
    bad = tmp_path / "bad.json"
    bad.write_text(_history(seed=0, lr=0.5))
    with pytest.raises(ValueError, match=r"bad.json: not this run's recipe: lr 0.5 \(expected 1.0\); seed 0"):
        replication.reuse_scratch_history(bad, 14, 1, 60000, 10000)
    with pytest.raises(ValueError, match="cannot read a history JSON"):
        replication.reuse_scratch_history(tmp_path / "missing.json", 14, 1, 60000, 10000)


def test_the_explanation_follows_the_numbers_not_a_script():
    runs = {"torch": _run(0.985)}
    high = [{"key": "official", "label": "official", "test_accuracy": 0.985},
            {"key": "sgd", "label": "SGD lr 0.01", "test_accuracy": 0.93}]
    text = "\n".join(replication.explain(runs, high) + replication.closing(high))
    assert "3.5 to 3.5 points above" in text and "SGD lr 0.01 (93.00%)" in text
    assert "\"Fewer epochs\" does not explain it" in text
    low = [{"key": "official", "label": "official", "test_accuracy": 0.90}]
    text = "\n".join(replication.explain(runs, low) + replication.closing(low))
    assert "2.0 to 2.0 points below" in text and "cannot rule out" in text
    assert "No variant tried here lands in 92-95%" in text


def test_a_wrong_scratchnet_history_is_refused_before_any_training(tmp_path, data_dir, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(_history(seed=0))
    out = tmp_path / "rep"
    assert replication.main(["--quick", "--data-dir", data_dir, "--out", str(out), "--no-progress",
                             "--scratchnet-history", str(bad)]) == 2
    assert "not this run's recipe" in capsys.readouterr().err and not out.exists()
