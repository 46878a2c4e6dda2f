"""The teaching walkthroughs: each runs, writes its markdown and figures, and really checks its claims."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import scratchnet.ops
import scratchnet.optim.adam
from compare import walkthroughs
from compare.walkthroughs import (
    ClaimFailed,
    Report,
    UnknownWalkthrough,
    check_close,
    claim,
    run,
)
from compare.walkthroughs.__main__ import main

NAMES = walkthroughs.names()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _repository_state() -> str:
    """What git sees in the checkout (tracked changes and untracked files, ignored ones included but
    Python's and Numba's caches): a notebook that writes into the repository changes it."""
    root = walkthroughs.NOTEBOOKS.parents[2]
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=root,
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    if proc.returncode != 0:
        return ""
    caches = ("__pycache__", ".nbi", ".nbc", ".pytest_cache", ".hypothesis", ".egg-info")
    return "\n".join(line for line in proc.stdout.splitlines() if not any(c in line for c in caches))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every walkthrough executed as a notebook from a clean kernel (nbclient), two at a time, each code
    cell run twice in a row (a reader re-running a cell), strict (a failed claim is an error) and quick
    (fewer training steps). The notebooks write where a notebook writes by default — a folder under the
    temporary directory, which the kernels see as this test's folder — never into the repository.
    Returns (report folder, executed notebooks by name, seconds per notebook, total seconds)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("jupytext")
    from concurrent.futures import ProcessPoolExecutor

    import nbformat

    from compare.walkthroughs.notebook import execute_and_save

    tmp = tmp_path_factory.mktemp("notebooks")
    before = _repository_state()
    # one thread per kernel: two kernels share the 2 cores, and the arrays are small (as the runner does)
    threads = dict(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    saved = {k: os.environ.get(k) for k in ("WALKTHROUGHS_STRICT", "WALKTHROUGHS_QUICK", "WALKTHROUGHS_OUT", "TMPDIR", *threads)}
    os.environ.update(WALKTHROUGHS_STRICT="1", WALKTHROUGHS_QUICK="1", TMPDIR=str(tmp), **threads)
    os.environ.pop("WALKTHROUGHS_OUT", None)
    start = time.perf_counter()
    try:
        with ProcessPoolExecutor(2) as pool:
            # the longest first (script size as the guess), so that two long ones do not end the run alone
            longest_first = sorted(NAMES, key=lambda n: -walkthroughs.script_path(n).stat().st_size)
            jobs = {
                n: pool.submit(execute_and_save, str(walkthroughs.script_path(n)), str(tmp / f"{n}.ipynb"))
                for n in longest_first
            }
            results = [jobs[n].result() for n in NAMES]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    total = time.perf_counter() - start
    failures = [f"{script}: {error}" for script, _, error in results if error]
    assert not failures, "\n\n".join(failures)
    timings = {name: seconds for name, (_, seconds, _) in zip(NAMES, results)}
    print(f"notebooks executed in {total:.1f} s (two at a time):", {k: f"{v:.1f}s" for k, v in timings.items()})
    notebooks = {n: nbformat.read(tmp / f"{n}.ipynb", as_version=4) for n in NAMES}
    return tmp / "scratchnet-walkthroughs", notebooks, timings, total, before, _repository_state()


@pytest.fixture(scope="module")
def reports(executed):
    """The markdown reports the executed notebooks wrote."""
    return executed[0], executed[2]


def test_there_are_at_least_ten_walkthroughs_each_a_script_and_a_notebook():
    assert len(NAMES) >= 10
    for name in NAMES:
        assert walkthroughs.script_path(name).is_file()
        assert walkthroughs.script_path(name).with_suffix(".ipynb").is_file()


# -- the notebooks ---------------------------------------------------------------------------------


def test_every_notebook_is_what_jupytext_makes_of_its_script():
    pytest.importorskip("jupytext")
    from compare.walkthroughs.notebook import drifted

    problems = [why for name in NAMES if (why := drifted(walkthroughs.script_path(name)))]
    assert not problems, "\n".join(problems) + "\n(run: python -m compare.walkthroughs notebooks)"


def test_every_notebook_starts_with_the_shared_setup_cell_which_no_script_repeats():
    from compare.walkthroughs.notebook import SETUP_CELL, SETUP_MARK, cell_sources, code_cells

    for name in NAMES:
        script = walkthroughs.script_path(name)
        assert not any(c.startswith(SETUP_MARK) for c in code_cells(script.read_text(encoding="utf-8"))), (
            f"{name}: the script holds a setup cell (python -m compare.walkthroughs notebooks takes it out)")
        committed = json.loads(script.with_suffix(".ipynb").read_text(encoding="utf-8"))
        code = [source for kind, source in cell_sources(committed) if kind == "code"]
        assert code[0] == SETUP_CELL, f"{name}: the notebook's first code cell is not the setup cell"


def test_a_setup_cell_written_back_into_a_script_is_not_doubled_and_sync_takes_it_out(tmp_path):
    """A jupytext-paired save writes the notebook's setup cell into the script; the notebook built from that
    script still has exactly one, and ``sync`` takes it out of the script again."""
    pytest.importorskip("jupytext")
    from compare.walkthroughs.notebook import SETUP_CELL, cell_sources, sync, to_notebook

    body = "# %% [markdown]\n# # A title\n\n# %%\nx = 1\n\n# %%\nprint(x)\n"
    paired = body.replace("# %%\nx = 1", "# %%\n" + SETUP_CELL + "\n\n# %%\nx = 1")
    script = tmp_path / "99_example.py"
    for text in (body, paired):
        script.write_text(text, encoding="utf-8")
        code = [src for kind, src in cell_sources(to_notebook(script)) if kind == "code"]
        assert code == [SETUP_CELL, "x = 1", "print(x)"]
    assert sync([script]) == ["99_example.py: holds a setup cell (the notebook gets it from notebook.SETUP_CELL)",
                              "99_example.ipynb is missing"]
    assert script.read_text(encoding="utf-8") == body and sync([script], check_only=True) == []


def test_every_notebook_runs_from_a_clean_kernel_and_each_cell_can_be_rerun(executed):
    _, notebooks, timings, total, _, _ = executed
    for name, nb in notebooks.items():
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        assert images, f"{name}: no inline figure"
        plain = " ".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
        assert "<Figure size" not in plain, f"{name}: a figure shows as its repr"
        results = [str(o["data"].get("text/plain"))[:80] for o in outputs if o.output_type == "execute_result"]
        assert not results, f"{name}: cells end in an expression whose repr is shown: {results}"
        stderr = [o.text[:200] for o in outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"{name}: warnings or errors on stderr: {stderr}"
        markdown = [str(o["data"]["text/markdown"]) for o in outputs if "text/markdown" in o.get("data", {})]
        assert any(m.startswith("## ") for m in markdown), f"{name}: the prose is not displayed as Markdown"
        if "report.math(" in walkthroughs.script_path(name).read_text(encoding="utf-8"):
            assert any("$$" in m for m in markdown), f"{name}: its equations are not LaTeX in Markdown"
    print(f"CI time on notebooks: {total:.1f} s for {len(notebooks)}")
    assert total < 240, f"executing the notebooks took {total:.0f} s"


def test_opening_a_notebook_writes_nothing_into_the_repository(executed):
    out, _, _, _, before, after = executed
    assert before == after, f"the notebooks changed the checkout:\n{after}"
    for name in NAMES:
        assert (out / f"{name}.md").is_file(), f"{name}: the notebook did not write its report to the temporary folder"


def test_in_a_notebook_a_failed_claim_is_a_warning_with_its_numbers_and_the_run_goes_on(tmp_path, monkeypatch):
    pytest.importorskip("nbclient")
    from nbclient import NotebookClient
    import nbformat

    monkeypatch.delenv("WALKTHROUGHS_STRICT", raising=False)
    monkeypatch.setenv("WALKTHROUGHS_OUT", str(tmp_path))
    cells = [
        "from compare.walkthroughs import Report\nreport = Report('demo', 'A demo')",
        "report.check_close('dW', [1.0, 2.0], [1.0, 2.5], 1e-12, ('by hand', 'ops'))\nreport.claim(1 > 2, 'one exceeds two', '1 vs 2')",
        "after = 'still running'\nprint(after)",
        "path = report.finish()\nprint(open(path).read())",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", "")) for c in nb.cells for o in c.outputs
    )
    assert "claim FAILED" in text and "dW: by hand vs ops disagree" in text and "2.5" in text  # the numbers
    assert "ClaimWarning" in text  # a visible warning (stderr), not only a line of Markdown
    assert "still running" in text
    assert "2 claims FAILED" in (tmp_path / "demo.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_each_walkthrough_writes_markdown_with_existing_relative_figures(reports, name):
    out, _ = reports
    md = out / f"{name}.md"
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# ")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links, f"{name}.md has no figure"
    for link in links:
        assert not os.path.isabs(link) and "/" not in link, f"{name}.md: figure link {link!r} is not relative"
        png = out / link
        assert png.is_file(), f"{name}.md links {link}, which was not written"
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        assert png.stat().st_size > 5000
    assert not list(out.glob(".*.tmp")), "temporary files were left behind"


@pytest.mark.parametrize("name", NAMES)
def test_each_walkthrough_checks_its_claims_as_it_runs(reports, name):
    text = (reports[0] / f"{name}.md").read_text(encoding="utf-8")
    inline = text.count("- check ✓")
    assert inline >= 3, f"{name}: only {inline} checks in the lesson itself"
    summary = re.search(r"(\d+) checks ran and held", text)
    assert summary and int(summary.group(1)) >= max(inline, 9), f"{name}: too few checks"
    appendix = text.split("## Appendix: every check", 1)[1]
    rows = [line for line in appendix.splitlines() if line.startswith("| ")][1:]  # the header left out
    skipped = [row for row in rows if re.search(r"\|\s*skipped\s*\|", row)]  # e.g. the MNIST part without MNIST
    assert len(rows) - len(skipped) == int(summary.group(1)), "the appendix table lists every check"
    said = re.search(r"checks ran and held; (\d+) skipped", text)
    assert len(skipped) == (int(said.group(1)) if said else 0), "the appendix lists every skipped part too"
    assert "FAILED" not in text


def test_walkthroughs_compare_with_torch_when_it_is_installed(reports):
    pytest.importorskip("torch")
    for name in NAMES:
        text = (reports[0] / f"{name}.md").read_text(encoding="utf-8")
        assert "torch" in text and not re.search(r"\*skipped:\*[^\n]*torch", text), name


def test_seedcnn_step_uses_the_real_digit_when_mnist_is_found(reports):
    from scratchnet.data import locate_mnist

    try:
        locate_mnist(split="test", download=False)
    except (OSError, ValueError):
        pytest.skip("MNIST is not available here (set MNIST_DIR)")
    text = (reports[0] / "seedcnn_step.md").read_text(encoding="utf-8")
    assert "the real MNIST test image #0" in text
    assert "generated" not in text


def test_seedcnn_step_falls_back_to_a_generated_digit_and_says_so(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "no-mnist-here"
    empty.mkdir()
    monkeypatch.setenv("MNIST_DIR", str(empty))
    path = run("seedcnn_step", tmp_path, use_torch=False)
    text = path.read_text(encoding="utf-8")
    assert "MNIST was not found, so this run uses a generated digit-like image" in text
    assert "MNIST was not found" in capsys.readouterr().out  # said on stdout too
    assert "one Adam step lowered the loss on this digit" in text


def test_without_mnist_the_training_walkthroughs_use_a_stand_in_and_say_so(tmp_path, monkeypatch):
    empty = tmp_path / "no-mnist-here"
    empty.mkdir()
    monkeypatch.setenv("MNIST_DIR", str(empty))
    monkeypatch.setenv("WALKTHROUGHS_QUICK", "1")
    text = run("training_mnist", tmp_path, use_torch=False, echo=False).read_text(encoding="utf-8")
    assert "MNIST was not found" in text and "synthetic stand-in" in text
    text = run("mlp_by_hand", tmp_path, use_torch=False, echo=False).read_text(encoding="utf-8")
    assert "*skipped:* the MNIST part: MNIST was not found" in text


def test_without_torch_a_walkthrough_still_runs_and_says_what_it_skipped(tmp_path, capsys):
    path = run("linear_softmax", tmp_path, use_torch=False)
    text = path.read_text(encoding="utf-8")
    assert "*skipped:* torch autograd comparison" in text
    out = capsys.readouterr().out
    assert "Linear + softmax cross-entropy" in out and "check ✓ dW: by hand = scratchnet.ops" in out


# -- claims really are checked: break the library and the walkthrough must fail loudly ------------


def test_a_wrong_linear_gradient_makes_linear_softmax_fail_loudly(tmp_path, monkeypatch):
    correct = scratchnet.ops.linear_backward

    def slightly_wrong(dout, cache):
        dx, dw, db = correct(dout, cache)
        return dx, dw * 1.001, db  # 0.1% off: the kind of bug a print statement would never show

    monkeypatch.setattr(scratchnet.ops, "linear_backward", slightly_wrong)
    with pytest.raises(AssertionError, match=r"dW: by hand vs scratchnet\.ops disagree.*worst at index"):
        run("linear_softmax", tmp_path, echo=False)
    assert not (tmp_path / "linear_softmax.md").exists(), "a failed walkthrough must not leave a report"


def test_max_pool_backward_that_spreads_the_gradient_makes_pooling_fail(tmp_path, monkeypatch):
    def average_pool_backward(dout, cache):  # a plausible bug: treat max-pooling like average-pooling
        _, x_shape = cache
        return np.repeat(np.repeat(dout, 2, axis=2), 2, axis=3)[:, :, : x_shape[2], : x_shape[3]] / 4

    monkeypatch.setattr(scratchnet.ops, "maxpool2d_backward", average_pool_backward)
    with pytest.raises(ClaimFailed, match="max-pool dx"):
        run("pooling_relu_dropout", tmp_path, echo=False)
    assert not (tmp_path / "pooling_relu_dropout.md").exists()


def test_an_adam_bug_that_only_shows_at_step_two_is_caught(tmp_path, monkeypatch):
    def no_decay_update(p, g, m, v, vmax, amsgrad, negate, wd, w, one_minus_w, beta2, one_minus_beta2, bc2_sqrt, eps,
                        step_size):  # m <- m + (1 - beta1) g: right at step 1 (m = 0), wrong after
        m += w * g
        v *= beta2
        v += one_minus_beta2 * g * g
        p -= (step_size * m) / (np.sqrt(v) / bc2_sqrt + eps)

    monkeypatch.setattr(scratchnet.kernels, "adam_update", no_decay_update)
    with pytest.raises(ClaimFailed, match=r"Adam: θ after each step: by hand vs scratchnet\.optim.*index \([12],\)"):
        run("optimizers", tmp_path, echo=False, use_torch=False)


# -- the helpers -----------------------------------------------------------------------------------


def test_claim_and_check_close_raise_clear_assertion_errors():
    claim(True, "fine")
    with pytest.raises(AssertionError, match="walkthrough claim failed: the loss went down"):
        claim(False, "the loss went down")
    assert check_close("dW", [1.0, 2.0], [1.0, 2.0 + 1e-13], 1e-12) < 1e-12
    with pytest.raises(ClaimFailed) as info:
        check_close("dW", np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.1]]), 1e-6, ("ours", "torch"))
    message = str(info.value)
    assert "dW: ours vs torch disagree" in message and "index (1, 1)" in message and "4.1" in message
    with pytest.raises(ClaimFailed, match="shapes differ"):
        check_close("x", np.zeros(3), np.zeros(4), 1.0)
    with pytest.raises(ClaimFailed, match="NaNs at different places"):
        check_close("x", [np.nan, 1.0], [0.0, 1.0], 1.0)


def test_report_writes_its_markdown_only_when_finished(tmp_path):
    report = Report("demo", "A demo", out_dir=tmp_path)
    report.echo = False
    report.text("Some prose.")
    report.table(["a", "b|c"], [[1.5, "x|y"]])
    report.check_close("v", [1.0], [1.0], 1e-12, ("left", "right"))
    assert not (tmp_path / "demo.md").exists()
    path = report.finish()
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "demo.md" and text.startswith("# A demo")
    assert "b\\|c" in text and "x\\|y" in text  # pipes inside cells do not break the table
    assert "1 checks ran and held" in text
    assert "| 1.5000 | x\\|y |" in text and "|--------|------|" in text  # columns padded: it also reads as printed
    assert [p.name for p in tmp_path.iterdir()] == ["demo.md"]


def test_report_opens_with_the_provenance_header_even_without_torch_or_git(tmp_path, monkeypatch):
    """A notebook downloaded alone (Colab) has no git checkout, maybe no torch: the header says so, and the
    walkthrough runs on; a run told not to use torch does not import it for the header either."""
    from compare.walkthroughs import _report

    monkeypatch.setattr(_report.provenance, "git_commit", lambda: "unknown")
    with _report.using(use_torch=False, echo=False):
        report = Report("demo", "A demo", out_dir=tmp_path)
        report.figure(__import__("matplotlib.figure").figure.Figure(figsize=(1, 1)), "blank", "nothing")
    text = report.finish().read_text(encoding="utf-8")
    header = text.split("\n\n*Written by")[0].splitlines()
    assert header[0] == "# A demo" and header[1] == ""
    assert "- git commit: `unknown`" in header and any("torch not used" in line for line in header)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.md", "demo_blank.png"]  # no temp file left


# -- the command line --------------------------------------------------------------------------------


def test_list_prints_every_name(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out


def test_an_unknown_name_is_a_clear_error_that_lists_the_names(capsys):
    assert main(["linear_softmx"]) == 2
    err = capsys.readouterr().err
    assert "unknown walkthrough 'linear_softmx'" in err
    for name in NAMES:
        assert name in err
    with pytest.raises(UnknownWalkthrough, match="expected one of: chain_rule, linear_softmax"):
        run("nope")


def test_the_module_runs_from_the_command_line_without_importing_torch():
    code = (
        "import sys, runpy; sys.argv = ['x', 'list']\n"
        "try:\n    runpy.run_module('compare.walkthroughs', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "import compare.walkthroughs._report\n"
        "assert 'torch' not in sys.modules, 'importing the walkthroughs imported torch'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "vanishing_exploding" in proc.stdout


def test_the_readme_opens_every_notebook_in_colab_from_the_one_repository_constant():
    from compare.walkthroughs.notebook import GITHUB_REPO, colab_url

    readme = (walkthroughs.NOTEBOOKS.parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Teaching walkthroughs", 1)[1].split("\n## ", 1)[0]
    for name in NAMES:
        script = walkthroughs.script_path(name)
        assert colab_url(script.name) in section, f"README: no Colab link for {name}"
        assert f"`{name}`" in section
    assert GITHUB_REPO in section and "placeholder" in section.lower()
    links = re.findall(r"colab\.research\.google\.com/github/([^/]+/[^/]+)/", section)
    assert links and set(links) == {GITHUB_REPO}
    order = [section.index(f"`{name}`") for name in NAMES]
    assert order == sorted(order), "the README's course path follows python -m compare.walkthroughs list"


def test_the_setup_cell_makes_the_enclosing_clone_importable_without_installing_anything():
    from compare.walkthroughs.notebook import SETUP_CELL

    root = walkthroughs.NOTEBOOKS.parents[2]
    code = SETUP_CELL + "\nimport compare.walkthroughs, scratchnet\nprint(compare.walkthroughs.__file__)\nprint(scratchnet.__file__)\n"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=walkthroughs.NOTEBOOKS, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = proc.stdout.split()
    assert all(f.startswith(str(root)) for f in files), f"imported {files}, not the clone at {root}"
    assert "pip" not in proc.stderr


def test_the_command_line_writes_to_runs_unless_asked_for_the_committed_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["chain_rule", "--quiet"]) == 0
    assert (tmp_path / "runs" / "walkthroughs" / "chain_rule.md").is_file()
    assert main(["chain_rule", "--quiet", "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "chain_rule_graph.png").is_file()
    assert "runs/walkthroughs" in capsys.readouterr().out
