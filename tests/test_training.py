"""fit / evaluate / checkpoints / cross-validation / the training CLI, on small data."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from scratchnet import models, optim
from scratchnet.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from scratchnet.data import load_mnist, normalize, write_idx
from scratchnet.nn import CrossEntropyLoss
from scratchnet.train.__main__ import main as train_main
from scratchnet.train import NonFiniteError, TrainingInterrupted, cross_validate, evaluate, fit


def _digits(n: int, seed: int = 0, size: int = 28):
    """Generated digit-like data: class c lights up a bar at a class-dependent place, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    img = rng.integers(0, 60, size=(n, size, size)).astype(np.uint8)
    for i, c in enumerate(y):
        img[i, 2 + 2 * c : 5 + 2 * c, 4:24] = 255
    return img, y.astype(np.int64)


@pytest.fixture(scope="module")
def small_data():
    """A few hundred real MNIST images when MNIST_DIR is set, else generated ones."""
    if os.environ.get("MNIST_DIR"):
        x, y = load_mnist(os.environ["MNIST_DIR"], "train", download=False)
        x, y = x[:400], y[:400]
    else:
        x, y = _digits(400)
    return normalize(x, "unit"), y


@pytest.mark.parametrize("name", ["ffn", "seedcnn"])
def test_smoke_training_one_epoch_reduces_the_loss(small_data, name):
    x, y = small_data
    model = models.build_model(name, rng=0)
    before = evaluate(model, x, y)["loss"]
    hist = fit(model, optim.Adam(model.parameters(), lr=2e-3), (x, y), epochs=1, batch_size=10,
               progress=False).to_dict()
    after = evaluate(model, x, y)["loss"]
    assert after < before * 0.9, (before, after)
    rec = hist["epochs"][0]
    assert rec["images_per_s"] > 0 and rec["time_s"] > 0 and hist["status"] == "finished"
    json.dumps(hist)  # JSON-serialisable


def test_history_has_val_and_test_and_early_stopping(small_data):
    x, y = small_data
    model = models.FFN(rng=0)
    hist = fit(model, optim.SGD(model.parameters(), lr=0.0), (x[:300], y[:300]), epochs=10, batch_size=50,
               val_data=(x[300:], y[300:]), test_data=(x[300:], y[300:]), early_stopping=2, progress=False).to_dict()
    # lr 0: the validation loss never improves after the first epoch, so training stops after epoch 3
    assert hist["stopped_early"] and len(hist["epochs"]) == 3 and hist["best_epoch"] == 1
    assert {"val_loss", "val_accuracy", "test_loss", "test_accuracy"} <= set(hist["epochs"][0])
    with pytest.raises(ValueError, match="early_stopping needs val_data"):
        fit(model, optim.SGD(model.parameters()), (x, y), epochs=1, batch_size=10, early_stopping=1)


def test_evaluate_restores_training_mode_and_counts_every_sample(small_data):
    x, y = small_data
    model = models.FFN(rng=0).train()
    res = evaluate(model, x[:250], y[:250], batch_size=100)
    assert model.training and res["num_samples"] == 250 and res["predictions"].shape == (250,)


def _train(tmp_path, epochs, resume=False, name="ffn", interrupt_at=None):
    x, y = _digits(240, seed=1)
    x = normalize(x, "mnist")
    model = models.build_model(name, rng=np.random.default_rng(5))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    loss_fn = CrossEntropyLoss()
    if interrupt_at is not None:  # send ourselves Ctrl-C during step `interrupt_at` of the run
        calls = {"n": 0}
        forward = loss_fn.forward

        def forward_and_interrupt(scores, target):
            calls["n"] += 1
            if calls["n"] == interrupt_at:
                os.kill(os.getpid(), signal.SIGINT)
            return forward(scores, target)

        loss_fn.forward = forward_and_interrupt
    hist = fit(model, opt, (x, y), epochs=epochs, batch_size=40, scheduler=sched, loss_fn=loss_fn, seed=3,
               checkpoint_path=tmp_path / "ck.npz", resume=resume, history_path=tmp_path / "h.json", progress=False).to_dict()
    return model, opt, hist


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path):
    straight, _, hist_straight = _train(tmp_path / "a", epochs=3)
    _train(tmp_path / "b", epochs=1)  # stops after epoch 1 with a checkpoint
    resumed, _, hist_resumed = _train(tmp_path / "b", epochs=3, resume=True)
    for k, v in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[k], v)  # dropout RNG, Adam, StepLR all restored
    assert [e["train_loss"] for e in hist_resumed["epochs"]] == [e["train_loss"] for e in hist_straight["epochs"]]
    assert [e["lr"] for e in hist_resumed["epochs"]] == [1e-3, 5e-4, 2.5e-4]


