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


@pytest.mark.parametrize("report", ["ffn_vs_cnn/report.md", "replication/report.md", "finetune/report.md",
                                    "parity/report.md", *SEED_STUDIES])
def test_each_comparison_report_opens_with_its_provenance(report):
    text = (REPORTS / report).read_text()
    head = text[:3000]
    for field in ("- date:", "- command: `python -m compare.", "- git commit:", "- machine:", "- device:",
                  "- versions:"):
        assert field in head, f"{report}: no '{field}' in its provenance"
