"""The one Markdown table writer: run summaries (``scratchnet.run.summary``), the comparison reports
(``compare.report`` re-exports it) and the walkthroughs all write their tables through it.

It lives here, not in ``compare``, because scratchnet never imports compare (nor torch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def table(head: Sequence[Any], rows: Iterable[Sequence[Any]], *, align: bool = False) -> list[str]:
    """A Markdown table that always renders: the header, the separator, then every row with the header's
    column count (a short row is filled with '-'; a '|' inside a cell is escaped). A row with more cells
    than the header is a bug and raises ValueError. ``align``: pad each column to its widest cell, for a
    table that also reads as plain text (the walkthroughs, which print as they go)."""
    head = [str(h).replace("|", "\\|") for h in head]
    body = []
    for row in rows:
        row = [str(c).replace("|", "\\|") for c in row]
        if len(row) > len(head):
            raise ValueError(f"table row with {len(row)} cells under a header of {len(head)}: {row}")
        body.append(row + ["-"] * (len(head) - len(row)))
    widths = [max(map(len, column)) for column in zip(head, *body)] if align else [0] * len(head)

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|" if align else "|" + "---|" * len(head)
    return [line(head), rule, *map(line, body)]


__all__ = ["table"]
