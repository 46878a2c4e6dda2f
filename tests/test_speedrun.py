"""The speedrun (issue 19): SpeedCNN against its torch twin (state_dict names, weight transfer both ways, forward
and every gradient in float64), the speedrun recipe training step for step like torch from the same weights
(float64, one-cycle schedule per batch), and ``python -m compare.speedrun --quick`` end to end on generated data
(results.csv schema, report, figure, JSON; bad values are one error line and exit 2)."""

from __future__ import annotations

from pathlib import Path
import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import torchref
from compare import _machine, speedrun
from scratchnet import models
from scratchnet.recipes import SPEEDRUN, speedrun_loss, speedrun_model, speedrun_optimizer
from torchref import recipes as torch_recipes

from .conftest import make_digit_idx
from .parity_utils import assert_parity, striped_batches
from .torch_twins import compare_with_torch

#: the recipe's own net, and the other shapes SpeedCNN takes (BatchNorm, 5x5 first conv, no hidden layer)
SHAPES = {"recipe": SPEEDRUN.model_kwargs(),
          "bn-k5-nohidden": {"channels": (4, 6), "kernel_size": 5, "hidden": 0, "batch_norm": True},
          "bn-hidden": {"channels": (4, 8), "kernel_size": 3, "hidden": 16, "batch_norm": True}}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_speedcnn_state_dict_names_equal_the_twins_and_weights_move_both_ways(shape):
    ours = models.SpeedCNN(**SHAPES[shape], rng=0)
    twin = torchref.models.SpeedCNN(**SHAPES[shape])
    assert list(ours.state_dict()) == list(twin.state_dict())
    assert all(v.shape == tuple(twin.state_dict()[k].shape) for k, v in ours.state_dict().items())
    torchref.from_scratch(ours, twin)
    for k, v in ours.state_dict().items():
        assert np.array_equal(v, twin.state_dict()[k].numpy()), k
    back = torchref.to_scratch(twin, models.SpeedCNN(**SHAPES[shape], rng=1))
    for k, v in ours.state_dict().items():
        assert np.array_equal(v, back.state_dict()[k]), k
    assert models.build_model("speedcnn").num_parameters() == sum(p.numel() for p in torchref.build_model("speedcnn").parameters())


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_speedcnn_forward_and_gradients_match_torch_in_float64(shape, training):
    ours = models.SpeedCNN(**SHAPES[shape], dtype=np.float64, rng=3)
    twin = torchref.from_scratch(ours, torchref.models.SpeedCNN(**SHAPES[shape]))
    ours.train(training)
    x = np.random.default_rng(4).standard_normal((5, 1, 28, 28))
    compare_with_torch(ours, x, seed=5, label=f"SpeedCNN {shape}", twin=twin)


