"""What every command's output shares: the version, quiet logs on stderr, JSON, and tables that fit.

Command output goes to stdout and logs to stderr, so ``sweeper status --json | jq`` never sees a log
line. Read commands log warnings only unless ``--verbose``. Tables are sized for the terminal (or
``COLUMNS``); when they would not fit, the least useful columns are dropped and long text wraps.
Piped output is not cut at 80 columns: it is as wide as the content.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config.logging import configure_logging

PIPE_WIDTH = 200
"""Width of output that goes to a pipe or file: wide enough that no table row is cut."""


def version_text() -> str:
    """``sweeper X.Y.Z``, from the installed package's metadata."""
    try:
        return f"sweeper {version('sweeper')}"
    except PackageNotFoundError:
        return "sweeper (not installed)"


def quiet_logging(*, verbose: bool) -> None:
    """Logs to stderr, warnings only unless ``verbose`` (then ``SWEEPER_LOG_LEVEL``, default INFO)."""
    level = os.environ.get("SWEEPER_LOG_LEVEL", "INFO") if verbose else "WARNING"
    fmt = os.environ.get("SWEEPER_LOG_FORMAT", "auto")
    try:
        configure_logging(fmt if fmt in ("auto", "console", "json") else "auto", level)
    except ValueError:  # an invalid level is reported by the settings' own validation
        configure_logging("auto", "WARNING")


def out_console() -> Console:
    """stdout, as wide as the terminal (or COLUMNS); as wide as the content when piped."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=PIPE_WIDTH)


def print_json(document: Any) -> None:
    """One JSON document on stdout (amounts stay integers or exact decimal strings)."""
    typer.echo(json.dumps(document, indent=2, default=str))


@dataclass(frozen=True, slots=True)
class Column:
    """A table column; columns with a higher ``drop`` go first when the table does not fit."""

    name: str
    right: bool = False
    drop: int = 0
    wrap: bool = False


def fitted_table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> Table:
    """A table of ``rows`` that fits ``width``: drop columns by ``drop`` rank, wrap ``wrap`` columns."""
    keep = list(range(len(columns)))

    def needed(indexes: list[int]) -> int:
        total = 4 + 3 * (len(indexes) - 1)  # borders and padding of rich's default box
        for i in indexes:
            cells = [len(columns[i].name), *(len(row[i]) for row in rows)]
            total += min(max(cells), 16) if columns[i].wrap else max(cells)
        return total

    for i in sorted(keep, key=lambda i: -columns[i].drop):
        if needed(keep) <= width or columns[i].drop == 0:
            break
        keep.remove(i)
    table = Table(title=title)
    for i in keep:
        column = columns[i]
        table.add_column(
            column.name,
            justify="right" if column.right else "left",
            overflow="fold",
            no_wrap=not column.wrap,
        )
    for row in rows:
        table.add_row(*(Text(row[i]) for i in keep))  # cells are data, never markup
    return table
