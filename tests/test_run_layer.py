"""The run layer shared by both libraries: the History schema round-trips every committed run file,
refuses malformed ones by name, and the one loop gives torch the resume semantics scratchnet has
(a Ctrl-C mid-epoch writes a checkpoint that resumes to the uninterrupted weights)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from scratchnet.run.history import EpochRecord, History, HistoryError, read_histories
from scratchnet.run.loop import TrainingInterrupted
from scratchnet.run.summary import write_summary
from torchref.data import to_device
from torchref.recipes import build_optimizer, make_model, recipe_for
from torchref.train import fit

from .test_torchref_train import digits

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def _is_run_file(path: Path) -> bool:
    data = json.loads(path.read_text())
    return isinstance(data, dict) and {"model", "config", "environment", "extra", "epochs"} <= set(data)


RUN_FILES = sorted(p for p in REPORTS.rglob("*.json") if _is_run_file(p))


def test_every_committed_run_history_round_trips_exactly_through_the_schema():
    assert len(RUN_FILES) >= 100
    for path in RUN_FILES:
        data = json.loads(path.read_text())
        history = History.load(path)
        assert history.to_dict() == data, path
        assert history.finished and 0 < history.test_accuracy <= 1 and history.last.epoch == len(history.epochs)


def test_a_record_writes_only_the_splits_it_evaluated():
    record = EpochRecord.from_running(1, 0.1, loss_sum=12.0, correct=30, seen=60, time_s=2.0)
    assert (record.train_loss, record.train_accuracy, record.images_per_s) == (0.2, 0.5, 30.0)
    assert "test_loss" not in record.to_dict()
    record.set_split("test", 0.3, 0.9, 0.1)
    assert EpochRecord.from_dict(record.to_dict()) == record and record.to_dict()["test_accuracy"] == 0.9


def test_malformed_histories_are_refused_with_the_file_and_the_field(tmp_path):
    good = History(model="FFN", num_parameters=3, config={"seed": 0}, environment={},
                   epochs=[EpochRecord.from_running(1, 0.1, 1.0, 1, 2, 1.0)], other={"kept": [1, 2]})
    path = good.save(tmp_path / "run.json")
    assert History.load(path) == good and json.loads(path.read_text())["kept"] == [1, 2]
    for broken, message in (({"model": "FFN"}, "missing field"), ([], "expected a JSON object"),
                            ({**good.to_dict(), "epochs": [{"epoch": 1}]}, r"epochs\[0\]: missing field"),
                            ({**good.to_dict(), "epochs": [{**good.epochs[0].to_dict(), "bogus": 1}]}, "unexpected field")):
        path.write_text(json.dumps(broken))
        with pytest.raises(HistoryError, match=message) as err:
            History.load(path)
        assert str(path) in str(err.value)
    path.write_text("{not json")
    with pytest.raises(HistoryError, match="not a readable JSON history"):
        History.load(path)


def test_a_run_folder_summary_skips_foreign_json_files(tmp_path):
    (tmp_path / "notes.json").write_text('{"a": 1}')
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{")
    assert read_histories(tmp_path) == []
    assert "no runs yet" not in write_summary(tmp_path).read_text()  # a scratchnet summary with no rows


def _torch_run(tmp_path: Path, epochs: int, resume: bool = False, interrupt_at: int | None = None):
    x, y = digits(150, seed=2)
    data = to_device(x, y)
    model = make_model("ffn", seed=3)  # dropout on: the torch RNG state must come back too
    opt, _ = build_optimizer(recipe_for("ffn"), model)
    if interrupt_at is not None:  # Ctrl-C during step `interrupt_at` of the run
        calls = {"n": 0}
        forward = model.forward

        def forward_and_interrupt(xb):
            calls["n"] += 1
            if calls["n"] == interrupt_at:
                os.kill(os.getpid(), signal.SIGINT)
            return forward(xb)

        model.forward = forward_and_interrupt
    history = fit(model, opt, data, epochs=epochs, batch_size=25, seed=3, checkpoint_path=tmp_path / "ck.pt",
                  resume=resume, history_path=tmp_path / "h.json", progress=False)
    return model, history


def test_torch_ctrl_c_mid_epoch_checkpoints_and_resumes_to_the_uninterrupted_weights(tmp_path):
    straight, full = _torch_run(tmp_path / "a", epochs=2)
    with pytest.raises(TrainingInterrupted, match=r"interrupted at epoch 2 after 3 of 6 steps; resume from") as err:
        _torch_run(tmp_path / "b", epochs=2, interrupt_at=10)  # the warm-up calls forward once; then 6 steps an epoch
    assert err.value.checkpoint == tmp_path / "b" / "ck.pt"
    partial = History.load(tmp_path / "b" / "h.json")
    assert partial.status == "interrupted" and len(partial.epochs) == 1
    resumed, history = _torch_run(tmp_path / "b", epochs=2, resume=True)
    assert history.resumed_from["epoch"] == 1 and history.resumed_from["step"] == 3
    for name, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name
    assert history.series("train_loss") == pytest.approx(full.series("train_loss"), rel=1e-12)


def test_scratchnet_compiles_before_the_clock_starts_and_the_warm_up_changes_nothing():
    from scratchnet import models, optim
    from scratchnet.data import DataLoader
    from scratchnet.train import NumpyTrainer, fit

    rng = np.random.default_rng(0)
    x, y = rng.random((60, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 60)
    model = models.FFN(rng=0)
    history = fit(model, optim.Adam(model.parameters(), lr=1e-3), (x, y), epochs=1, batch_size=30, progress=False)
    assert history.warmup_time_s is not None and history.warmup_time_s > 0 and "warmup_time_s" in history.to_dict()
    twin = models.FFN(rng=0)  # dropout: its generator must not be advanced by the warm-up either
    before = twin.state_dict()
    generators = [m.rng.bit_generator.state for m in twin.modules() if isinstance(getattr(m, "rng", None), np.random.Generator)]
    opt = optim.Adam(twin.parameters(), lr=1e-3)
    trainer = NumpyTrainer(twin, opt, twin.make_loss(), None, DataLoader(x, y, 30, seed=0), {"train": (x, y)}, 1000)
    from scratchnet import kernels

    calls = []
    real = kernels.adam_update
    kernels.adam_update = lambda *args: (calls.append(args[0].dtype), real(*args))  # the optimiser's kernel runs too
    try:
        trainer.warm_up()
    finally:
        kernels.adam_update = real
    assert calls and set(calls) == {np.dtype(np.float32)}, "the warm-up compiles the optimiser's update as well"
    for name, value in twin.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    assert generators and generators == [m.rng.bit_generator.state for m in twin.modules()
                                         if isinstance(getattr(m, "rng", None), np.random.Generator)]
    assert all(p.grad is None for p in twin.parameters()) and not opt.state


def test_a_per_batch_one_cycle_schedule_trains_alike_in_both_libraries():
    import torchref
    from scratchnet import models, optim
    from scratchnet.data import normalize
    from scratchnet.train import fit as scratch_fit

    x, y = digits(120, seed=4)
    ours = models.build_model("seedcnn", dtype=np.float64, rng=1)
    twin = torchref.from_scratch(ours, torchref.SeedCNN()).double()
    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    sched = optim.OneCycleLR(opt, max_lr=0.2, epochs=2, steps_per_epoch=4)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.2, epochs=2, steps_per_epoch=4)
    h = scratch_fit(ours, opt, (normalize(x, "unit", dtype=np.float64), y), epochs=2, batch_size=30, scheduler=sched,
                    scheduler_interval="step", progress=False)
    th = fit(twin, topt, to_device(x, y, dtype=torch.float64), epochs=2, batch_size=30, scheduler=tsched,
             scheduler_interval="step", progress=False)
    assert h.series("train_loss") == pytest.approx(th.series("train_loss"), rel=1e-12)
    assert h.config["scheduler"]["interval"] == "step" and sched.last_epoch == 8
    assert h.series("lr") == pytest.approx([0.2 / 25, opt.param_groups[0]["initial_lr"] * 0 + h.epochs[1].lr])
    with pytest.raises(ValueError, match="scheduler_interval must be 'epoch' or 'step'"):
        scratch_fit(ours, opt, (normalize(x, "unit"), y), epochs=1, batch_size=30, scheduler_interval="batch")


def test_the_recorded_command_never_names_the_data_directory(monkeypatch):
    import sys as _sys

    from scratchnet.run.provenance import command_line

    monkeypatch.setattr(_sys, "orig_argv", ["/usr/bin/python3", "-m", "scratchnet.train", "--data-dir", "/home/me/mnist",
                                            "--out", "runs/x", "--data-dir=/srv/mnist"])
    assert command_line() == "python3 -m scratchnet.train --data-dir DATA_DIR --out runs/x --data-dir=DATA_DIR"


def test_the_recorded_command_names_no_other_path_of_the_machine(monkeypatch, tmp_path):
    import sys as _sys
    from pathlib import Path

    from scratchnet.run.provenance import command_line

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/me")
    monkeypatch.setattr(_sys, "orig_argv", ["/usr/bin/python3", "-m", "compare.replication", "--out",
                                            str(tmp_path / "reports" / "replication"), "--checkpoint=/scratch/a/ck.npz",
                                            "--weights-file", "/home/me/w/resnet18.pth", "--seed", "3"])
    assert Path.home() == Path("/home/me")
    assert command_line() == ("python3 -m compare.replication --out reports/replication --checkpoint=.../ck.npz "
                              "--weights-file ~/w/resnet18.pth --seed 3")
