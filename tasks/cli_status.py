"""``sweeper status | retry | migrate | web``: the ledger at a glance, and the receiver.

These commands need only the database. When the full configuration does not load (no energy
credentials on an operator's laptop, say), they fall back to ``SWEEPER_DATABASE_URL`` (and token
decimals from ``SWEEPER_TOKENS``) read by a minimal settings model of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Annotated, Any

import typer
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from config.settings import InvalidSettings, load_settings
from sweeper.errors import SweeperError
from sweeper.ledger import Ledger, StateTotals, Sweep, create_engine_for, upgrade
from sweeper.ledger.migrate import current_revision
from sweeper.models import SUN_PER_TRX, SweepState
from tasks.cli_output import Column, fitted_table, out_console


def _console(*, stderr: bool = False) -> Console:
    """A console sized for the terminal (or ``COLUMNS``) at the time of the command, not of the import."""
    return Console(stderr=stderr)


DEFAULT_DECIMALS = {"USDT": 6}


class _TokenDecimals(BaseModel):
    symbol: str
    contract: str | None = None
    decimals: int = Field(ge=0, le=36)


class _BudgetOnly(BaseModel):
    sun_per_hour: int = Field(2_000_000_000, ge=0)
    sweeps_in_flight: int = Field(500, ge=0)


class LedgerOnlySettings(BaseSettings):
    """Just what the ledger commands need, so they run without energy credentials."""

    model_config = SettingsConfigDict(
        env_prefix="SWEEPER_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    database_url: str = "sqlite:///sweeper.sqlite3"
    tokens: list[_TokenDecimals] = Field(default_factory=lambda: [_TokenDecimals(symbol="USDT", decimals=6)])
    budget: _BudgetOnly = Field(default_factory=_BudgetOnly)


EXACT = Context(prec=100)
"""Enough digits for any uint256 amount (78 digits) shown in whole tokens."""


@dataclass(frozen=True, slots=True)
class LedgerTarget:
    """Where the ledger is, and how to display each token's amounts (decimals by contract, then symbol)."""

    database_url: str
    decimals: dict[str, int]
    sun_per_hour: int = 0
    """The deployment's hourly energy budget, for ``status`` (0: none)."""
    sweeps_in_flight: int = 0
    """The in-flight cap, for ``status`` (0: none)."""

    def tokens(self, symbol: str, amount: int, contract: str | None = None) -> Decimal:
        """A base-unit amount in whole tokens (Decimal: display only, never arithmetic on money).

        Exact for any uint256: the default 28-digit context would round an 18-decimal balance.
        """
        places = self.decimals.get(contract or "", self.decimals.get(symbol, 0))
        return Decimal(amount).scaleb(-places, context=EXACT)


def _fail(message: str, code: int = 1) -> typer.Exit:
    one_line = " ".join(message.split())  # driver errors span lines; the operator gets one
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(one_line)}", highlight=False)
    return typer.Exit(code)


def ledger_target() -> LedgerTarget:
    """The full settings when they load, else the minimal ledger-only model."""
    try:
        settings = load_settings()
    except InvalidSettings:
        try:
            minimal = LedgerOnlySettings()
        except ValidationError as exc:
            raise _fail(
                f"invalid SWEEPER_DATABASE_URL or SWEEPER_TOKENS: {exc.errors()[0]['msg']}", 2
            ) from None
        decimals = {**DEFAULT_DECIMALS, **{t.symbol: t.decimals for t in minimal.tokens}}
        decimals.update({t.contract: t.decimals for t in minimal.tokens if t.contract})
        return LedgerTarget(
            minimal.database_url, decimals, minimal.budget.sun_per_hour, minimal.budget.sweeps_in_flight
        )
    decimals = {**DEFAULT_DECIMALS, **{t.symbol: t.decimals for t in settings.tokens}}
    decimals.update({t.contract: t.decimals for t in settings.tokens})
    return LedgerTarget(
        settings.database_url, decimals, settings.budget.sun_per_hour, settings.budget.sweeps_in_flight
    )


