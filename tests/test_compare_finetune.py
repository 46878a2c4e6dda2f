"""compare.finetune: --quick end to end, and the ResNet18 weights really used are the ones reported."""

import csv
import json

import pytest

from compare import finetune


def test_finetune_quick_with_a_local_weights_file_reports_those_weights(tmp_path, data_dir, fake_imagenet_file,
                                                                        no_network):
    path, _ = fake_imagenet_file
    out = tmp_path / "ft"
    assert finetune.main(["--quick", "--protocols", "linear-probe", "--weights-file", str(path), "--k", "2",
                          "--data-dir", data_dir, "--out", str(out), "--no-progress"]) == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [(r["model"], r["library"]) for r in rows] == [
        ("SimpleNN (FFN)", "torch"), ("SimpleNN (FFN)", "torch"), ("ResNet18 linear-probe", "torch"),
        ("ResNet18 linear-probe", "scratchnet")]
    assert {"model", "accuracy", "precision", "recall"} <= set(rows[0])
    assert rows[0]["evaluated_on"].startswith("held-out folds") and rows[2]["evaluated_on"] == "test set"
    for row in rows[2:]:  # both libraries ran from the file's weights, and say so, naming the file but no folder
        assert path.name in row["weights"] and "NOT torchvision's IMAGENET1K_V1 file" in row["weights"]
        assert str(path.parent) not in row["weights"]
    # the same network, the same batches, 1 epoch of a linear probe: the two libraries agree closely
    assert abs(float(rows[2]["accuracy"]) - float(rows[3]["accuracy"])) < 0.02
    report = (out / "report.md").read_text()
    assert report.startswith("# SimpleNN vs ResNet18 on MNIST (ImageNet weights)") and path.name in report
    assert str(path.parent) not in report
    assert "not fine-tuning" not in report and not no_network
    folds = list(csv.DictReader((out / "folds.csv").open()))
    assert [int(f["fold"]) for f in folds] == [1, 2]
    hist = json.loads((out / "history.json").read_text())
    assert hist["weights"]["used"] == "imagenet" and len(hist["kfold_histories"]) == 2
    assert (out / "resnet18_linear-probe.pt").stat().st_size > 0
    assert (out / "resnet18_linear-probe_scratchnet.npz").stat().st_size > 0
    assert "scratchnet against torch" in report and "- linear-probe: scratchnet " in report
    for png in ("loss.png", "confusion.png", "example.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_auto_weights_fall_back_to_random_init_and_say_so(no_network, monkeypatch, tmp_path):
    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path / "hub"))
    used, line, error = finetune.resolve_weights("auto", None, download=True)
    assert used == "none" and "not available" in line and "looked in" in error and no_network


def test_imagenet_weights_asked_for_but_missing_is_an_error(no_network, monkeypatch, tmp_path, data_dir, capsys):
    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path / "hub"))
    assert finetune.main(["--quick", "--weights", "imagenet", "--data-dir", data_dir, "--out", str(tmp_path / "x"),
                          "--no-progress"]) == 2
    assert "ImageNet ResNet18 weights (torchvision IMAGENET1K_V1) not found" in capsys.readouterr().err
    assert not (tmp_path / "x").exists(), "nothing is written when the run cannot start"


@pytest.mark.parametrize("argv, message", [
    (["--protocols", "workshop,frozen"], "--protocols: unknown frozen"),
    (["--k", "1"], "--k must be >= 2"),
    (["--weights", "none", "--weights-file", "w.pth"], "drop one of them"),
    (["--libraries", "torch,jax"], "--libraries: expected some of torch, scratchnet"),
    (["--image-size", "64"], "scratchnet's ResNet18MNIST takes the 28 px digits"),
])
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        finetune.main(argv)
    assert message in capsys.readouterr().err


def test_a_missing_weights_file_stops_before_any_training(no_network, tmp_path, data_dir, capsys):
    out = tmp_path / "x"
    assert finetune.main(["--quick", "--weights-file", str(tmp_path / "typo.pth"), "--data-dir", data_dir,
                          "--out", str(out), "--no-progress"]) == 2
    assert "typo.pth does not exist" in capsys.readouterr().err and not out.exists()
