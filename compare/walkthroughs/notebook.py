"""The walkthroughs as Jupyter notebooks: the ``.ipynb`` files generated from the percent-format scripts by
jupytext (never edited by hand; a test regenerates them and compares), each given the shared first cell.

The setup cell (``SETUP_CELL``) lives here only: a notebook needs it to find or install the project before it
can import anything, a script run by ``python -m compare.walkthroughs`` does not (the project is importable),
so it goes into each notebook when the notebook is built, in front of the script's first code cell.
``python -m compare.walkthroughs notebooks`` regenerates every ``.ipynb`` (and takes a setup cell out of a
script that has one, as a jupytext-paired save writes it back); ``--check`` only says what drifted. jupytext
is needed only here (a ``dev`` and ``notebooks`` dependency), never by the walkthroughs themselves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

#: The GitHub repository the Colab badges and the setup cell install from. A PLACEHOLDER: the project's
#: public address is not known here; set it once, here, and run ``python -m compare.walkthroughs notebooks``.
GITHUB_REPO = "scratchnet-project/scratchnet"
GITHUB_BRANCH = "main"
NOTEBOOKS_IN_REPO = "compare/walkthroughs/notebooks"

SETUP_MARK = "# Setup (the same first cell in every walkthrough)"

SETUP_CELL = f'''{SETUP_MARK}: make `scratchnet` and `compare` importable.
# - In a clone of the repository nothing is installed: the clone's root goes first on sys.path, so the
#   clone's own code runs (if numpy, numba and matplotlib are missing, `pip install -e <root>` installs them).
# - Anywhere else (Colab, a notebook downloaded alone) the project is pip-installed from GitHub:
#   set SCRATCHNET_GIT to your fork or branch if you use one. torch is optional (Colab has it): without
#   it the walkthroughs skip their torch comparisons and say so.
# Figures and the markdown report go to a temporary folder (set WALKTHROUGHS_OUT to choose another);
# nothing is written into the repository. MNIST, where a walkthrough needs it, is read from $MNIST_DIR
# or the project's cache (data/mnist, git-ignored), or downloaded there with SHA-256 checks
# (scratchnet.data.locate_mnist).
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets: harmless here

SCRATCHNET_GIT = "git+https://github.com/{GITHUB_REPO}@{GITHUB_BRANCH}"  # <- your fork, if any

here = Path.cwd().resolve()
root = next((p for p in (here, *here.parents) if (p / "compare" / "walkthroughs" / "notebooks").is_dir()), None)
if root is not None:  # inside a clone: use this clone's code, whatever else is installed
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if not all(importlib.util.find_spec(m) for m in ("numpy", "numba", "matplotlib")):
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "-e", str(root)])
elif importlib.util.find_spec("compare") is None or importlib.util.find_spec("scratchnet") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", f"scratchnet @ {{SCRATCHNET_GIT}}"])
importlib.invalidate_caches()'''

_CELL_RE = re.compile(r"^# %%(.*)$", re.M)


def notebooks_dir() -> Path:
    return Path(__file__).resolve().parent / "notebooks"


def ipynb_path(script: Path) -> Path:
    return script.with_suffix(".ipynb")


def colab_url(script_name: str) -> str:
    """The Colab address of a walkthrough's notebook in ``GITHUB_REPO``."""
    name = Path(script_name).with_suffix(".ipynb").name
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{GITHUB_BRANCH}/{NOTEBOOKS_IN_REPO}/{name}"


def code_cells(script_text: str) -> list[str]:
    """The sources of a percent script's code cells, in order (markdown cells left out)."""
    pieces = _CELL_RE.split(script_text)
    cells = []
    for header, body in zip(pieces[1::2], pieces[2::2]):
        if "[markdown]" not in header:
            cells.append(body.strip("\n"))
    return cells


