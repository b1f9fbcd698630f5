"""Set-up shared by the e2e suites: a fast devnet, a ledger, wallet keys in a keystore, and waiting.

Every suite runs the sweeper's real processes (``tasks.processes.ProcessGroup``) against a devnet over
HTTP. The helpers here only prepare what those processes read (a ledger file, a keystore, SWEEPER_*
variables) and read back what they did (the ledger, the chain); they never drive a sweep themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import redis
from sqlalchemy import select

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.chain import TronChain
from sweeper.keys import KeystoreKeyring, MnemonicKeyring
from sweeper.ledger.engine import create_engine_for
from sweeper.ledger.migrate import upgrade
from sweeper.ledger.records import CallbackEvent, DepositAddress, Sweep
from sweeper.ledger.repository import Ledger
from sweeper.ledger.tables import Base
from sweeper.models import TERMINAL_STATES, USDT_MAINNET
from tasks.devnet_profile import DEVNET_MNEMONIC, devnet_env
from tests.fixtures.services import REDIS_PORT

TRX = 1_000_000
USDT = 1_000_000
BLOCK_TIME = 0.25
CONFIRMATIONS = 1
POLL_SECONDS = 0.4
KEYSTORE_PASSWORD = "devnet-only keystore password"  # guards devnet keys only
FAST_SCRYPT_N = 2**12  # the keystore is opened by every worker process; devnet keys need no slow KDF

T = TypeVar("T")


@contextmanager
def flushed_redis(db: int) -> Iterator[str]:
    """A Redis database of the suite's own (broker and results), empty before and after."""
    url = f"redis://127.0.0.1:{REDIS_PORT}/{db}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:
        raise RuntimeError(
            f"Redis is not reachable at 127.0.0.1:{REDIS_PORT} (run `make services`): {exc}"
        ) from exc
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@contextmanager
def fast_devnet() -> Iterator[Devnet]:
    """A devnet with quick blocks and quick provider callbacks, stopped afterwards."""
    devnet = Devnet(port=0, block_time=BLOCK_TIME, solid_depth=2, callback_time_scale=0.05)
    devnet.start()
    try:
        yield devnet
    finally:
        devnet.stop()


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def keystore_with(path: Path, *private_keys: bytes) -> str:
    """Write a keystore holding ``private_keys`` (gas wallet, stake owner); returns its file name."""
    ring = KeystoreKeyring.create(path, KEYSTORE_PASSWORD, scrypt_n=FAST_SCRYPT_N)
    for key in private_keys:
        ring.add(key)
    return str(path)


@dataclass
class Site:
    """One sweeper deployment's world: the devnet, its ledger file, and its hot wallet."""

    devnet: Devnet
    ledger: Ledger
    database_url: str
    hot: str
    workdir: Path

    @classmethod
    def create(cls, devnet: Devnet, workdir: Path, *, hot_holds_usdt: bool = True) -> Site:
        """A migrated SQLite ledger and a fresh hot wallet (holding one USDT unit, so transfers cost 64k)."""
        _, hot = generate_key()
        devnet.chain.fund(hot, 10 * TRX)
        if hot_holds_usdt:
            devnet.chain.mint(hot, 1)
        url = f"sqlite:///{workdir / 'ledger.sqlite3'}"
        upgrade(url)
        return cls(devnet, Ledger(create_engine_for(url)), url, hot, workdir)

    def env(
        self,
        broker_url: str,
        *,
        order: str,
        callback_public_url: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """SWEEPER_* variables for this site's processes: fast blocks, polls and confirmations."""
        mnemonic = self.workdir / "mnemonic.txt"
        mnemonic.write_text(DEVNET_MNEMONIC)
        return devnet_env(
            self.devnet,
            database_url=self.database_url,
            broker_url=broker_url,
            destination=self.hot,
            mnemonic_file=str(mnemonic),
            order=order,
            callback_public_url=callback_public_url,
            confirmations=CONFIRMATIONS,
            poll_seconds=POLL_SECONDS,
            extra={
                "SWEEPER_RESULT_BACKEND": broker_url,
                "SWEEPER_SCAN_INTERVAL_SECONDS": "0.5",
                "SWEEPER_RECONCILE_INTERVAL_SECONDS": "5",
                "SWEEPER_LOG_FORMAT": "json",
                "SWEEPER_ENERGY__MAX_SUN_PER_SWEEP": "20000000",
                "SWEEPER_ENERGY__MAX_PERCENT_OF_AMOUNT": "50",
                **(extra or {}),
            },
        )

    def deposits(self, count: int, start: int = 0) -> list[str]:
        """Watch ``count`` deposit addresses derived from the devnet mnemonic."""
        ring = MnemonicKeyring(DEVNET_MNEMONIC)
        rows = [
            DepositAddress(ring.derive(i), f"mnemonic:{i}", f"user-{i}") for i in range(start, start + count)
        ]
        self.ledger.add_addresses(rows)
        return [r.address for r in rows]

    def scan_from_head(self) -> None:
        """Start the block scanner at the current head, so it reads only what the test does next."""
        self.ledger.set_cursor("blocks", self.devnet.chain.head_number())

    def usdt(self, address: str) -> int:
        return int(self.devnet.chain.token_balance(address, USDT_MAINNET))

    def sweeps_of(self, address: str) -> list[Sweep]:
        return self.ledger.sweeps(address=address, limit=100)

    def settled(self, addresses: list[str], timeout: float) -> dict[str, list[Sweep]]:
        """Each address's sweeps, once every address has at least one and all of them are terminal."""

        def check() -> dict[str, list[Sweep]] | None:
            found = {a: self.sweeps_of(a) for a in addresses}
            done = all(found[a] and all(s.state in TERMINAL_STATES for s in found[a]) for a in addresses)
            return found if done else None

        return wait_for(check, timeout, f"sweeps of {len(addresses)} deposits to settle", interval=0.5)

    def callback_events(self) -> list[CallbackEvent]:
        table = Base.metadata.tables["callback_events"]
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.id)).mappings().all()
        return [CallbackEvent.from_row(row) for row in rows]

    def transfers_out(self, senders: list[str]) -> list[tuple[str, str]]:
        """(from, to) of every USDT transfer the chain holds from one of ``senders``."""
        chain = TronChain(self.devnet.node_url)
        try:
            found = chain.block_transfers(1, self.devnet.chain.head_number(), [USDT_MAINNET])
        finally:
            chain.close()
        wanted = set(senders)
        return [(t.from_address, t.to_address) for t in found if t.from_address in wanted]

    def close(self) -> None:
        self.ledger.engine.dispose()
