"""``sweeper energy …``: what every configured energy source would charge for a sweep, and our balances.

Read-only: nothing here places an order or signs anything (sources that sign with our own wallets, such as
stake and burn, get address-only signers). Which sources exist is read from the provider registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from config.settings import InvalidSettings, Settings, load_settings
from sweeper.chain import Chain, TronChain
from sweeper.chain.intent import Intent
from sweeper.energy.base import EnergySource
from sweeper.errors import SweeperError
from sweeper.models import SUN_PER_TRX, Quote
from sweeper.policy import Excluded, energy_needed, short_of_need
from sweeper.procurement import TX_EXPIRY_S
from tasks.cli_output import Column, fitted_table, out_console, print_json
from tasks.sources import build_http_client, build_sources

energy_app = typer.Typer(
    help="Energy sources: prices for a sweep and account balances.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class AddressOnly:
    """A signer that knows its address but holds no key: enough for quotes and balances."""

    def __init__(self, address: str) -> None:
        self._address = address

    @property
    def address(self) -> str:
        return self._address

    def sign_transaction(self, raw_data: Mapping[str, Any], intent: Intent) -> bytes:
        raise SweeperError("read-only command: nothing may be signed here")

    def probe(self) -> None:
        raise SweeperError("read-only command: nothing may be signed here")


def _settings(without: frozenset[str] = frozenset()) -> Settings:
    try:
        return load_settings(without=without)
    except InvalidSettings as exc:
        for problem in exc.problems:
            err_console.print(
                f"[bold red]error:[/] invalid configuration: {escape(problem)}", highlight=False
            )
        raise typer.Exit(2) from None


def _trx(sun: int) -> str:
    return f"{Decimal(sun) / SUN_PER_TRX:,.6f}"


def _context(settings: Settings) -> tuple[Chain, dict[str, EnergySource]]:
    http = build_http_client()
    api_key = settings.tron.api_key.get_secret_value() if settings.tron.api_key else None
    chain = TronChain(str(settings.tron.node_url), api_key=api_key, timeout=settings.tron.timeout)
    try:
        sources = build_sources(settings, http, chain, signer_for=AddressOnly)
    except SweeperError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    return chain, sources


def _token_contract(settings: Settings, token: str) -> str:
    """The configured token named by its contract, or by a symbol only one configured token has."""
    contracts = [t.contract for t in settings.tokens if token in (t.contract, t.symbol)]
    if len(contracts) == 1:
        return contracts[0]
    if not contracts:
        err_console.print(f"[bold red]error:[/] token {token} is not configured", highlight=False)
    else:
        err_console.print(
            f"[bold red]error:[/] {len(contracts)} configured tokens have the symbol {token}: "
            "pass --token CONTRACT",
            highlight=False,
        )
    raise typer.Exit(2)


def _sweep_needs(
    chain: Chain, settings: Settings, address: str, to: str, contract: str
) -> tuple[int, bool, str]:
    """(energy, activate?, note) for one transfer from ``address`` to ``to``, read from the chain."""
    margin = settings.energy.margin
    try:
        holds = chain.token_balance(contract, to) > 0
        account = chain.account(address)
        available = account.energy if account is not None else 0
        return energy_needed(holds, margin, available), account is None, ""
    except SweeperError as exc:
        return energy_needed(False, margin, 0), False, f"chain not read ({exc.reason}): assuming a new holder"


@energy_app.command("quotes")
def quotes(
    address: Annotated[str, typer.Option("--address", help="The deposit address to sweep (T…).")],
    to: Annotated[
        str | None, typer.Option("--to", help="Destination; default: the token's hot wallet.")
    ] = None,
    energy: Annotated[
        int | None, typer.Option(min=1, help="Energy to price instead of what the sweep needs.")
    ] = None,
    token: Annotated[
        str, typer.Option(help="Token being swept: its contract, or a symbol only one token has.")
    ] = "USDT",  # noqa: S107
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Every configured source's price for this sweep's energy, cheapest first; errors shown per row.

    A quote for less energy, or a shorter rental, than the sweep needs is listed last with the reason
    procurement excludes it for (``policy.short_of_need``): it is never chosen.
    """
    settings = _settings(frozenset({"destination"}) if to else frozenset())
    contract = _token_contract(settings, token)
    destination = to or settings.destination_of(contract)
    chain, sources = _context(settings)
    needed, activate, note = _sweep_needs(chain, settings, address, destination, contract)
    if energy is not None:
        needed, note = energy, "energy given on the command line"
    priced: list[Quote] = []
    failed: list[tuple[str, str]] = []
    for name, source in sources.items():
        try:
            priced.append(source.quote(address, needed, to=destination, activate=activate))
        except SweeperError as exc:
            failed.append((name, f"{exc.reason}: {exc}"))
    seconds = settings.order_timeout_seconds + TX_EXPIRY_S
    short = {q.source: short_of_need(q, needed, seconds) for q in priced}
    priced.sort(key=lambda q: (short[q.source] is not None, q.total_sun))
    if as_json:
        print_json(
            {
                "address": address,
                "destination": destination,
                "energy": needed,
                "activation": activate,
                "note": note or None,
                "quotes": [
                    {
                        "source": q.source,
                        "energy": q.energy,
                        "energy_sun": q.cost_sun,
                        "activation_sun": q.activation_sun,
                        "total_sun": q.total_sun,
                        "duration": q.duration,
                        **_exclusion(short[q.source]),
                    }
                    for q in priced
                ],
                "errors": [{"source": name, "error": error} for name, error in failed],
            }
        )
        return
    columns = (
        Column("source"),
        Column("energy", right=True, drop=2),
        Column("energy TRX", right=True, drop=1),
        Column("activation TRX", right=True, drop=1),
        Column("total TRX", right=True),
        Column("note", wrap=True),
    )
    rows = [
        [
            q.source,
            f"{q.energy:,}",
            _trx(q.cost_sun),
            _trx(q.activation_sun),
            _trx(q.total_sun),
            _note(q, short),
        ]
        for q in priced
    ]
    rows += [[name, "", "", "", "", error] for name, error in failed]
    out = out_console()
    title = f"energy for {address} → {destination}: {needed:,} energy" + (" + activation" * activate)
    out.print(fitted_table(title, columns, rows, out.width), highlight=False)
    if note:
        out.print(f"[yellow]{escape(note)}[/]", highlight=False)


