"""Fixtures and data generators shared by the tests."""

import os
import urllib.error

import numpy as np
import pytest

from scratchnet.data import write_idx


def _resnet():
    """torchref.resnet, imported when a fixture needs it (collecting the other tests needs no torch)."""
    import torchref.resnet as resnet_mod

    return resnet_mod


def make_digit_idx(root, n_train: int = 2000, n_test: int = 500, seed: int = 0):
    """MNIST-format IDX files of easy synthetic digits (class c = a bright bar at rows 2+2c): learnable fast."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, size=n)
        img = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            img[i, 2 + 2 * c : 5 + 2 * c, 4:24] = 255
        write_idx(root / f"{split}-images-idx3-ubyte", img)
        write_idx(root / f"{split}-labels-idx1-ubyte", y.astype(np.uint8))
    return root


@pytest.fixture
def data_dir(tmp_path):
    """The real MNIST when MNIST_DIR is set, else a small generated data set in MNIST's format."""
    if os.environ.get("MNIST_DIR"):
        return os.environ["MNIST_DIR"]
    return str(make_digit_idx(tmp_path / "mnist"))


@pytest.fixture()
def no_network(monkeypatch):
    """Any download attempt fails as it would offline."""
    calls = []

    def fail(url, model_dir, progress):
        calls.append(url)
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr(_resnet(), "_download", fail)
    return calls


@pytest.fixture()
def fake_imagenet_file(tmp_path):
    """A randomly initialised resnet18 state_dict saved like torchvision's file (3-channel conv1, 1000 classes)."""
    import torch

    torch.manual_seed(123)
    path = tmp_path / "weights" / "resnet18-test.pth"
    path.parent.mkdir()
    state = _resnet().resnet18_architecture(num_classes=1000)[0].state_dict()
    torch.save(state, path)
    return path, state


@pytest.fixture
def one_numba_thread():
    """Run the Numba kernels on one thread. Their results are bit-identical for any thread count; on the shared
    2-core machine the hand-offs of ResNet's ~100 small kernels per pass cost many times the work itself."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.fixture
def one_torch_thread():
    """torch on one thread (restored after): its intra-op threads suffer the same waits on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