def masked(url: str) -> str:
    """The URL with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return "<unparseable database URL>"


@contextmanager
def open_ledger(target: LedgerTarget) -> Iterator[Ledger]:
    """The ledger, which must already be migrated (``sweeper migrate``)."""
    try:
        engine = create_engine_for(target.database_url)
    except (SQLAlchemyError, ValueError) as exc:
        raise _fail(f"cannot open the ledger at {masked(target.database_url)}: {exc}") from None
    ledger = Ledger(engine)
    try:
        try:
            revision = current_revision(engine)
        except SQLAlchemyError as exc:
            raise _fail(f"cannot open the ledger at {masked(target.database_url)}: {exc}") from None
        if revision is None:
            raise _fail(f"the ledger at {masked(target.database_url)} is not migrated: run `sweeper migrate`")
        yield ledger
    finally:
        ledger.dispose()


def _trx(sun: int) -> Decimal:
    return Decimal(sun) / SUN_PER_TRX


def _summary_json(target: LedgerTarget, totals: list[StateTotals]) -> list[dict[str, Any]]:
    return [
        {
            "state": t.state.value,
            "token": t.token_symbol,
            "contract": t.token_contract,
            "count": t.count,
            "amount": t.amount,
            "amount_tokens": str(target.tokens(t.token_symbol, t.amount, t.token_contract)),
            "cost_sun": t.cost_sun,
            "cost_trx": str(_trx(t.cost_sun)),
        }
        for t in totals
    ]


def _sweep_json(target: LedgerTarget, s: Sweep) -> dict[str, Any]:
    return {
        "id": s.id,
        "state": s.state.value,
        "token": s.token_symbol,
        "contract": s.token_contract,
        "address": s.address,
        "destination": s.destination,
        "amount": s.amount,
        "amount_tokens": str(target.tokens(s.token_symbol, s.amount, s.token_contract)),
        "cost_sun": s.cost_sun,
        "cost_trx": str(_trx(s.cost_sun)),
        "attempt": s.attempt,
        "energy_source": s.energy_source,
        "txid": s.txid,
        "reason": s.reason,
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
    }


def _summary_table(target: LedgerTarget, totals: list[StateTotals], width: int) -> Table:
    columns = (
        Column("state"),
        Column("token"),
        Column("contract", drop=1),
        Column("count", right=True),
        Column("amount", right=True),
        Column("cost TRX", right=True),
    )
    rows = [
        [
            t.state.value,
            t.token_symbol,
            t.token_contract,
            str(t.count),
            str(target.tokens(t.token_symbol, t.amount, t.token_contract)),
            str(_trx(t.cost_sun)),
        ]
        for t in totals
    ]
    return fitted_table("Sweeps by state and token", columns, rows, width)


def _sweeps_table(target: LedgerTarget, sweeps: list[Sweep], title: str, width: int) -> Table:
    columns = (
        Column("id", right=True),
        Column("state"),
        Column("token", drop=3),
        Column("amount", right=True),
        Column("cost TRX", right=True, drop=2),
        Column("try", right=True, drop=4),
        Column("address", drop=1),
        Column("updated", drop=5),
        Column("reason", wrap=True),
    )
    rows = [
        [
            str(s.id),
            s.state.value,
            s.token_symbol,
            str(target.tokens(s.token_symbol, s.amount, s.token_contract)),
            str(_trx(s.cost_sun)),
            str(s.attempt),
            s.address,
            s.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
            s.reason or "",
        ]
        for s in sweeps
    ]
    return fitted_table(title, columns, rows, width)


def _state(value: str | None) -> SweepState | None:
    if value is None:
        return None
    try:
        return SweepState(value.upper())
    except ValueError:
        states = ", ".join(s.value for s in SweepState)
        raise _fail(f"unknown state {value!r}; one of {states}", 2) from None


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    state: Annotated[str | None, typer.Option("--state", help="Only list sweeps in this state.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many sweeps to list.")] = 20,
) -> None:
    """Show the ledger: sweeps by state and token (count, amount, cost), then the latest sweeps."""
    wanted = _state(state)
    target = ledger_target()
    from tasks.cli_guards import guards_json, guards_view, read_guards

    with open_ledger(target) as ledger:
        try:
            totals = ledger.summary()
            latest = ledger.sweeps(wanted, limit)
            guards = read_guards(ledger, target.sun_per_hour, target.sweeps_in_flight)
        except SweeperError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        document = {
            "summary": _summary_json(target, totals),
            "sweeps": [_sweep_json(target, s) for s in latest],
            **guards_json(guards),
        }
        typer.echo(json.dumps(document, indent=2))
        return
    console = out_console()
    console.print(_summary_table(target, totals, console.width))
    title = f"Latest {wanted.value} sweeps" if wanted else "Latest sweeps"
    console.print(_sweeps_table(target, latest, title, console.width))
    for renderable in guards_view(guards, console.width):
        console.print(renderable, highlight=False)


def retry(
    sweep_id: Annotated[int, typer.Argument(min=1, help="The FAILED (or, with --skipped, SKIPPED) sweep.")],
    skipped: Annotated[
        bool,
        typer.Option(
            "--skipped",
            help="Re-open a SKIPPED sweep (e.g. after raising the fee cap); all checks run again.",
        ),
    ] = False,
) -> None:
    """Re-open a FAILED sweep (next attempt, new order numbers); reconcile picks it up at once."""
    wanted = SweepState.SKIPPED if skipped else SweepState.FAILED
    target = ledger_target()
    with open_ledger(target) as ledger:
        try:
            sweep = ledger.get_sweep(sweep_id)
            if sweep is None:
                raise _fail(f"no sweep {sweep_id}")
            if sweep.state is SweepState.SKIPPED and not skipped:
                raise _fail(f"sweep {sweep_id} is SKIPPED ({sweep.reason}); re-open it with --skipped")
            if sweep.state is not wanted:
                raise _fail(
                    f"sweep {sweep_id} is {sweep.state.value}; only {wanted.value} sweeps can be retried"
                    + ("" if skipped else " (SKIPPED ones with --skipped)")
                )
            if not ledger.reopen(sweep_id, reason="retry_by_operator", state=wanted):
                raise _fail(f"sweep {sweep_id} changed state meanwhile; nothing done")
        except SweeperError as exc:
            raise _fail(str(exc)) from None
    _console().print(
        f"sweep {sweep_id} re-opened as DETECTED (attempt {sweep.attempt + 1}); reconcile advances it next",
        highlight=False,
    )


def migrate() -> None:
    """Bring the ledger's schema up to date (Alembic upgrade head); safe to run again."""
    target = ledger_target()
    try:
        upgrade(target.database_url)
        engine = create_engine_for(target.database_url)
        try:
            revision = current_revision(engine)
        finally:
            engine.dispose()
    except (SQLAlchemyError, SweeperError) as exc:
        raise _fail(f"migration failed for {masked(target.database_url)}: {exc}") from None
    _console().print(f"ledger at {masked(target.database_url)} is at revision {revision}", highlight=False)


def web(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Run the callback receiver, /healthz and /metrics (uvicorn tasks.web:app)."""
    import uvicorn

    from tasks.cli_output import quiet_logging

    quiet_logging(verbose=True)  # a server logs at SWEEPER_LOG_LEVEL, uvicorn's lines through our renderer
    uvicorn.run("tasks.web:app", host=host, port=port, proxy_headers=True, log_config=None)


def register(app: typer.Typer) -> None:
    """Add ``status``, ``retry``, ``migrate`` and ``web`` to the ``sweeper`` command line."""
    app.command("status")(status)
    app.command("retry")(retry)
    app.command("migrate")(migrate)
    app.command("web")(web)
