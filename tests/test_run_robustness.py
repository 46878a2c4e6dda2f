"""Bad input and faults around a training run (issue 15): every command checks its values and its output
location before reading data, never replaces a file it did not write, refuses a second run on the same
files, resumes only what it can continue, and loads checkpoints all or nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnet import models, optim
from scratchnet.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from scratchnet.run.outputs import RunLock
from scratchnet.train import fit
from scratchnet.train.__main__ import main as scratch_main
from torchref.kfold.__main__ import main as kfold_main
from torchref.train.__main__ import main as torch_main

from .conftest import make_digit_idx

BAD_VALUES = [["--epochs", "0"], ["--batch-size", "0"], ["--lr", "-1"], ["--lr", "nan"], ["--seed", "-1"],
              ["--seed", str(2**70)], ["--threads", "-3"], ["--threads", "0"], ["--subset", "0"], ["--subset", "-5"],
              ["--epochs", "two"]]


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    return make_digit_idx(tmp_path_factory.mktemp("data"), n_train=120, n_test=40)


def _args(idx, out, *more):
    return ["--model", "seedcnn", "--epochs", "1", "--batch-size", "40", "--data-dir", str(idx), "--out", str(out),
            "--no-progress", *more]


@pytest.mark.parametrize("main", [scratch_main, torch_main, kfold_main], ids=["scratchnet", "torchref", "kfold"])
@pytest.mark.parametrize("bad", BAD_VALUES, ids=lambda b: " ".join(b))
def test_a_bad_value_is_one_error_line_and_exit_2_before_anything_is_written(main, bad, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as err:
        main(["--model", "ffn", "--out", str(out), *bad])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("usage:") is False and "error: argument " + bad[0] in lines[-1]
    assert not out.exists()


def test_val_split_outside_zero_one_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        scratch_main(["--model", "ffn", "--val-split", "1.5", "--out", str(tmp_path)])
    assert err.value.code == 2 and "strictly between 0 and 1" in capsys.readouterr().err


def test_a_readme_the_user_owns_is_never_replaced(idx, tmp_path, capsys):
    (tmp_path / "README.md").write_text("# my project\n")
    for main in (scratch_main, torch_main):
        assert main(_args(idx, tmp_path)) == 2
        assert "README.md was not written by a run summary" in capsys.readouterr().err
    assert (tmp_path / "README.md").read_text() == "# my project\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]  # nothing trained, nothing written


def test_an_output_that_is_a_file_is_refused_before_training(idx, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("mine")
    assert scratch_main(_args(idx, target)) == 2
    assert "exists and is not a folder" in capsys.readouterr().err and target.read_text() == "mine"
    assert scratch_main(_args(idx, tmp_path / "out", "--checkpoint", str(tmp_path))) == 2
    assert "is a folder, expected a file name" in capsys.readouterr().err


def test_a_second_run_on_the_same_folder_stops_and_names_the_first(idx, tmp_path, capsys):
    lock = RunLock(tmp_path, "--out").acquire()
    try:
        assert scratch_main(_args(idx, tmp_path)) == 2
        err = capsys.readouterr().err
        assert "another run is writing there" in err and "pid" in err
    finally:
        lock.release()
    assert scratch_main(_args(idx, tmp_path)) == 0  # free again once the first is done
    assert not list(tmp_path.glob(".*.lock")), "the lock file goes with its run"


def test_stale_part_files_of_a_killed_write_are_cleaned_and_foreign_json_is_harmless(idx, tmp_path):
    stale = tmp_path / ".seedcnn_ep1_b40.json.0123456789ab.part"
    stale.write_text("half a history")
    (tmp_path / "notes.json").write_text('{"mine": true}')
    assert scratch_main(_args(idx, tmp_path)) == 0
    assert not stale.exists() and json.loads((tmp_path / "notes.json").read_text()) == {"mine": True}


def test_resume_with_other_settings_stops_and_lists_the_differences(idx, tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    assert scratch_main(_args(idx, tmp_path, "--checkpoint", str(ck))) == 0
    before = ck.read_bytes()
    assert scratch_main(_args(idx, tmp_path, "--checkpoint", str(ck), "--resume", "--lr", "0.01", "--epochs", "2")) == 2
    err = capsys.readouterr().err
    assert "written by a run with other settings" in err and "lr: 0.001 in the checkpoint, 0.01 now" in err
    assert ck.read_bytes() == before and not (tmp_path / "seedcnn_ep2_lr0.01_b40.json").exists()
    assert scratch_main(_args(idx, tmp_path, "--checkpoint", str(ck), "--resume", "--epochs", "2")) == 0  # more epochs: fine


def _small_run(tmp_path, optimizer_cls):
    model = models.SeedCNN(rng=0)
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 40)
    opt = optimizer_cls(model.parameters(), lr=np.float32(1e-3))  # a NumPy learning rate must not break JSON
    fit(model, opt, (x, y), epochs=1, batch_size=20, checkpoint_path=tmp_path / "ck.npz",
        history_path=tmp_path / "h.json", progress=False)
    return model, tmp_path / "ck.npz"


def test_checkpoint_loads_are_all_or_nothing(tmp_path):
    _, path = _small_run(tmp_path, optim.Adam)
    assert json.loads((tmp_path / "h.json").read_text())["config"]["optimizer"]["lr"] == pytest.approx(1e-3)
    target = models.SeedCNN(rng=1)
    weights = target.state_dict()
    with pytest.raises(CheckpointError, match="holds a Adam optimizer state, this run's optimizer is a Adadelta"):
        load_checkpoint(path, target, optim.Adadelta(target.parameters()))
    adam = optim.Adam(target.parameters())
    with pytest.raises(CheckpointError, match="holds no scheduler state"):
        load_checkpoint(path, target, adam, optim.StepLR(adam, 1))
    for k, v in weights.items():  # untouched by either failed load
        np.testing.assert_array_equal(target.state_dict()[k], v)
    assert not adam.state


@pytest.mark.parametrize("field, value", [("epoch", 1e6), ("epoch", 10**7), ("step", -5), ("step", "3"),
                                          ("meta", [1]), ("epoch", True)])
def test_a_malformed_checkpoint_field_is_named(tmp_path, field, value):
    model = models.FFN(rng=0)
    path = save_checkpoint(tmp_path / "ck.npz", model, epoch=1)
    with np.load(path) as archive:
        data = {k: archive[k] for k in archive.files}
    info = json.loads(str(data["meta"]))
    info[field] = value
    data["meta"] = np.array(json.dumps(info))
    np.savez(path, **data)
    with pytest.raises(CheckpointError, match=f"field '{field}'"):
        load_checkpoint(path, models.FFN(rng=1))


def test_a_failed_checkpoint_write_keeps_the_history_and_says_so(tmp_path, monkeypatch):
    import scratchnet.train as train

    calls = {"n": 0}
    real = train.save_checkpoint

    def disk_full_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "save_checkpoint", disk_full_on_second)
    model = models.FFN(rng=0)
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 40)
    with pytest.raises(OSError, match="could not write the checkpoint .*No space left on device"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3, batch_size=20,
            checkpoint_path=tmp_path / "ck.npz", history_path=tmp_path / "h.json", progress=False)
    history = json.loads((tmp_path / "h.json").read_text())
    assert history["status"] == "failed" and len(history["epochs"]) == 2 and "No space" in history["checkpoint_error"]
    assert load_checkpoint(tmp_path / "ck.npz", models.FFN(rng=0))["epoch"] == 1  # the previous one is intact


def test_empty_training_sets_and_bad_evaluation_batches_are_refused():
    from scratchnet.train import evaluate

    model = models.FFN(rng=0)
    x = np.zeros((0, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match="training set is empty"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), (x, np.zeros(0, np.int64)), epochs=1, batch_size=4)
    ones = np.ones((3, 1, 28, 28), np.float32)
    for bad in (-1, 0, 1.5):
        with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
            evaluate(model, ones, np.zeros(3, np.int64), batch_size=bad)
