"""``sweeper energy …``: what every configured energy source would charge for a sweep, and our balances.

Read-only: nothing here places an order or signs anything (sources that sign with our own wallets, such as
stake and burn, get address-only signers). Which sources exist is read from the provider registry.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from config.settings import InvalidSettings, Settings, load_settings
from sweeper.chain import Chain, TronChain
from sweeper.energy.base import EnergySource
from sweeper.errors import SweeperError
from sweeper.models import SUN_PER_TRX, Quote
from sweeper.policy import energy_needed
from tasks.sources import build_http_client, build_sources

energy_app = typer.Typer(
    help="Energy sources: prices for a sweep and account balances.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)


class AddressOnly:
    """A signer that knows its address but holds no key: enough for quotes and balances."""

    def __init__(self, address: str) -> None:
        self._address = address

    @property
    def address(self) -> str:
        return self._address

    def sign_digest(self, digest: bytes) -> bytes:
        raise SweeperError("read-only command: nothing may be signed here")


def _settings() -> Settings:
    try:
        return load_settings()
    except InvalidSettings as exc:
        err_console.print("[bold red]invalid configuration[/]")
        for problem in exc.problems:
            err_console.print(f"  - {problem}")
        raise typer.Exit(2) from None


def _trx(sun: int) -> str:
    return f"{Decimal(sun) / SUN_PER_TRX:,.6f}"


def _context(settings: Settings) -> tuple[Chain, dict[str, EnergySource]]:
    http = build_http_client()
    api_key = settings.tron.api_key.get_secret_value() if settings.tron.api_key else None
    chain = TronChain(str(settings.tron.node_url), api_key=api_key, timeout=settings.tron.timeout, http=http)
    try:
        sources = build_sources(settings, http, chain, signer_for=AddressOnly)
    except SweeperError as exc:
        err_console.print(f"[bold red]{exc}[/]")
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
        activated = chain.is_activated(address)
        available = chain.resources(address).energy if activated else 0
        return energy_needed(holds, margin, available), not activated, ""
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
) -> None:
    """Every configured source's price for this sweep's energy, cheapest first; errors shown per row."""
    settings = _settings()
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
    table = Table(
        title=f"energy for {address} → {destination}: {needed:,} energy" + (" + activation" * activate)
    )
    for column in ("source", "energy", "energy TRX", "activation TRX", "total TRX", "note"):
        table.add_column(column, justify="right" if "TRX" in column or column == "energy" else "left")
    for quote in sorted(priced, key=lambda q: q.total_sun):
        table.add_row(
            quote.source,
            f"{quote.energy:,}",
            _trx(quote.cost_sun),
            _trx(quote.activation_sun),
            _trx(quote.total_sun),
            quote.duration,
        )
    for name, error in failed:
        table.add_row(name, "", "", "", "", f"[red]{error}[/]")
    console.print(table)
    if note:
        console.print(f"[yellow]{note}[/]")


@energy_app.command("balances")
def balances() -> None:
    """Our balance (or delegatable capacity) at each configured source."""
    settings = _settings()
    _, sources = _context(settings)
    table = Table(title="energy source balances")
    table.add_column("source")
    table.add_column("balance TRX", justify="right")
    table.add_column("note")
    for name, source in sources.items():
        try:
            note = "delegatable" if source.capabilities.reclaim else ""  # our own stake, lent and taken back
            table.add_row(name, _trx(source.balance()), note)
        except SweeperError as exc:
            table.add_row(name, "", f"[red]{exc.reason}: {exc}[/]")
    console.print(table)
