"""k-fold cross-validation and the two command lines (torchref.train, torchref.kfold), end to end on tiny data."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
import torch
import torchvision

import torchref.resnet as resnet_mod
from scratchnet.data import kfold_indices
from torchref.data import DeviceData, to_device
from torchref.kfold import cross_validate
from torchref.kfold.__main__ import main as kfold_main
from torchref.recipes import build_optimizer, make_model, recipe_for
from torchref.train.__main__ import main as train_main

from .test_torchref_train import digits, make_idx_dir


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    return make_idx_dir(tmp_path_factory.mktemp("mnist"), n_train=200, n_test=100)


def test_cross_validate_folds_are_disjoint_cover_the_set_and_give_mean_std(monkeypatch):
    x, y = digits(150, seed=4)
    data = to_device(x, y)
    seen_val: list[np.ndarray] = []
    original = DeviceData.subset

    def spy(self, idx):
        seen_val.append(np.asarray(idx))
        return original(self, idx)

    monkeypatch.setattr(DeviceData, "subset", spy)
    result = cross_validate(lambda fold: make_model("ffn", seed=fold), lambda m: build_optimizer(recipe_for("ffn"), m),
                            data, k=3, epochs=1, batch_size=25, seed=0, progress=False)
    train_parts, val_parts = seen_val[0::2], seen_val[1::2]
    assert len(val_parts) == 3
    for tr, va in zip(train_parts, val_parts):
        assert not set(tr) & set(va) and len(tr) + len(va) == 150
    assert sorted(np.concatenate(val_parts).tolist()) == list(range(150))  # each sample held out exactly once
    expected = kfold_indices(y, k=3, seed=0, stratified=True)
    for (tr, va), got in zip(expected, val_parts):
        np.testing.assert_array_equal(got, va)
    folds = result["folds"]
    assert [f["fold"] for f in folds] == [1, 2, 3] and sum(f["val_samples"] for f in folds) == 150
    for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1"):
        values = [f[key] for f in folds]
        assert result["mean"][key] == pytest.approx(np.mean(values))
        assert result["std"][key] == pytest.approx(np.std(values, ddof=1))
    assert len(result["histories"]) == 3 and result["stratified"] is True


def test_train_cli_end_to_end(idx_dir, tmp_path):
    out = tmp_path / "out"
    code = train_main(["--model", "seedcnn", "--data-dir", str(idx_dir), "--out", str(out), "--epochs", "2",
                       "--no-progress", "--seed", "1", "--save-model", str(tmp_path / "m.pt"), "--init", "scratchnet"])
    assert code == 0
    h = json.loads((out / "seedcnn_ep2_scratchinit_seed1.json").read_text())
    assert h["status"] == "finished" and len(h["epochs"]) == 2 and h["config"]["seed"] == 1
    assert h["extra"]["recipe"]["optimizer"] == "adam" and h["extra"]["recipe"]["batch_size"] == 60
    data = h["extra"]["data"]  # the data by what it is (names, sizes, SHA-256), never by the machine's path
    assert (data["train_samples"], data["test_samples"]) == (200, 100)
    assert [f["file"] for f in data["train_files"] + data["test_files"]] == [
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 and f["mnist"] is False for f in data["train_files"])
    assert str(idx_dir) not in (out / "seedcnn_ep2_scratchinit_seed1.json").read_text()
    assert h["final_test"]["num_samples"] == 100 and "confusion_matrix" in h["final_test"]
    assert h["extra"]["wall_time_s"] > 0 and h["extra"]["init"] == "scratchnet"
    assert (out / "seedcnn_ep2_scratchinit_seed1.png").stat().st_size > 1000
    readme = (out / "README.md").read_text()
    assert "| SeedCNN | cpu | adam 0.001 | 60 | 2 |" in readme and "torch 2" in readme and "commit" in readme
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert list(state) == list(make_model("seedcnn").state_dict())
    (out / "README.md").unlink()
    (out / "seedcnn_ep2_scratchinit_seed1.png").unlink()
    assert train_main(["summary", str(out)]) == 0 and "| SeedCNN |" in (out / "README.md").read_text()
    assert (out / "seedcnn_ep2_scratchinit_seed1.png").stat().st_size > 1000, "summary redraws each run's figure"


def test_train_cli_runs_as_a_module(idx_dir, tmp_path):
    out = subprocess.run([sys.executable, "-m", "torchref.train", "--model", "ffn", "--data-dir", str(idx_dir),
                          "--out", str(tmp_path), "--epochs", "1", "--no-progress", "--device", "cpu", "--threads", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "test accuracy" in out.stdout and (tmp_path / "ffn_ep1.json").exists()


def test_train_cli_resnet18_from_a_weights_file_at_64_px(idx_dir, tmp_path, monkeypatch):
    weights = tmp_path / "r18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    code = train_main(["--model", "resnet18", "--protocol", "linear-probe", "--weights-file", str(weights),
                       "--image-size", "64", "--data-dir", str(idx_dir), "--out", str(tmp_path), "--epochs", "1",
                       "--subset", "64", "--test-subset", "32", "--batch-size", "32", "--no-progress"])
    assert code == 0
    h = json.loads((tmp_path / "resnet18_linear-probe_ep1_b32_sub64_px64.json").read_text())
    assert h["extra"]["weights"].startswith(f"imagenet (file {weights.name}, sha256 ")
    assert h["extra"]["resnet"]["image_size"] == 64 and h["trainable_parameters"] == 5130
    assert h["extra"]["recipe"]["normalization"] == "imagenet" and h["config"]["normalization"] == "unit"
    assert "ResNet18-linear-probe" in (tmp_path / "README.md").read_text()


def test_train_cli_errors(idx_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train_main(["--model", "ffn", "--data-dir", str(idx_dir), "--out", str(tmp_path), "--device", "cuda"]) == 2
    assert "--device cuda: CUDA is not available" in capsys.readouterr().err

    def offline(url, model_dir, progress):
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr(resnet_mod, "_download", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert train_main(["--model", "resnet18", "--data-dir", str(idx_dir), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ImageNet ResNet18 weights" in err and str(tmp_path / "hub" / "checkpoints") in err and "offline (test)" in err
    assert not (tmp_path / "resnet18_workshop.json").exists()  # no silent random-init run
    for bad, message in ((["--model", "ffn", "--protocol", "full"], "apply to --model resnet18 only"),
                         (["--model", "resnet18", "--protocol", "full", "--normalization", "half"], "ImageNet"),
                         (["--model", "ffn", "--bf16", "--float64"], "exclude each other")):
        with pytest.raises(SystemExit):
            train_main(bad)
        assert message in capsys.readouterr().err


def test_kfold_cli_end_to_end(idx_dir, tmp_path):
    code = kfold_main(["--model", "ffn", "--k", "3", "--epochs", "1", "--data-dir", str(idx_dir), "--out", str(tmp_path),
                       "--no-progress", "--subset", "120"])
    assert code == 0
    result = json.loads((tmp_path / "ffn_kfold.json").read_text())
    assert result["k"] == 3 and len(result["folds"]) == 3 and result["provenance"]["samples"] == 120
    rows = list(csv.DictReader((tmp_path / "ffn_kfold.csv").open()))
    assert [r["fold"] for r in rows] == ["1", "2", "3", "mean", "std"]
    assert float(rows[3]["accuracy"]) == pytest.approx(result["mean"]["accuracy"])
    assert {"accuracy", "macro_precision", "macro_recall", "macro_f1"} <= set(rows[0])