def test_ctrl_c_mid_epoch_saves_a_checkpoint_that_resumes_exactly(tmp_path):
    straight, _, _ = _train(tmp_path / "a", epochs=2)
    with pytest.raises(TrainingInterrupted, match=r"interrupted at epoch 2 after 3 of 6 steps; resume from") as err:
        _train(tmp_path / "b", epochs=2, interrupt_at=9)  # epoch 1 has 6 steps; the 9th is epoch 2's 3rd
    assert err.value.checkpoint == tmp_path / "b" / "ck.npz"
    partial = json.loads((tmp_path / "b" / "h.json").read_text())
    assert partial["status"] == "interrupted" and len(partial["epochs"]) == 1
    resumed, _, hist = _train(tmp_path / "b", epochs=2, resume=True)
    for k, v in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[k], v)
    assert hist["status"] == "finished" and len(hist["epochs"]) == 2


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nonfinite_loss_stops_with_epoch_step_and_layer_and_keeps_the_last_checkpoint(tmp_path):
    x, y = _digits(120)
    x = normalize(x, "unit")
    model = models.SeedCNN(rng=0)
    opt = optim.SGD(model.parameters(), lr=0.01)
    fit(model, opt, (x, y), epochs=1, batch_size=40, checkpoint_path=tmp_path / "ck.npz", progress=False)
    good = (tmp_path / "ck.npz").read_bytes()
    model.conv2.weight.data[0, 0, 0, 0] = np.inf
    with pytest.raises(NonFiniteError, match=r"epoch 1, step 1: loss is nan; first non-finite value in layer 'conv2'"):
        fit(model, opt, (x, y), epochs=2, batch_size=40, checkpoint_path=tmp_path / "ck.npz",
            history_path=tmp_path / "h.json", progress=False)
    assert (tmp_path / "ck.npz").read_bytes() == good
    assert json.loads((tmp_path / "h.json").read_text())["status"] == "diverged"


def test_checkpoint_into_a_different_architecture_lists_the_problems(tmp_path):
    path = save_checkpoint(tmp_path / "ffn.npz", models.FFN(rng=0), epoch=2)
    target = models.SeedCNN(rng=0)
    before = target.state_dict()
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, target)
    msg = str(err.value)
    assert str(path) in msg and "missing keys: conv1.weight" in msg and "unexpected keys: fc1.weight" in msg
    for k, v in target.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_checkpoint_is_npz_without_pickle_and_broken_files_are_named(tmp_path):
    model = models.SeedCNN(rng=0)
    opt = optim.Adadelta(model.parameters())
    path = save_checkpoint(tmp_path / "ck.npz", model, opt, epoch=4, step=2, meta={"note": "x"})
    with np.load(path, allow_pickle=False) as archive:
        assert "model/conv1.weight" in archive.files and "meta" in archive.files
    info = load_checkpoint(path, models.SeedCNN(rng=1), optim.Adadelta(models.SeedCNN(rng=1).parameters()))
    assert (info["epoch"], info["step"], info["meta"]) == (4, 2, {"note": "x"})
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]  # no temporary file left behind
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match=r"bad\.npz: not a readable \.npz checkpoint"):
        load_checkpoint(tmp_path / "bad.npz", model)
    with pytest.raises(CheckpointError, match=r"missing\.npz: no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.npz", model)


def test_cross_validation_reports_every_fold_and_mean_std():
    x, y = _digits(300, seed=2)
    x = normalize(x, "unit")
    result = cross_validate(lambda fold: models.FFN(rng=fold), lambda m: optim.Adam(m.parameters(), lr=1e-3),
                            x, y, k=3, epochs=1, batch_size=30, progress=False)
    accs = [f["accuracy"] for f in result["folds"]]
    assert len(accs) == 3 and sum(f["val_samples"] for f in result["folds"]) == 300
    assert result["mean"]["accuracy"] == pytest.approx(np.mean(accs))
    assert result["std"]["accuracy"] == pytest.approx(np.std(accs, ddof=1))


def test_training_cli_on_a_directory_of_idx_files(tmp_path, capsys):
    data = tmp_path / "data"
    for split, n in (("train", 200), ("t10k", 100)):
        img, lab = _digits(n, seed=len(split))
        write_idx(data / f"{split}-images-idx3-ubyte", img)
        write_idx(data / f"{split}-labels-idx1-ubyte", lab.astype(np.uint8), gzip=True)
    out = tmp_path / "out"
    rc = train_main(["--model", "seedcnn", "--epochs", "1", "--batch-size", "20", "--data-dir", str(data),
                     "--out", str(out), "--no-progress"])
    assert rc == 0
    hist = json.loads((out / "seedcnn_ep1_b20.json").read_text())
    assert hist["final_test"]["num_samples"] == 100 and len(hist["final_test"]["confusion_matrix"]) == 10
    assert (out / "seedcnn_ep1_b20.png").stat().st_size > 1000
    assert "| SeedCNN | adam 0.001 | 20 | 1 |" in (out / "README.md").read_text()
    assert hist["peak_rss_mb"] > 10 and hist["extra"]["wall_time_s"] >= hist["train_time_s"] > 0
    assert "wall time" in (out / "README.md").read_text()
    assert "test accuracy" in capsys.readouterr().out