@pytest.mark.parametrize("optimizer", ["recipe", "sgd", "adam"])
def test_speedrun_recipe_trains_step_for_step_like_torch_in_float64(optimizer):
    """12 steps of the recipe (its optimiser, or the other one, and its OneCycleLR over exactly these steps, so the
    rate rises and falls to its minimum) from the same weights on the same batches: losses and weights to 1e-9."""
    recipe = SPEEDRUN if optimizer == "recipe" else replace(SPEEDRUN, optimizer=optimizer,
                                                            max_lr=0.1 if optimizer == "sgd" else 5e-3)
    steps = 12
    ours = speedrun_model(recipe, dtype=np.float64, rng=2)
    theirs = torchref.from_scratch(ours, torch_recipes.speedrun_model(recipe))
    o_opt, o_sched = speedrun_optimizer(replace(recipe, epochs=1), ours, steps)
    t_opt, t_sched = torch_recipes.speedrun_optimizer(replace(recipe, epochs=1), theirs, steps)
    o_loss, t_loss = speedrun_loss(recipe), torch_recipes.speedrun_loss(recipe)  # with the recipe's label smoothing
    for step, (x, y) in enumerate(striped_batches(steps, 16, np.float64, seed=7, noise=0.3)):
        loss = o_loss(ours(x), y)
        o_opt.zero_grad()
        ours.backward(o_loss.backward(), input_grad=False)
        o_opt.step()
        o_sched.step()
        tl = t_loss(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        t_opt.zero_grad()
        tl.backward()
        t_opt.step()
        t_sched.step()
        assert abs(loss - tl.item()) <= 1e-9 * max(1.0, abs(loss)), f"step {step}: scratchnet {loss} vs torch {tl.item()}"
        assert o_opt.param_groups[0]["lr"] == t_opt.param_groups[0]["lr"]
        if optimizer != "sgd":  # Adam's beta1 (cycled or not) and beta2 follow the same schedule
            assert tuple(o_opt.param_groups[0]["betas"]) == tuple(t_opt.param_groups[0]["betas"])
    theirs_state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        assert_parity(f"weights {name} after {steps} steps", value, theirs_state[name], 1e-9)


@pytest.fixture
def small_quick(monkeypatch):
    """--quick on fewer images still (the test checks the plumbing, not the accuracy)."""
    monkeypatch.setitem(speedrun.QUICK, "subset", 384)
    monkeypatch.setitem(speedrun.QUICK, "test_subset", 100)


def test_quick_speedrun_writes_csv_report_figure_and_json(tmp_path, small_quick, capsys):
    data = make_digit_idx(tmp_path / "mnist", n_train=400, n_test=120)
    out = tmp_path / "speedrun"
    assert speedrun.main(["--quick", "--data-dir", str(data), "--out", str(out), "--threads", "1"]) == 0
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["library", "seed", "test_accuracy", "train_seconds"]
    assert [(r["library"], r["seed"]) for r in rows] == [("scratchnet", "0"), ("scratchnet", "1"), ("torch", "0"), ("torch", "1")]
    assert all(0.0 <= float(r["test_accuracy"]) <= 1.0 and float(r["train_seconds"]) > 0 for r in rows)
    result = json.loads((out / "results.json").read_text())
    assert result["quick"] and result["data"]["train_samples"] == 384 and result["data"]["test_samples"] == 100
    assert {r["library"] for r in result["runs"]} == {"scratchnet", "torch"}
    assert all(r["warmup_seconds"] >= 0 and r["load_average_before"] is not None for r in result["runs"])
    probes = {r["seed"]: r["host_gflops"] for r in result["runs"]}  # one probe per seed, shared by its two runs
    assert all(r["host_gflops"] == probes[r["seed"]] >= 0 for r in result["runs"])
    assert result["summary"]["accuracy_difference_pct"]["n"] == 2 and result["summary"]["time_ratio"]["n"] == 2
    for r, row in zip(result["runs"], rows):
        assert f"{r['test_accuracy']:.4f}" == row["test_accuracy"]
    report = (out / "report.md").read_text()
    mean = result["summary"]["libraries"]["scratchnet"]["accuracy_pct"]["mean"]
    assert "QUICK" in report and f"**{mean:.2f} %**" in report and "speedrun.png" in report
    assert "## scratchnet against torch (paired by seed)" in report and "load average" in report
    assert f"- Host speed probe before each seed (NumPy float32 {_machine.PROBE_SIZE}x" in report
    assert (out / "speedrun.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("report.md", "results.json", "results.csv"):  # the data by fingerprint, not by this machine's path
        assert str(data) not in (out / name).read_text() and '"directory": "/' not in (out / name).read_text(), name
    assert capsys.readouterr().out.strip().endswith(f"wrote {out / 'report.md'}")


def test_one_library_one_seed_has_no_paired_section(tmp_path, small_quick):
    data = make_digit_idx(tmp_path / "mnist", n_train=400, n_test=120)
    out = tmp_path / "one"
    assert speedrun.main(["--quick", "--seeds", "1", "--seed", "5", "--libraries", "scratchnet", "--epochs", "1",
                          "--data-dir", str(data), "--out", str(out), "--threads", "1"]) == 0
    rows = list(csv.DictReader(open(out / "results.csv", newline="")))
    assert [(r["library"], r["seed"]) for r in rows] == [("scratchnet", "5")]
    report = (out / "report.md").read_text()
    assert "paired by seed" not in report and f"run here with 1 epoch(s) instead of {SPEEDRUN.epochs}" in report
    assert json.loads((out / "results.json").read_text())["recipe"]["epochs"] == 1


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds: expected a whole number >= 1, got 0"),
    (["--libraries", "jax"], "--libraries: expected one of scratchnet, torch, got 'jax'"),
    (["--seed", "-1"], "--seed: expected a seed from 0 to 2**63 - 1, got -1"),
    (["--epochs", "0"], "--epochs: expected a whole number >= 1, got 0"),
])
def test_a_bad_value_is_one_error_line_and_exit_2(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        speedrun.main([*argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("error:") and message in err, err
    assert not (tmp_path / "o").exists()


def test_missing_data_is_one_error_line_and_nothing_is_written(tmp_path, capsys):
    assert speedrun.main(["--quick", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_default_out_is_the_git_ignored_runs_folder():
    args = speedrun.parse_args([])
    assert args.out == "runs/speedrun" and args.seeds == 10 and args.libraries == ["scratchnet", "torch"]
    assert speedrun.parse_args(["--quick"]).seeds == 2 and speedrun.parse_args(["--quick", "--seeds", "3"]).seeds == 3
    ignored = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().split()
    assert "/runs/" in ignored
