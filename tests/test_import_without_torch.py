"""scratchnet never imports torch: checked in a fresh interpreter."""

import os
import re
import subprocess
import sys
from pathlib import Path

CODE = """
import sys, pkgutil, importlib
import scratchnet
for m in pkgutil.walk_packages(scratchnet.__path__, "scratchnet."):
    if m.name.endswith("__main__"):
        continue
    importlib.import_module(m.name)
bad = sorted(name for name in sys.modules if name == "torch" or name.startswith("torch."))
print("TORCH_MODULES", bad)
sys.exit(1 if bad else 0)
"""


def test_no_scratchnet_source_file_imports_torch():
    root = Path(__file__).resolve().parents[1] / "scratchnet"
    offenders = [str(p.relative_to(root.parent)) for p in root.rglob("*.py")
                 if re.search(r"^\s*(import torch|from torch\b)", p.read_text(), re.M)]
    assert not offenders, f"scratchnet must run without torch; these files import it: {offenders}"


def test_importing_every_scratchnet_module_never_imports_torch():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TORCH_MODULES []" in proc.stdout


RUN_WITHOUT_TORCH = """
import sys, importlib.abc

class NoTorch(importlib.abc.MetaPathFinder):  # as if torch were not installed
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, NoTorch())
import numpy as np
from compare import walkthroughs
from scratchnet import models, optim
from scratchnet.gradcheck import check_module
from scratchnet.nn import Linear
from scratchnet.train import fit

rng = np.random.default_rng(0)
x = rng.random((120, 1, 28, 28), dtype=np.float32)
y = rng.integers(0, 10, 120)
model = models.SeedCNN(rng=0)
hist = fit(model, optim.Adam(model.parameters(), lr=1e-3), (x, y), epochs=1, batch_size=30, progress=False)
assert len(hist.to_dict()["epochs"]) == 1
assert check_module(Linear(4, 3, rng=0, dtype=np.float64), rng.random((2, 4))).max_error < 1e-7
md = walkthroughs.run("linear_softmax", sys.argv[1], echo=False)
assert "torch" not in sys.modules
print("RAN_WITHOUT_TORCH", md.read_text().count("torch is not installed"))
"""


def test_scratchnet_trains_checks_gradients_and_teaches_with_torch_uninstallable(tmp_path):
    proc = subprocess.run([sys.executable, "-c", RUN_WITHOUT_TORCH, str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RAN_WITHOUT_TORCH"))
    assert int(line.split()[1]) >= 1, "the walkthrough says which torch comparisons it skipped"



BLOCK_TORCH = """
import sys, importlib.abc
class NoTorch(importlib.abc.MetaPathFinder):  # as if torch were not installed
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, NoTorch())
"""


def test_without_torch_the_torch_commands_say_how_to_install_it(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TORCH)  # imported at start-up by every interpreter below
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])}
    for module in ("torchref.train", "torchref.kfold", "compare.ffn_vs_cnn", "compare.bench", "compare.seeds"):
        proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120,
                              env=env)
        assert proc.returncode == 2, (module, proc.stderr[-2000:])
        assert proc.stderr.strip().splitlines()[-1].startswith("error: torchref needs PyTorch"), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and "pip install -e '.[torch]'" in proc.stderr
    code = "try:\n    import torchref\nexcept ModuleNotFoundError as err:\n    print('MESSAGE', err)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "MESSAGE torchref needs PyTorch" in proc.stdout, proc.stderr
    walk = subprocess.run([sys.executable, "-m", "compare.walkthroughs", "list"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert walk.returncode == 0, walk.stderr  # the walkthroughs still run without torch
