"""``sweeper doctor``: one table of live checks with a verdict per line; exit status = problems found."""

from __future__ import annotations

from typing import Annotated

import typer

from tasks.cli_output import Column, fitted_table, out_console, print_json

MAX_EXIT = 100
"""Exit statuses stop at this (a shell keeps only 0..255)."""


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Check node, broker, database, providers, keys, wallets, workers, beat and callback URL, live."""
    from tasks.cli import settings_or_exit
    from tasks.doctor import Verdict, problems, run_checks  # the checks' adapters load only when used

    settings = settings_or_exit()
    checks = run_checks(settings)
    found = problems(checks)
    if as_json:
        print_json({"healthy": found == 0, "problems": found, "checks": [c.as_json() for c in checks]})
    else:
        columns = (Column("area"), Column("check", drop=1), Column("verdict"), Column("detail", wrap=True))
        rows = [
            [c.area, c.item, c.verdict.value, c.detail + (f" → fix: {c.fix}" if c.fix else "")]
            for c in checks
        ]
        out = out_console()
        out.print(fitted_table("sweeper doctor", columns, rows, out.width), highlight=False)
        if found:
            names = ", ".join(f"{c.area} {c.item}" for c in checks if c.verdict is Verdict.PROBLEM)
            out.print(f"[bold red]{found} problem(s):[/] {names}", highlight=False, soft_wrap=True)
        else:
            out.print("[green]healthy[/]: every check passed", highlight=False)
    raise typer.Exit(min(found, MAX_EXIT))


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the ``sweeper`` command line."""
    app.command("doctor")(doctor)
