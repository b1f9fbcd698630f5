"""``sweeper pause | resume | release``: the operator's brakes on spending, kept in the ledger.

Every worker reads the kill switch before each energy order, so ``pause`` stops all spending at once
(sweeps wait; a sweep that already holds its energy finishes). ``release`` lets detection open sweeps
again for an address quarantined after a failed sweep. ``sweeper status`` shows both and the budgets.
Like ``status``, these need only the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

import typer

from sweeper.chain.addresses import validate
from sweeper.errors import SweeperError
from sweeper.ledger import Ledger
from sweeper.ledger.controls import SpendControls
from sweeper.ledger.records import PauseState, Quarantined
from sweeper.models import SUN_PER_TRX
from tasks.cli_output import Column, fitted_table
from tasks.cli_status import _console, _fail, ledger_target, open_ledger

QUARANTINE_SHOWN = 10


@dataclass(frozen=True, slots=True)
class GuardsView:
    """What ``status`` shows of the spend guards."""

    pause: PauseState
    spent_last_hour_sun: int
    sun_per_hour: int
    crossings_24h: dict[str, int]
    quarantined: int
    latest_quarantined: list[Quarantined]
    in_flight: int = 0
    detected: int = 0
    sweeps_in_flight: int = 0


def read_guards(ledger: Ledger, sun_per_hour: int, sweeps_in_flight: int = 0) -> GuardsView:
    controls = SpendControls(ledger)
    now = ledger.now()
    total, latest = controls.quarantine_list(QUARANTINE_SHOWN)
    in_flight, detected = ledger.flight()
    return GuardsView(
        pause=controls.pause_state(),
        spent_last_hour_sun=controls.spent_since(now - timedelta(hours=1)),
        sun_per_hour=sun_per_hour,
        crossings_24h=controls.crossings(since=now - timedelta(days=1)),
        quarantined=total,
        latest_quarantined=latest,
        in_flight=in_flight,
        detected=detected,
        sweeps_in_flight=sweeps_in_flight,
    )


def guards_json(view: GuardsView) -> dict[str, Any]:
    return {
        "spending": {
            "paused": view.pause.paused,
            "note": view.pause.note,
            "since": view.pause.since.isoformat() if view.pause.paused and view.pause.since else None,
            "spent_last_hour_sun": view.spent_last_hour_sun,
            "sun_per_hour_budget": view.sun_per_hour,
            "budget_crossings_24h": view.crossings_24h,
            "in_flight": view.in_flight,
            "in_flight_cap": view.sweeps_in_flight,
            "detected": view.detected,
        },
        "quarantined": {
            "count": view.quarantined,
            "addresses": [
                {
                    "address": q.address,
                    "sweep_id": q.sweep_id,
                    "reason": q.reason,
                    "since": q.quarantined_at.isoformat(),
                }
                for q in view.latest_quarantined
            ],
        },
    }


def _trx(sun: int) -> Decimal:
    return Decimal(sun) / SUN_PER_TRX


def guards_view(view: GuardsView, width: int = 200) -> list[Any]:
    """Lines (and a table) for the terminal."""
    out: list[Any] = []
    if view.pause.paused:
        since = view.pause.since.strftime("%Y-%m-%d %H:%M:%S") if view.pause.since else "?"
        note = f" ({view.pause.note})" if view.pause.note else ""
        out.append(
            f"[bold red]spending: PAUSED[/] since {since}{note}: no energy is ordered; `sweeper resume`"
        )
    else:
        out.append("spending: on")
    budget = f"{_trx(view.sun_per_hour)} TRX" if view.sun_per_hour else "no limit"
    out.append(f"energy spend in the last hour: {_trx(view.spent_last_hour_sun)} TRX (budget {budget})")
    cap = f"cap {view.sweeps_in_flight}" if view.sweeps_in_flight else "no cap"
    flight = f"sweeps between order and broadcast: {view.in_flight} ({cap}); DETECTED: {view.detected}"
    if view.sweeps_in_flight and view.in_flight >= view.sweeps_in_flight:
        flight = f"[yellow]{flight}[/]: new sweeps queue unpaid until one is sent"
    out.append(flight)
    if view.crossings_24h:
        crossed = ", ".join(f"{name} {n}" for name, n in view.crossings_24h.items())
        out.append(f"[yellow]budgets crossed in the last 24 h:[/] {crossed}")
    out.append(f"quarantined addresses: {view.quarantined}")
    if view.latest_quarantined:
        columns = (
            Column("address"),
            Column("sweep", right=True),
            Column("since", drop=1),
            Column("reason", wrap=True),
        )
        rows = [
            [q.address, str(q.sweep_id), q.quarantined_at.strftime("%Y-%m-%d %H:%M:%S"), q.reason or ""]
            for q in view.latest_quarantined
        ]
        out.append(fitted_table("Quarantined (latest; `sweeper release ADDRESS`)", columns, rows, width))
    return out


def pause(
    reason: Annotated[str | None, typer.Option("--reason", help="Why; shown by `sweeper status`.")] = None,
) -> None:
    """Stop all spending now: no worker orders energy until `sweeper resume`; sweeps wait."""
    target = ledger_target()
    with open_ledger(target) as ledger:
        try:
            controls = SpendControls(ledger)
            changed = controls.pause(reason)
            state = controls.pause_state()
        except SweeperError as exc:
            raise _fail(str(exc)) from None
    since = state.since.strftime("%Y-%m-%d %H:%M:%S") if state.since else "?"
    if changed:
        message = "spending paused: no worker orders energy until `sweeper resume`; sweeps wait"
    else:
        message = f"spending was already paused since {since}" + (f" ({state.note})" if state.note else "")
    _console().print(message, highlight=False)


def resume() -> None:
    """Let the workers order energy again; waiting sweeps go on at their next look."""
    target = ledger_target()
    with open_ledger(target) as ledger:
        try:
            changed = SpendControls(ledger).resume()
        except SweeperError as exc:
            raise _fail(str(exc)) from None
    _console().print("spending resumed" if changed else "spending was not paused", highlight=False)


def release(
    address: Annotated[str, typer.Argument(help="The quarantined deposit address (T…).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why it may be swept again.")] = None,
) -> None:
    """Let detection open sweeps for an address quarantined after a failed sweep."""
    try:
        addr = validate(address.strip())
    except SweeperError as exc:
        raise _fail(str(exc), 2) from None
    target = ledger_target()
    with open_ledger(target) as ledger:
        try:
            released = SpendControls(ledger).release(addr, reason)
        except SweeperError as exc:
            raise _fail(str(exc)) from None
    if released is None:
        raise _fail(f"{addr} is not quarantined")
    _console().print(
        f"released {addr} (quarantined since sweep {released.sweep_id} failed: {released.reason}); "
        "the next scan or rescan may sweep it again",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``pause``, ``resume`` and ``release`` to the ``sweeper`` command line."""
    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("release")(release)
