"""``sweeper addresses …``: watch deposit addresses (derive from the mnemonic, import a CSV), list them.

The mnemonic is read from SWEEPER_KEYS__MNEMONIC_FILE (preferred) or SWEEPER_KEYS__MNEMONIC, handed to
``MnemonicKeyring`` and never printed; the ledger stores ``mnemonic:<index>`` as the key reference.
An import is all or nothing: every bad row is reported with its line number and then nothing is stored.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from config.settings import InvalidSettings, Settings, load_settings
from sweeper.chain.addresses import validate
from sweeper.errors import InvalidAddress, SweeperError
from sweeper.keys import MnemonicKeyring
from sweeper.keys.hd import MAX_INDEX
from sweeper.ledger import AddressConflict, DepositAddress, Ledger, create_engine_for, upgrade
from sweeper.ledger.addresses import check_key_ref
from sweeper.ledger.tables import Base
from tasks.cli_output import print_json

addresses_app = typer.Typer(
    help="Watched deposit addresses: derive from the mnemonic, import from CSV, list.", no_args_is_help=True
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DERIVE_CHUNK = 5_000
PROGRESS_FROM = 1_000
"""Derivations from this count up show a progress bar (on stderr, so stdout stays a clean list)."""
MAX_PROBLEMS_SHOWN = 1_000
LABEL_MAX = 128
COLUMNS = ("address", "label", "key_ref")
EXTERNAL_KEY_REF = "external:{address}"
"""Key reference of an imported row that names none: the key is found by address (keystore, remote)."""
_LOOKUP_CHUNK = 500


UNUSED_SETTINGS = frozenset({"destination", "energy"})
"""Address commands need the ledger and the keys, never the hot wallet or a provider's secrets."""


def _settings() -> Settings:
    try:
        return load_settings(without=UNUSED_SETTINGS)
    except InvalidSettings as exc:
        for problem in exc.problems:
            err_console.print(
                f"[bold red]error:[/] invalid configuration: {escape(problem)}", highlight=False
            )
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False)
    return typer.Exit(code)


@contextmanager
def _ledger(settings: Settings) -> Iterator[Ledger]:
    """The ledger at SWEEPER_DATABASE_URL, migrated to head first."""
    try:
        upgrade(settings.database_url)
        engine = create_engine_for(settings.database_url)
    except (SweeperError, SQLAlchemyError) as exc:
        raise _fail(f"cannot open the ledger: {exc}", 1) from None
    ledger = Ledger(engine)
    try:
        yield ledger
    finally:
        ledger.dispose()


def _keyring(settings: Settings) -> MnemonicKeyring:
    keys = settings.keys
    passphrase = keys.passphrase.get_secret_value() if keys.passphrase else ""
    if keys.mnemonic_file:
        try:
            phrase = Path(keys.mnemonic_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(
                f"cannot read SWEEPER_KEYS__MNEMONIC_FILE {keys.mnemonic_file}: {exc.strerror}"
            ) from None
    elif keys.mnemonic is not None and keys.mnemonic.get_secret_value().strip():
        phrase = keys.mnemonic.get_secret_value()
    else:
        raise _fail("no mnemonic configured: set SWEEPER_KEYS__MNEMONIC_FILE or SWEEPER_KEYS__MNEMONIC")
    try:
        return MnemonicKeyring(phrase, passphrase)
    except SweeperError as exc:  # InvalidMnemonic: its message never quotes the words
        raise _fail(str(exc)) from None


# --- derive -----------------------------------------------------------------------------------------


@addresses_app.command("derive")
def derive(
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many addresses to derive.")],
    start: Annotated[int, typer.Option(min=0, help="First derivation index (m/44'/195'/0'/0/START).")] = 0,
) -> None:
    """Derive COUNT deposit addresses from the mnemonic, watch them, and print them (index, address)."""
    if start + count - 1 > MAX_INDEX:
        raise _fail(f"indexes must stay below 2**31; START + COUNT - 1 = {start + count - 1}")
    settings = _settings()
    keyring = _keyring(settings)
    own = settings.own_wallets()
    added = 0
    with _ledger(settings) as ledger, _progress(count) as progress:
        task = progress.add_task("deriving", total=count)
        for first in range(start, start + count, DERIVE_CHUNK):
            indexes = range(first, min(start + count, first + DERIVE_CHUNK))
            rows = [DepositAddress(keyring.derive(i), f"mnemonic:{i}") for i in indexes]
            ours = next(
                ((i, r.address) for i, r in zip(indexes, rows, strict=True) if r.address in own), None
            )
            if ours is not None:
                progress.stop()
                index, address = ours
                stored = (
                    f"indexes {start}..{first - 1} were stored" if first > start else "nothing was stored"
                )
                raise _fail(
                    f"index {index} derives {address}, {own[address]}, which is never watched; "
                    f"derive around it (e.g. --start {index + 1}); {stored}"
                )
            try:
                added += ledger.add_addresses(rows)
            except SweeperError as exc:  # AddressConflict, LedgerUnavailable
                progress.stop()
                stored = f" (indexes {start}..{first - 1} were stored)" if first > start else ""
                raise _fail(f"{exc}{stored}") from None
            for index, row in zip(indexes, rows, strict=True):
                typer.echo(f"{index}\t{row.address}")
            progress.advance(task, len(rows))
    path = f"m/44'/195'/{keyring.account}'/0/{start}..{start + count - 1}"
    err_console.print(f"derived {count} addresses ({added} new) on {path}", highlight=False)


def _progress(total: int) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=total < PROGRESS_FROM,
    )


