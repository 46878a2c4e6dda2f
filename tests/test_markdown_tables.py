"""Every table in the committed Markdown (README.md and reports/) renders as a table: parsed by a real
Markdown parser (markdown-it, GFM tables), every line that starts with '|' must belong to a table, and
every row must have the header's number of cells."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "reports").rglob("*.md"))]


def _cells(line: str) -> int:
    """Cells of a table row as written: the pipes that are not escaped, minus the outer ones."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return len(parts) - (parts[0] == "") - (parts[-1] == "")


def table_problems(text: str) -> list[str]:
    """Lines written as table rows that do not render as one, and rows whose cell count differs from the header."""
    lines = text.splitlines()
    covered: set[int] = set()
    problems = []
    for tok in MarkdownIt("commonmark").enable("table").parse(text):
        if tok.type != "table_open":
            continue
        start, end = tok.map
        covered.update(range(start, end))
        header = _cells(lines[start])
        for number in range(start + 2, end):
            if lines[number].strip() and _cells(lines[number]) != header:
                problems.append(f"line {number + 1}: {_cells(lines[number])} cells, the header has {header}")
    in_fence = False
    for number, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("|") and number not in covered:
            problems.append(f"line {number + 1} is written as a table row but does not render as a table: {line[:80]}")
    return problems


def test_the_checker_finds_a_broken_table():
    good = "| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert table_problems(good) == []
    assert table_problems("| a | b |\n| 1 | 2 |\n")  # no separator row: a paragraph, not a table
    assert table_problems("| a | b |\n|---|---|---|\n| 1 | 2 |\n")  # separator of another width
    assert table_problems(good + "| 1 | 2 | 3 |\n")  # a row wider than its header


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_table_renders(path):
    problems = table_problems(path.read_text())
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)
