"""A training run killed part-way (SIGKILL) or interrupted (Ctrl-C) in a subprocess resumes to the same
final weights as an uninterrupted run; nothing half-written is left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import make_digit_idx

EPOCHS = 3
RUN = "seedcnn_ep3_b30.json"  # the run file: the settings that differ from the recipe are in its name


def _make_data(root: Path) -> Path:
    return make_digit_idx(root, n_train=3000, n_test=200)


def _command(data: Path, out: Path, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "scratchnet.train", "--model", "seedcnn", "--epochs", str(EPOCHS),
           "--batch-size", "30", "--data-dir", str(data), "--out", str(out), "--checkpoint", str(out / "ck.npz"),
           "--no-progress", "--threads", "1"]
    return cmd + (["--resume"] if resume else [])


def _weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files if k.startswith("model/")}


def _wait_for(predicate, proc, timeout=120.0):
    t0 = time.time()
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (code {proc.returncode}) before it could be interrupted")
        if time.time() - t0 > timeout:
            proc.kill()
            pytest.fail("timed out waiting for the run")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupt")
    data = _make_data(root / "data")
    out = root / "straight"
    subprocess.run(_command(data, out, resume=False), check=True, capture_output=True, timeout=600)
    return data, _weights(out / "ck.npz")


@pytest.mark.slow
def test_sigkill_part_way_then_resume_gives_the_same_weights(reference, tmp_path):
    data, expected = reference
    out = tmp_path / "killed"
    proc = subprocess.Popen(_command(data, out, resume=False), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(lambda: (out / "ck.npz").exists(), proc)  # the first epoch's checkpoint is on disk
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    history = json.loads((out / RUN).read_text())
    assert history["status"] == "running" and len(history["epochs"]) < EPOCHS  # it really died part-way
    assert _weights(out / "ck.npz")  # the last good checkpoint is intact and readable
    subprocess.run(_command(data, out, resume=True), check=True, capture_output=True, timeout=600)
    for k, v in expected.items():
        np.testing.assert_array_equal(_weights(out / "ck.npz")[k], v)
    assert json.loads((out / RUN).read_text())["status"] == "finished"


@pytest.mark.slow
def test_ctrl_c_saves_mid_epoch_and_resumes_to_the_same_weights(reference, tmp_path):
    data, expected = reference
    out = tmp_path / "ctrl-c"
    proc = subprocess.Popen(_command(data, out, resume=False), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (out / "ck.npz").exists(), proc)
    proc.send_signal(signal.SIGINT)  # lands in epoch 2 (mid-epoch checkpoint) or at epoch 1's end
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at" in err and "resume from" in err  # mid-epoch, or at the end of epoch 1
    history = json.loads((out / RUN).read_text())
    assert history["status"] == "interrupted"
    subprocess.run(_command(data, out, resume=True), check=True, capture_output=True, timeout=600)
    for k, v in expected.items():
        np.testing.assert_array_equal(_weights(out / "ck.npz")[k], v)