def test_training_cli_holds_out_a_stratified_validation_split_and_names_variant_runs(tmp_path):
    data = tmp_path / "data"
    for split, n in (("train", 200), ("t10k", 100)):
        img, lab = _digits(n, seed=len(split))
        write_idx(data / f"{split}-images-idx3-ubyte", img)
        write_idx(data / f"{split}-labels-idx1-ubyte", lab.astype(np.uint8))
    out = tmp_path / "out"
    common = ["--model", "ffn", "--epochs", "1", "--batch-size", "20", "--data-dir", str(data), "--out", str(out),
              "--no-progress", "--val-split", "0.25", "--normalization", "mnist"]
    for seed in ("1", "2"):
        assert train_main([*common, "--seed", seed]) == 0
    hist = json.loads((out / "ffn_mnist_ep1_b20_val0.25_seed1.json").read_text())
    assert hist["config"]["train_samples"] == 150 and hist["config"]["val_samples"] == 50
    assert hist["extra"]["data"]["val_split"] == "stratified 0.25 of the training images, seed 1"
    assert 0 <= hist["epochs"][0]["val_accuracy"] <= 1 and hist["final_test"]["num_samples"] == 100
    readme = (out / "README.md").read_text()
    val = 100 * hist["epochs"][0]["val_accuracy"]
    assert f"| mnist | {val:.2f}% |" in readme
    assert "FFN, normalisation mnist, 1 epoch, 2 seeds (validation split held out)" in readme
    assert "validation accuracy mean" in readme
    with pytest.raises(SystemExit):
        train_main([*common[:-4], "--val-split", "1.5"])


def test_training_cli_without_data_says_how_to_provide_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "nowhere"))
    rc = train_main(["--model", "ffn", "--out", str(tmp_path / "out")])
    assert rc == 2
    assert "nowhere" in capsys.readouterr().err


def test_early_stopping_replays_a_resumed_history_and_stops_where_an_uninterrupted_run_would():
    from scratchnet.run.history import EarlyStopping

    losses = [0.5, 0.4, 0.45, 0.46, 0.47]
    records = [_record(i + 1, v) for i, v in enumerate(losses)]
    straight = _history([])
    stopper = EarlyStopping(3, straight)
    stops = []
    for r in records:
        straight.epochs.append(r)
        stops.append(stopper.update(r))
    assert stops == [False, False, False, False, True] and straight.best_epoch == 2
    resumed = _history(records[:4])  # checkpoint after epoch 4: two bad epochs already counted
    again = EarlyStopping(3, resumed)
    assert resumed.best_epoch == 2 and again.update(records[4]) is True
    assert EarlyStopping(None, _history([])).update(records[0]) is False


def _record(epoch, val_loss):
    from scratchnet.run.history import EpochRecord

    return EpochRecord(epoch=epoch, lr=0.1, train_loss=1.0, train_accuracy=0.5, time_s=1.0, images_per_s=1.0,
                       val_loss=val_loss)


def _history(records):
    from scratchnet.run.history import History

    return History(model="FFN", num_parameters=1, config={}, environment={}, epochs=list(records))


def test_git_commit_marks_code_changes_dirty_but_not_report_outputs(tmp_path):
    import subprocess

    from scratchnet.run.provenance import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "reports").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "reports" / "r.md").write_text("old\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "init")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    (tmp_path / "reports" / "r.md").write_text("a run's new report\n")
    assert git_commit(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == head + "-dirty"
    assert git_commit(tmp_path.parent / "no-such-dir") == "unknown"


def test_early_stopping_needs_a_patience_of_at_least_one_and_a_stopped_history_stays_stopped():
    from scratchnet.run.history import EarlyStopping

    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="early_stopping must be a whole number of epochs >= 1"):
            EarlyStopping(bad, _history([]))
    improving = _history([])
    stopper = EarlyStopping(1, improving)
    assert [stopper.update(_record(i + 1, v)) for i, v in enumerate([0.5, 0.4, 0.3])] == [False] * 3
    done = _history([_record(1, 0.5), _record(2, 0.6)])
    assert EarlyStopping(1, done).stopped, "a resumed run that had stopped early trains no further"
