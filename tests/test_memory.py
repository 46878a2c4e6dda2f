"""Peak resident memory of SeedCNN training on the full MNIST arrays stays far under 2 GB."""

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
        "from scratchnet.train.__main__ import main\n"
        f"rc = main(['--model', 'seedcnn', '--epochs', '1', '--subset', '3000', '--out', {str(tmp_path)!r}, '--no-progress'])\n"
        "print('PEAK_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    peak = float(proc.stdout.split("PEAK_MB")[1].split()[0])
    assert peak < LIMIT_MB, f"peak resident memory {peak:.0f} MB"
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 < LIMIT_MB
