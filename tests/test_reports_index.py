"""The committed reports hang together: every link and figure in reports/README.md and in each report's
markdown points at a file that exists, and each report opens with its provenance."""

import re
from pathlib import Path

import pytest

REPORTS = Path(__file__).resolve().parents[1] / "reports"
SEED_STUDIES = sorted(p.relative_to(REPORTS).as_posix() for p in (REPORTS / "seeds").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)\)")


def _markdown_files():
    return sorted(p for p in REPORTS.rglob("*.md"))


@pytest.mark.parametrize("md", _markdown_files(), ids=lambda p: str(p.relative_to(REPORTS)))
def test_every_link_in_a_report_points_at_a_file(md):
    missing = [t for t in LINK.findall(md.read_text()) if "://" not in t and not (md.parent / t).exists()]
    assert not missing, f"{md.relative_to(REPORTS)} links to missing files: {missing}"


def test_the_index_shows_one_figure_per_report():
    index = (REPORTS / "README.md").read_text()
    for report in ("ffn_vs_cnn/report.md", "replication/report.md", "finetune/report.md", "parity/report.md",
                   "benchmarks.md", "mnist_cpu/README.md", *SEED_STUDIES):
        assert f"]({report})" in index, report
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", index)
    assert len(figures) >= 6 and len(set(figures)) == len(figures)


WALKTHROUGH_REPORTS = sorted(p.relative_to(REPORTS).as_posix() for p in (REPORTS / "walkthroughs").glob("*.md"))


@pytest.mark.parametrize("report", ["ffn_vs_cnn/report.md", "replication/report.md", "finetune/report.md",
                                    "parity/report.md", "speedrun/report.md", "benchmarks.md", "robustness.md",
                                    *SEED_STUDIES, *WALKTHROUGH_REPORTS])
def test_each_comparison_report_opens_with_its_provenance(report):
    text = (REPORTS / report).read_text()
    head = text[:3000]
    for field in ("- date:", "- command: `python -m compare.", "- git commit:", "- machine:", "- device:",
                  "- versions:"):
        assert field in head, f"{report}: no '{field}' in its provenance"


def _seed_cell(stats: dict) -> str:
    lo, hi = stats["ci95"]
    return f"{stats['mean']:.2f} % ± {stats['std']:.2f} [{lo:.2f}, {hi:.2f}]"


def test_the_readme_results_are_the_committed_runs_numbers():
    import json

    readme = (REPORTS.parent / "README.md").read_text().split("## What it reaches")[1].split("\n## ")[0]
    rows = {line.split("|")[1].strip() + line.split("|")[2].strip(): line for line in readme.splitlines()
            if line.startswith("| `")}
    assert len(rows) == 4
    for study, key in (("ffn", "`FFN`Adam 1e-3, batch 60, 10 epochs, /255"),
                       ("seedcnn", "`SeedCNN`Adam 1e-3, batch 60, 10 epochs, /255"),
                       ("seedcnn_mnist", "`SeedCNN`same, Normalize((0.1307,), (0.3081,))"),
                       ("examplesnet", "`ExamplesNet`the official example: Adadelta 1.0, StepLR(1, 0.7), batch 64, "
                                       "14 epochs")):
        saved = json.loads((REPORTS / "seeds" / f"{study}.json").read_text())
        stats = saved["stats"]
        lo, hi = saved["difference"]["ci95"]
        assert lo <= 0 <= hi, f"{study}: the README says the libraries do not differ, the study says [{lo}, {hi}]"
        assert rows[key].split("|")[3:5] == [f" {_seed_cell(stats['scratchnet'])} ", f" {_seed_cell(stats['torch'])} "], study
    ep20 = json.loads((REPORTS / "seeds" / "seedcnn_ep20.json").read_text())["stats"]["scratchnet"]["mean"]
    assert f"trained for 20 epochs, its mean is still {ep20:.2f} %" in " ".join(readme.split())


def test_the_readme_speedrun_line_is_the_committed_runs_own():
    import json

    readme = " ".join((REPORTS.parent / "README.md").read_text().split())
    libs = json.loads((REPORTS / "speedrun" / "results.json").read_text())["summary"]["libraries"]
    a, t = libs["scratchnet"]["accuracy_pct"], libs["scratchnet"]["train_seconds"]
    ta, tt = libs["torch"]["accuracy_pct"], libs["torch"]["train_seconds"]
    assert (f"reaches {a['mean']:.2f} % ± {a['std']:.2f} [{a['ci95'][0]:.2f}, {a['ci95'][1]:.2f}] over {a['n']} seeds "
            f"in {t['mean']:.1f} s of training per run on 2 cores (torch: {ta['mean']:.2f} %, {tt['mean']:.1f} s)") in readme


#: an absolute path as a report would print it: after a space, quote, backtick, bracket or '=', two segments deep;
#: the kernel's files (/proc, /sys, /dev) are named as what they are, not as a machine's folders
_MACHINE_PATH = re.compile(r"""(?:^|[\s"'`(=])(/(?!proc/|sys/|dev/)[A-Za-z][\w.-]*/[^\s"'`)]*)""")


def test_no_committed_report_names_a_path_of_the_machine_that_ran_it():
    """Data by its files (name, size, SHA-256), commands with DATA_DIR and paths made portable, messages with ~."""
    found = []
    for path in sorted(REPORTS.rglob("*")):
        if path.suffix in (".md", ".json", ".csv", ".txt") and path.is_file():
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                found += [f"{path.relative_to(REPORTS)}:{n}: {m.group(0).strip()}" for m in _MACHINE_PATH.finditer(line)]
    assert not found, "\n".join(found[:20])