# --- import -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    address: str
    label: str | None
    key_ref: str


def read_csv(path: Path) -> tuple[list[CsvRow], list[str]]:
    """Parse an address CSV: the rows, and one message per problem ("line N: …").

    Columns are ``address[,label][,key_ref]``, positional, or in any order named by a first row
    that has an ``address`` column. Blank lines and lines starting with ``#`` are skipped.
    """
    rows: list[CsvRow] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    columns: tuple[str, ...] = COLUMNS
    seen_content = False
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for raw in reader:
            line = reader.line_num
            cells = [cell.strip() for cell in raw]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if not seen_content:
                seen_content = True
                if "address" in (cell.lower() for cell in cells):
                    columns, problem = _header(cells)
                    if problem:
                        problems.append(f"line {line}: {problem}")
                    continue
            row, problem = _row(line, cells, columns)
            if problem:
                problems.append(f"line {line}: {problem}")
                continue
            assert row is not None
            earlier = first_line.setdefault(row.address, line)
            if earlier != line:
                problems.append(f"line {line}: {row.address} is a duplicate of line {earlier}")
                continue
            rows.append(row)
    return rows, problems


def _header(cells: list[str]) -> tuple[tuple[str, ...], str | None]:
    names = tuple(cell.lower() for cell in cells)
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or len(set(names)) != len(names):
        return COLUMNS, f"header must name columns among {', '.join(COLUMNS)} once each"
    return names, None


def _row(line: int, cells: list[str], columns: tuple[str, ...]) -> tuple[CsvRow | None, str | None]:
    if len(cells) > len(columns):
        return None, f"{len(cells)} columns; expected at most {len(columns)} ({', '.join(columns)})"
    values = dict(zip(columns, cells, strict=False))
    address = values.get("address", "")
    if not address:
        return None, "the address is missing"
    try:
        validate(address)
    except InvalidAddress as exc:
        return None, str(exc)
    label = values.get("label") or None
    if label is not None and len(label) > LABEL_MAX:
        return None, f"the label is longer than {LABEL_MAX} characters"
    key_ref = values.get("key_ref") or EXTERNAL_KEY_REF.format(address=address)
    try:
        check_key_ref(key_ref)
    except SweeperError as exc:  # its message never repeats the value: it may be a pasted key
        return None, str(exc)
    return CsvRow(line, address, label, key_ref), None


def stored_key_refs(ledger: Ledger, addresses: Iterable[str]) -> dict[str, str]:
    """The key reference of each of ``addresses`` already in the ledger (chunked IN queries)."""
    table = Base.metadata.tables["deposit_addresses"]
    wanted = list(addresses)
    found: dict[str, str] = {}
    with ledger.engine.connect() as conn:
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            query = select(table.c.address, table.c.key_ref).where(table.c.address.in_(chunk))
            found.update((address, key_ref) for address, key_ref in conn.execute(query))
    return found


@addresses_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV file.")],
) -> None:
    """Watch the addresses of a CSV file (address[,label][,key_ref]); all rows or none.

    Any bad row: every problem is listed by line number, nothing is imported, exit status 2.

    A row without key_ref gets 'external:<address>': its key is looked up by address.
    """
    settings = _settings()
    try:
        rows, problems = read_csv(file)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(f"cannot read {file}: {exc}") from None
    own = settings.own_wallets()
    problems.extend(
        f"line {row.line}: {row.address} is {own[row.address]} and is never watched"
        for row in rows
        if row.address in own
    )
    with _ledger(settings) as ledger:
        stored = stored_key_refs(ledger, (row.address for row in rows))
        problems.extend(
            f"line {row.line}: {row.address} is already watched under another key reference"
            for row in rows
            if stored.get(row.address, row.key_ref) != row.key_ref
        )
        if problems:
            _report(file, sorted(problems, key=_line_of))
            raise typer.Exit(2)
        try:
            added = ledger.add_addresses(DepositAddress(r.address, r.key_ref, r.label) for r in rows)
        except AddressConflict as exc:  # a concurrent import got there between the check and the insert
            raise _fail(f"nothing imported: {exc}") from None
        except SweeperError as exc:
            raise _fail(f"nothing imported: {exc}", 1) from None
    console.print(
        f"imported {len(rows)} rows from {file}: {added} new, {len(rows) - added} already watched",
        highlight=False,
    )


def _line_of(problem: str) -> int:
    return int(problem.split(":", 1)[0].removeprefix("line "))


def _report(file: Path, problems: list[str]) -> None:
    err_console.print(f"[bold red]nothing imported:[/] {len(problems)} problem(s) in {file}", highlight=False)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        err_console.print(f"  {problem}", highlight=False, markup=False)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        err_console.print(f"  … and {len(problems) - MAX_PROBLEMS_SHOWN} more", highlight=False)


# --- list -------------------------------------------------------------------------------------------


@addresses_app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Show at most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Print watched addresses in address order: address, key_ref, label (tab-separated)."""
    settings = _settings()
    with _ledger(settings) as ledger:
        total = ledger.address_count()
        batch = next(ledger.iter_addresses(batch_size=limit), [])
        records = [ledger.get_address(address) for address in batch]
    if as_json:
        shown = [r for r in records if r is not None]
        print_json(
            {
                "total": total,
                "addresses": [{"address": r.address, "key_ref": r.key_ref, "label": r.label} for r in shown],
            }
        )
        return
    for record in records:
        if record is not None:
            typer.echo(f"{record.address}\t{record.key_ref}\t{record.label or ''}")
    err_console.print(f"{len(records)} of {total} watched addresses", highlight=False)
