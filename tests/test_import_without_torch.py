"""scratchnet never imports torch: checked in a fresh interpreter."""

import subprocess
import sys

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


def test_importing_every_scratchnet_module_never_imports_torch():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TORCH_MODULES []" in proc.stdout