def without_setup_cell(script_text: str) -> str:
    """The script with its setup cell taken out, if it has one (the first code cell, starting with ``SETUP_MARK``)."""
    cells = list(_CELL_RE.finditer(script_text))
    for i, m in enumerate(cells):
        if "[markdown]" in m.group(1):
            continue
        end = cells[i + 1].start() if i + 1 < len(cells) else len(script_text)
        if script_text[m.end() : end].strip("\n").startswith(SETUP_MARK):
            return script_text[: m.start()] + script_text[end:]
        break
    return script_text


def to_notebook(script: Path):
    """The notebook jupytext makes of ``script`` (an ``nbformat.NotebookNode``, no outputs)."""
    import jupytext
    from nbformat.v4 import new_code_cell

    nb = jupytext.reads(without_setup_cell(script.read_text(encoding="utf-8")), fmt="py:percent")
    first_code = next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"), None)
    if first_code is None:
        raise ValueError(f"{script}: the script has no code cell")
    nb.cells.insert(first_code, new_code_cell(SETUP_CELL))
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    nb.metadata["colab"] = {"provenance": []}
    return nb


def notebook_text(script: Path) -> str:
    import jupytext

    return jupytext.writes(to_notebook(script), fmt="ipynb")


def cell_sources(nb) -> list[tuple[str, str]]:
    """(cell type, source) of every cell: what the drift check compares."""
    return [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"]) for c in nb["cells"]]


def drifted(script: Path) -> str | None:
    """Why ``script``'s committed ``.ipynb`` differs from what jupytext makes of it now, or None."""
    path = ipynb_path(script)
    if not path.is_file():
        return f"{path.name} is missing"
    committed = json.loads(path.read_text(encoding="utf-8"))
    fresh = json.loads(notebook_text(script))
    a, b = cell_sources(committed), cell_sources(fresh)
    if a == b:
        if any(c.get("outputs") for c in committed["cells"]):
            return f"{path.name} carries outputs (commit it without them)"
        return None
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"{path.name}: cell {i} differs from {script.name}'s (regenerate with python -m compare.walkthroughs notebooks)"
    return f"{path.name} has {len(a)} cells, {script.name} makes {len(b)}"


def sync(scripts: list[Path], check_only: bool = False) -> list[str]:
    """Take any setup cell out of each script and regenerate its notebook (or, with ``check_only``, only
    report what is out of date). Returns one line per script changed or out of date."""
    lines = []
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        fixed = without_setup_cell(text)
        if fixed != text:
            lines.append(f"{script.name}: holds a setup cell (the notebook gets it from notebook.SETUP_CELL)")
            if not check_only:
                script.write_text(fixed, encoding="utf-8")
        why = drifted(script)
        if why:
            lines.append(why)
            if not check_only:
                ipynb_path(script).write_text(notebook_text(script), encoding="utf-8")
    return lines


def execute(script: Path, *, timeout: int = 600, cwd: Path | None = None, rerun: bool = False):
    """Execute the notebook made of ``script`` in a fresh kernel (nbclient), as Jupyter's "Run all"
    would; returns the executed notebook. ``rerun``: run every code cell twice in a row, as a reader
    who re-runs a cell does. Raises ``nbclient.exceptions.CellExecutionError`` when a cell raises (with
    ``WALKTHROUGHS_STRICT=1`` in the environment a failed claim raises too)."""
    from nbclient import NotebookClient

    nb = to_notebook(script)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd or script.parent)}}
    )
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
            if rerun and cell.cell_type == "code":
                client.execute_cell(cell, index)
    return nb


def execute_and_save(script: str, out_ipynb: str, rerun: bool = True) -> tuple[str, float, str | None]:
    """Execute ``script``'s notebook and write the executed notebook to ``out_ipynb``; returns (script,
    seconds, error or None). A top-level function so that a process pool can run several at once."""
    import time

    import nbformat

    start = time.perf_counter()
    error = None
    try:
        nb = execute(Path(script), rerun=rerun)
        nbformat.write(nb, out_ipynb)
    except Exception as exc:  # noqa: BLE001 - reported to the caller with the cell's traceback
        error = f"{type(exc).__name__}: {exc}"
    return script, time.perf_counter() - start, error
