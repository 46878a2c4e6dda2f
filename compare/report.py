"""The skeleton every report is written through: the provenance header, Markdown tables that always
render, atomic writes of .md / .csv / .json / figures, and the list of files the command prints at the end."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet.fileio import atomic_write, atomic_write_text
from scratchnet.run.markdown import table  # the one table writer (scratchnet never imports compare)

from . import figures, provenance

TEXTS = Path(__file__).resolve().parent / "texts"
#: the committed reports, in a checkout of the repository (absent from an installed copy)
COMMITTED = Path(__file__).resolve().parents[1] / "reports"

#: what a --quick report says after its data line
QUICK_NOTE = " (**--quick: a subset, one epoch; not comparable with the published numbers**)"


def texts(report: str) -> dict[str, str]:
    """The fixed paragraphs of a report, kept out of its code in ``compare/texts/<report>.md``: blocks each
    headed by a line ``<!-- name -->``; returns name -> the block's text, stripped (``{fields}`` in it are
    filled by the report with ``str.format``)."""
    blocks = re.split(r"^<!-- (\w+) -->\n", (TEXTS / f"{report}.md").read_text(), flags=re.M)
    return {name: text.strip() for name, text in zip(blocks[1::2], blocks[2::2])}


def pct(fraction: float) -> str:
    """0.98765 -> '98.77%'."""
    return f"{100 * fraction:.2f}%"


def data_line(described: dict[str, Any], quick: bool = False) -> str:
    """The markdown line of data described by ``Report.data`` (also from a saved JSON, to re-render a report)."""
    n_test = described.get("n_test")
    what = f"{described['n_train']:,} training" + ("" if n_test is None else f" / {n_test:,} test") + " images"
    return provenance.data_markdown(described["files"], what, QUICK_NOTE if quick else "")


def committed_minutes(report: str) -> float | None:
    """How long the committed full run of ``report`` took (``wall_time_s`` in reports/<report>/history.json), in
    minutes; None where there is no such run (an installed copy, or a report that does not record it)."""
    try:
        return json.loads((COMMITTED / report / "history.json").read_text())["wall_time_s"] / 60
    except (OSError, ValueError, KeyError, TypeError):
        return None


def plan_guide(report: str) -> str:
    """'about N min on 2 CPU cores (the committed run)', from :func:`committed_minutes`, or a sentence saying
    the time is unknown: a plan line states what was measured, never a guess."""
    minutes = committed_minutes(report)
    if minutes is None:
        return "its time on this machine is not known yet"
    return f"the committed full run took {minutes:.0f} min on 2 CPU cores"


class Report:
    """One report being written into ``out``: its provenance (``info``), and every file written so far
    (``written``, in order; ``compare.cli.run_report`` prints them)."""

    def __init__(self, out: str | Path, *, seed: int | None = None, device: str = "cpu", threads: int | None = None,
                 info: dict[str, Any] | None = None) -> None:
        self.out = Path(out)
        self.info = provenance.collect(seed, device=device, threads=threads) if info is None else info
        self.written: list[Path] = []

    def header(self, title: str) -> list[str]:
        """The report's first lines: its title and the provenance block."""
        return [f"# {title}", "", provenance.markdown(self.info)]

    def data(self, directory: str | Path, n_train: int, n_test: int | None = None,
             quick: bool = False) -> tuple[str, dict[str, Any]]:
        """The data's description for the JSON (image counts, each file's name, size and SHA-256; never the
        directory, which names one machine) and its provenance line for the markdown."""
        described = {"n_train": n_train, "n_test": n_test, "files": provenance.data_files(directory)}
        return data_line(described, quick), described

    def _wrote(self, path: Path) -> Path:
        self.written.append(path)
        return path

    def text(self, name: str, text: str) -> Path:
        return self._wrote(atomic_write_text(self.out / name, text))

    def markdown(self, name: str, lines: Iterable[str]) -> Path:
        return self.text(name, "\n".join(lines))

    def json(self, name: str, obj: Any, **dumps: Any) -> Path:
        return self.text(name, json.dumps(obj, indent=1, **dumps))

    def csv(self, name: str, rows: Iterable[Mapping[str, Any] | Sequence[Any]], fields: Sequence[str],
            float_format: str | None = None) -> Path:
        """Rows (dicts, keyed by ``fields``; or sequences in ``fields``' order) under a header of ``fields``;
        floats written with ``float_format`` (e.g. ``'.6f'``) when given."""
        def cell(v: Any) -> Any:
            return format(v, float_format) if float_format and isinstance(v, float) else v

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(fields)
        for r in rows:
            w.writerow([cell(r.get(k, "")) for k in fields] if isinstance(r, Mapping) else [cell(v) for v in r])
        return self.text(name, buf.getvalue())

    def npz(self, name: str, arrays: Mapping[str, Any]) -> Path:
        """Named arrays (e.g. a scratchnet state_dict) in one NumPy .npz file."""
        return self._wrote(atomic_write(self.out / name, lambda f: np.savez(f, **arrays)))

    def figure(self, name: str, fig, dpi: int = 100, crop: bool = False) -> Path:
        figures.save(fig, self.out / name, dpi=dpi, crop=crop)
        return self._wrote(self.out / name)

    @staticmethod
    def print_results(lines: Sequence[str], heading: str, t0: float) -> None:
        """Print the table under ``heading`` in a report's ``lines`` on the console, then the job's minutes
        since ``t0`` (``time.perf_counter()``): a long job ends with its results, not only with file names."""
        first = lines.index(heading) + 2
        print("\n".join(["", *lines[first:lines.index("", first)], ""]))
        print(f"done in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)


__all__ = ["QUICK_NOTE", "Report", "committed_minutes", "plan_guide", "data_line", "pct", "table", "texts"]
