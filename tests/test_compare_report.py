"""compare.report, the skeleton every report is written through: tables always render, files are written
atomically and listed, the data is named by its files (never a directory), and no report module writes or
sets up matplotlib around it."""

import re
from pathlib import Path

import numpy as np
import pytest

from compare import provenance
from compare.models import DISPLAY_NAMES
from compare.report import Report, table, texts
from scratchnet.data import write_idx
from tests.test_markdown_tables import table_problems

COMPARE = Path(__file__).resolve().parents[1] / "compare"
REPORT_MODULES = [p for p in [*COMPARE.glob("*.py"), *(COMPARE / "bench").glob("*.py"), *(COMPARE / "robustness").glob("*.py"),
                               COMPARE / "walkthroughs" / "_report.py"]
                  if p.name not in ("report.py", "figures.py")]


def test_a_table_always_has_header_separator_and_the_same_column_count():
    lines = table(["a", "largest |difference|", "c"], [[1, "x|y", 3], [4]])
    assert lines == ["| a | largest \\|difference\\| | c |", "|---|---|---|", "| 1 | x\\|y | 3 |", "| 4 | - | - |"]
    assert table_problems("\n".join(lines) + "\n") == [], "it renders under a real Markdown parser"
    assert table(["only"], []) == ["| only |", "|---|"]
    with pytest.raises(ValueError, match="row with 3 cells under a header of 2"):
        table(["a", "b"], [[1, 2, 3]])


def test_a_report_writes_every_file_atomically_and_lists_them(tmp_path):
    rep = Report(tmp_path / "r", info={"seed": 0})
    rep.csv("t.csv", [{"a": 0.5, "b": "x"}, [1.25, "y"]], ["a", "b"], float_format=".3f")
    rep.json("h.json", {"k": [1, 2]})
    rep.markdown("report.md", ["# T", "", "body"])
    assert (tmp_path / "r" / "t.csv").read_text() == "a,b\n0.500,x\n1.250,y\n"
    assert rep.written == [tmp_path / "r" / n for n in ("t.csv", "h.json", "report.md")]
    assert not list((tmp_path / "r").glob(".*.part")), "no temporary file is left behind"


def test_the_data_is_named_by_file_name_size_and_sha256_not_by_its_directory(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    line, described = Report(tmp_path, info={}).data(tmp_path, 2, quick=True)
    assert [f["file"] for f in described["files"]] == ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 and not f["mnist"] for f in described["files"])
    assert str(tmp_path) not in line and "2 training images from MNIST-format files" in line and "--quick" in line
    assert provenance.data_files(tmp_path / "nowhere") == []


def test_the_display_names_are_the_model_class_names():
    assert DISPLAY_NAMES == {"ffn": "FFN", "seedcnn": "SeedCNN", "examplesnet": "ExamplesNet", "speedcnn": "SpeedCNN"}


@pytest.mark.parametrize("report", ["bench", "ffn_vs_cnn", "finetune", "parity", "replication", "seeds"])
def test_each_reports_fixed_paragraphs_load(report):
    assert texts(report) and all(text for text in texts(report).values())


@pytest.mark.parametrize("path", REPORT_MODULES, ids=lambda p: p.relative_to(COMPARE).as_posix())
def test_no_report_module_writes_files_sets_up_matplotlib_or_spells_a_table_itself(path):
    source = path.read_text()
    for pattern in (r"matplotlib\.use\(", r"\.savefig\(", r"\.write_text\(", r"open\([^)]*['\"]w", r"atomic_write",
                    r"\|---"):
        found = [ln for ln in source.splitlines()  # robustness writes the inputs of its cases, marked so
                 if re.search(pattern, ln) and "clear_refs" not in ln and "# a case's input" not in ln]
        assert not found, f"{path.name}: {found} (write through compare.report / compare.figures)"
