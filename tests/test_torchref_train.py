"""torchref's fast path: data on the device, scratchnet's batches, history format, checkpoints, devices."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import torchref
from scratchnet import models, optim
from scratchnet.data import DataLoader, load_mnist, normalize, write_idx
from scratchnet.train import NonFiniteError
from scratchnet.train import evaluate as scratch_evaluate
from scratchnet.train import fit as scratch_fit
from torchref.checkpoint import CheckpointError, load_checkpoint, load_state_dict, save_checkpoint, save_state_dict
from torchref.data import batch_indices, to_device
from torchref.device import DeviceError, determinism_record, select_device
from torchref.recipes import build_optimizer, make_model, recipe_for
from torchref.train import evaluate, final_metrics, fit


def digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generated uint8 digit-like images (N, 28, 28): class c lights a bar at rows 2c+2..2c+4, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    img = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(y):
        img[i, 2 + 2 * c : 5 + 2 * c, 4:24] = 255
    return img, y.astype(np.int64)


def make_idx_dir(path: Path, n_train: int = 200, n_test: int = 100) -> Path:
    """A tiny MNIST-layout directory of generated digits."""
    path.mkdir(parents=True, exist_ok=True)
    for split, n, seed, (img_name, lab_name) in (
        ("train", n_train, 1, ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")),
        ("test", n_test, 2, ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")),
    ):
        x, y = digits(n, seed)
        write_idx(path / img_name, x)
        write_idx(path / lab_name, y.astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def small_uint8():
    """A few hundred real MNIST images when MNIST_DIR is set, else generated ones (uint8, labels)."""
    if os.environ.get("MNIST_DIR"):
        x, y = load_mnist(os.environ["MNIST_DIR"], "train", download=False)
        return x[:400], y[:400]
    return digits(400)


# ---------------------------------------------------------------------------------------------
# data on the device, batches


@pytest.mark.parametrize("normalization", ["unit", "mnist", "half"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_device_data_is_bit_identical_to_scratchnet_normalize(small_uint8, normalization, dtype):
    x, y = small_uint8
    ours = to_device(x, y, "cpu", normalization=normalization, dtype=dtype)
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    expected = normalize(x, normalization, dtype=np_dtype)
    np.testing.assert_array_equal(ours.x.numpy(), expected)
    np.testing.assert_array_equal(ours.y.numpy(), y)
    assert ours.x.dtype == dtype and ours.y.dtype == torch.int64


def test_to_device_refuses_float_images():
    with pytest.raises(TypeError, match="expected uint8 images"):
        to_device(np.zeros((2, 28, 28), np.float32), np.zeros(2, np.int64))


@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_indices_are_scratchnets(drop_last):
    loader = DataLoader(np.zeros((103, 1)), np.zeros(103), batch_size=10, shuffle=True, seed=7, drop_last=drop_last)
    for epoch in range(3):
        ours = batch_indices(103, epoch, 10, seed=7, drop_last=drop_last)
        theirs = loader.batch_indices(epoch)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)


def test_fit_sees_scratchnets_batches_and_trains_like_it(small_uint8):
    """Same initial weights, same seed, plain SGD, no dropout, float64: torchref.fit and scratchnet's fit give
    the same per-epoch losses and final weights, which only happens when every batch is the same."""
    x, y = small_uint8[0][:200], small_uint8[1][:200]
    ours = models.build_model("ffn", dtype=np.float64, rng=5, dropout=0.0)
    twin = torchref.from_scratch(ours, torchref.FFN(dropout=0.0))
    wrong_order = torchref.from_scratch(ours, torchref.FFN(dropout=0.0))
    h_scratch = scratch_fit(ours, optim.SGD(list(ours.parameters()), lr=0.1), (normalize(x, "unit", dtype=np.float64), y),
                            epochs=2, batch_size=32, seed=3, progress=False).to_dict()
    data = to_device(x, y, "cpu", dtype=torch.float64)
    h_torch = fit(twin, torch.optim.SGD(twin.parameters(), lr=0.1), data, epochs=2, batch_size=32, seed=3, progress=False).to_dict()
    for a, b in zip(h_scratch["epochs"], h_torch["epochs"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-10)
        assert b["train_accuracy"] == a["train_accuracy"]
    for name, value in twin.state_dict().items():
        np.testing.assert_allclose(value.numpy(), ours.state_dict()[name], rtol=1e-9, atol=1e-12,
                                   err_msg=f"scratchnet vs torch: {name}")
    # the control: another seed means other batches and other weights
    fit(wrong_order, torch.optim.SGD(wrong_order.parameters(), lr=0.1), data, epochs=2, batch_size=32, seed=4, progress=False)
    assert not np.allclose(wrong_order.fc1.weight.detach().numpy(), ours.fc1.weight.data, rtol=1e-6)


def test_evaluate_matches_scratchnet_for_the_same_weights(small_uint8):
    x, y = small_uint8
    ours = models.build_model("seedcnn", dtype=np.float64, rng=2)
    twin = torchref.from_scratch(ours, torchref.SeedCNN())
    a = scratch_evaluate(ours, normalize(x, "mnist", dtype=np.float64), y, batch_size=128)
    b = evaluate(twin, to_device(x, y, "cpu", normalization="mnist", dtype=torch.float64), batch_size=128)
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-12)
    np.testing.assert_array_equal(b["predictions"], a["predictions"])
    assert b["accuracy"] == a["accuracy"]


# ---------------------------------------------------------------------------------------------
# training and its history


SCRATCH_EPOCH_KEYS = {"epoch", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "time_s", "images_per_s"}


def test_fast_path_trains_and_history_has_scratchnets_keys(small_uint8, tmp_path):
    x, y = small_uint8
    train, test = to_device(x[:300], y[:300]), to_device(x[300:], y[300:])
    model = make_model("seedcnn", seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    hist = fit(model, opt, train, epochs=3, batch_size=30, test_data=test, history_path=tmp_path / "h.json", progress=False).to_dict()
    hist["final_test"] = final_metrics(model, test)
    losses = [e["train_loss"] for e in hist["epochs"]]
    assert losses[-1] < 0.5 * losses[0], losses

    # scratchnet's keys, read off a real scratchnet history of the same shape
    sm = models.build_model("ffn", rng=0)
    ref = scratch_fit(sm, optim.Adam(list(sm.parameters()), lr=1e-3), (normalize(x[:60], "unit"), y[:60]), epochs=1,
                      batch_size=60, test_data=(normalize(x[300:], "unit"), y[300:]), progress=False).to_dict()
    assert set(ref) <= set(hist), set(ref) - set(hist)
    assert set(ref["config"]) <= set(hist["config"])
    assert set(ref["environment"]) <= set(hist["environment"])
    assert SCRATCH_EPOCH_KEYS <= set(ref["epochs"][0]) <= set(hist["epochs"][0])
    assert {"torch", "device", "device_name", "cuda_version", "cudnn_version", "torchvision"} <= set(hist["environment"])
    assert hist["status"] == "finished" and hist["config"]["dtype"] == "float32"
    report = hist["final_test"]
    assert np.array(report["confusion_matrix"]).sum() == 100 and {"macro_precision", "macro_recall", "macro_f1"} <= set(report)
    on_disk = json.loads((tmp_path / "h.json").read_text())
    assert on_disk["status"] == "finished" and len(on_disk["epochs"]) == 3


def test_seeded_cpu_runs_repeat_exactly(small_uint8):
    x, y = small_uint8
    data = to_device(x[:200], y[:200])
    results = []
    for _ in range(2):
        model = make_model("ffn", seed=11)  # dropout on: its masks come from the seeded torch generator too
        opt, _ = build_optimizer(recipe_for("ffn"), model)
        h = fit(model, opt, data, epochs=2, batch_size=50, seed=11, deterministic=True, progress=False).to_dict()
        results.append(([e["train_loss"] for e in h["epochs"]], model.fc3.weight.detach().clone()))
    assert results[0][0] == results[1][0]
    assert torch.equal(results[0][1], results[1][1])
    assert h["nondeterminism"]["reproducible"] and h["nondeterminism"]["deterministic_algorithms"]
    assert not torch.are_deterministic_algorithms_enabled()  # restored after fit


def test_gpu_only_flags_are_ignored_on_cpu_with_a_note(small_uint8):
    x, y = small_uint8
    model = make_model("ffn", seed=0)
    h = fit(model, torch.optim.SGD(model.parameters(), lr=0.01), to_device(x[:60], y[:60]), epochs=1, batch_size=30,
            bf16=True, channels_last=True, progress=False).to_dict()
    assert h["config"]["bf16"] is False and h["config"]["channels_last"] is False
    assert any("--bf16 ignored on cpu" in n for n in h["notes"])
    assert any("--channels-last ignored on cpu" in n for n in h["notes"])


def test_non_finite_loss_stops_with_the_epoch_named(small_uint8, tmp_path):
    x, y = small_uint8
    model = make_model("ffn", seed=0)
    with torch.no_grad():
        model.fc3.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="epoch 1"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.01), to_device(x[:60], y[:60]), epochs=2, batch_size=30,
            history_path=tmp_path / "h.json", progress=False)
    assert json.loads((tmp_path / "h.json").read_text())["status"] == "diverged"


# ---------------------------------------------------------------------------------------------
# checkpoints


def test_state_dict_file_round_trips_with_weights_only(tmp_path):
    model = make_model("seedcnn", seed=1)
    path = save_state_dict(tmp_path / "m.pt", model)
    state = torch.load(path, weights_only=True)
    assert list(state) == list(model.state_dict())
    other = load_state_dict(path, make_model("seedcnn", seed=2))
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    assert not list(tmp_path.glob(".*.part"))  # the atomic write left no temp file
    with pytest.raises(CheckpointError, match="m.pt"):
        load_state_dict(path, make_model("ffn"))


def test_resumed_run_reaches_the_uninterrupted_weights(small_uint8, tmp_path):
    x, y = small_uint8
    data = to_device(x[:150], y[:150])

    def run(epochs, resume):
        model = make_model("ffn", seed=3)
        opt, _ = build_optimizer(recipe_for("ffn"), model)
        fit(model, opt, data, epochs=epochs, batch_size=25, seed=3, checkpoint_path=tmp_path / "ck.pt", resume=resume,
            progress=False)
        return model

    full = run(3, resume=False)
    (tmp_path / "ck.pt").unlink()
    run(1, resume=False)
    obj = torch.load(tmp_path / "ck.pt", weights_only=True)  # optimiser state and RNG state load without pickle
    assert obj["epoch"] == 1 and "state" in obj["optimizer"]
    resumed = run(3, resume=True)
    for k, v in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k
    info = load_checkpoint(tmp_path / "ck.pt", make_model("ffn"))
    assert info["epoch"] == 3 and len(info["meta"]["history"]["epochs"]) == 3


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "none.pt", make_model("ffn"))
    save_checkpoint(tmp_path / "c.pt", make_model("ffn"), epoch=1)
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_checkpoint(tmp_path / "c.pt", make_model("ffn"), torch.optim.SGD(make_model("ffn").parameters(), lr=0.1))


# ---------------------------------------------------------------------------------------------
# devices and determinism records


def test_device_defaults_to_cpu_without_cuda_and_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(None) == torch.device("cpu")
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="--device cuda: CUDA is not available"):
        select_device("cuda")
    with pytest.raises(DeviceError, match="expected cpu, cuda"):
        select_device("tpu")


def test_device_prefers_cuda_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device(None) == torch.device("cuda")


def test_determinism_record_lists_the_gpu_kernels_that_may_vary(monkeypatch):
    cuda = torch.device("cuda")  # only the record is computed; nothing runs on a GPU
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    rec = determinism_record(torchref.SeedCNN(), cuda)
    assert not rec["reproducible"]
    kernels = " | ".join(rec["nondeterministic_kernels"])
    assert "cudnn.benchmark" in kernels and "cuBLAS" in kernels
    assert "max_pool2d" not in kernels  # torch's CUDA max-pool backward has no atomics
    full = determinism_record(torchref.build_resnet18("full", weights="none"), cuda, compiled=True)
    assert any("adaptive_avg_pool2d" in k for k in full["nondeterministic_kernels"])
    assert any("torch.compile" in k for k in full["nondeterministic_kernels"])
    probe = determinism_record(torchref.build_resnet18("linear-probe", weights="none"), cuda)
    assert not any("adaptive_avg_pool2d" in k for k in probe["nondeterministic_kernels"])  # no gradient reaches it
    det = determinism_record(torchref.build_resnet18("full", weights="none", deterministic=True), cuda)
    assert not any("adaptive_avg_pool2d" in k for k in det["nondeterministic_kernels"])
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    assert determinism_record(torchref.FFN(), cuda)["nondeterministic_kernels"] == []
    assert determinism_record(torchref.SeedCNN(), torch.device("cpu"))["reproducible"]


def test_deterministic_resnet_pool_is_the_same_function():
    torch.manual_seed(0)
    a = torchref.build_resnet18("full", weights="none").eval()
    b = torchref.build_resnet18("full", weights="none", deterministic=True).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), rtol=1e-6, atol=1e-6)
