"""Peak resident memory: SeedCNN training on the full MNIST arrays stays far under 2 GB, and evaluating the
test set under no_grad (ExamplesNet, resnet18) stays a few hundred MB above the process baseline."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

LIMIT_MB = 2048


@pytest.mark.full_data
@pytest.mark.skipif(not os.environ.get("MNIST_DIR"), reason="needs the full MNIST data set (set MNIST_DIR)")
def test_seedcnn_training_on_full_mnist_arrays_peaks_under_2_gb(tmp_path):
    # Loads and normalises all 60,000 + 10,000 images, trains on 3,000 of them (the per-step memory is the
    # same for every batch, so a full epoch peaks at the same place), evaluates on the full test set.
    code = (
        "import resource, sys\n"
        "from scratchnet.recipes import main\n"
        f"rc = main(['--model', 'seedcnn', '--epochs', '1', '--subset', '3000', '--out', {str(tmp_path)!r}, '--no-progress'])\n"
        "print('PEAK_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    peak = float(proc.stdout.split("PEAK_MB")[1].split()[0])
    assert peak < LIMIT_MB, f"peak resident memory {peak:.0f} MB"
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 < LIMIT_MB


# Measured on the 2-core machine (batches of 1000, float32): ExamplesNet ~280 MB and resnet18 ~175 MB above
# the baseline under no_grad; without it the last batch's caches stay alive (~505 MB and ~1,300 MB).
NO_GRAD_LIMIT_MB = 400

_EVAL_CODE = """
import resource, sys
import numpy as np
import scratchnet
from scratchnet import models
from scratchnet.data import load_mnist_split, normalize
name, data_dir = sys.argv[1], sys.argv[2]
split = load_mnist_split(data_dir, "test", download=False)
x, y = normalize(split.images), split.labels
model = models.ExamplesNet(rng=0) if name == "examplesnet" else models.resnet18(num_classes=10, in_channels=1, rng=0)
model.eval()
model(x[:2]); model.backward(np.zeros((2, 10), np.float32))  # compile every kernel, then drop the caches
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
correct = 0
with scratchnet.no_grad():
    for i in range(0, len(x), 1000):
        correct += int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("BASE_MB", base, "PEAK_MB", peak, "IMAGES", len(x))
"""


@pytest.mark.slow
@pytest.mark.full_data
@pytest.mark.skipif(not os.environ.get("MNIST_DIR"), reason="needs the full MNIST data set (set MNIST_DIR)")
@pytest.mark.parametrize("name", ["examplesnet", "resnet18"])
def test_evaluating_the_test_set_under_no_grad_stays_a_few_hundred_mb_above_the_baseline(name):
    """All 10,000 test images in batches of 1000 under scratchnet.no_grad(), in a fresh interpreter: the peak
    resident memory (ru_maxrss) rises at most NO_GRAD_LIMIT_MB above the process after loading data and model."""
    proc = subprocess.run([sys.executable, "-c", _EVAL_CODE, name, os.environ["MNIST_DIR"]], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    fields = proc.stdout.split()
    base, peak = float(fields[fields.index("BASE_MB") + 1]), float(fields[fields.index("PEAK_MB") + 1])
    assert fields[fields.index("IMAGES") + 1] == "10000"
    assert peak - base < NO_GRAD_LIMIT_MB, f"{name}: peak {peak:.0f} MB, {peak - base:.0f} MB above the baseline {base:.0f} MB"