def _exclusion(why: Excluded | None) -> dict[str, str | None]:
    return {"excluded": why.why.name.lower() if why else None, "why": str(why) if why else None}


def _note(quote: Quote, short: dict[str, Excluded | None]) -> str:
    """The quote's duration, or why procurement would never choose it."""
    why = short[quote.source]
    return quote.duration if why is None else f"[red]excluded ({why.why.name.lower()}): {escape(str(why))}[/]"


@energy_app.command("balances")
def balances(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Our balance (or delegatable capacity) at each configured source."""
    settings = _settings(frozenset({"destination"}))  # balances are ours: no hot wallet involved
    _, sources = _context(settings)
    found: list[dict[str, Any]] = []
    for name, source in sources.items():
        note = "delegatable" if source.capabilities.reclaim else ""  # our own stake, lent and taken back
        try:
            found.append({"source": name, "balance_sun": source.balance(), "note": note, "error": None})
        except SweeperError as exc:
            found.append({"source": name, "balance_sun": None, "note": note, "error": f"{exc.reason}: {exc}"})
    if as_json:
        print_json({"balances": found})
        return
    columns = (Column("source"), Column("balance TRX", right=True), Column("note", wrap=True))
    rows = [
        [
            row["source"],
            "" if row["balance_sun"] is None else _trx(row["balance_sun"]),
            row["error"] or row["note"],
        ]
        for row in found
    ]
    out = out_console()
    out.print(fitted_table("energy source balances", columns, rows, out.width), highlight=False)
