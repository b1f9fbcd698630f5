"""The devnet chain: all TRON state in memory behind one RLock, a pending pool, and block production.

Public methods take addresses in any form (base58 `T…`, hex `41…`) and are what the node API, the
admin API and the provider simulators use. Blocks are produced by `produce_blocks` (the server calls it
on a timer); `on_block` callbacks run after each block, outside the lock.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from devnet import admission, execution, protobuf, render, resources
from devnet.actuators import Reservation
from devnet.blocks import ZERO_HASH, Block, TxRecord
from devnet.crypto import priv_to_address, selector
from devnet.errors import ChainError, validate_error
from devnet.execution import Tx
from devnet.params import ChainParams
from devnet.state import State
from devnet.usdt import USDT_ADDRESS, ZERO_HEX, Trc20Token, transfer_log

__all__ = ["USDT_ADDRESS", "Chain", "ChainError"]

log = logging.getLogger("devnet.chain")

FAUCET_PRIVATE_KEY = hashlib.sha256(b"sweeper devnet faucet").digest()
WITNESS_PRIVATE_KEY = hashlib.sha256(b"sweeper devnet witness").digest()
FAUCET_BALANCE = 10**17  # 100 billion TRX for admin funding
SYSTEM_EXPIRATION_MS = 60_000
TYPE_URL = "type.googleapis.com/protocol."


def now_ms() -> int:
    return int(time.time() * 1000)


class Chain:
    """Thread-safe TRON state machine: accounts, USDT, Stake 2.0, blocks, receipts."""

    def __init__(self, *, params: ChainParams | None = None, solid_depth: int = 18) -> None:
        self.lock = threading.RLock()
        self.state = State(params)
        self.solid_depth = solid_depth
        self.faucet = render.hex41(priv_to_address(FAUCET_PRIVATE_KEY))
        self.witness = render.hex41(priv_to_address(WITNESS_PRIVATE_KEY))
        self.blocks: list[Block] = []
        self.block_numbers: dict[str, int] = {}
        self.tx_index: dict[str, tuple[int, int]] = {}
        self.recent_refs: dict[str, str] = {}  # ref_block_bytes -> block id (newest wins: 65 536 window)
        self.pending: dict[str, Tx] = {}
        self.reserved: dict[str, Reservation] = {}
        self.dropped: deque[tuple[str, str]] = deque(maxlen=1000)
        self._callbacks: list[Callable[[int], None]] = []
        now = now_ms()
        self.state.create_account(self.faucet, now).balance = FAUCET_BALANCE
        self._append(Block(0, ZERO_HASH, now, self.witness).seal())

    # --- clock and heads ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return now_ms()

    def head_number(self) -> int:
        with self.lock:
            return self.blocks[-1].number

    def head_block(self) -> Block:
        with self.lock:
            return self.blocks[-1]

    def solid_number(self) -> int:
        with self.lock:
            return max(self.blocks[-1].number - self.solid_depth, 0)

    def solid_block(self) -> Block:
        with self.lock:
            return self.blocks[self.solid_number()]

    def block(self, number: int, *, solid: bool = False) -> Block | None:
        with self.lock:
            limit = self.solid_number() if solid else self.blocks[-1].number
            return self.blocks[number] if 0 <= number <= limit else None

    def block_by_id(self, block_id: str, *, solid: bool = False) -> Block | None:
        with self.lock:
            number = self.block_numbers.get(block_id.lower())
            return None if number is None else self.block(number, solid=solid)

    def tx_record(self, txid: str, *, solid: bool = False) -> TxRecord | None:
        with self.lock:
            where = self.tx_index.get(txid.lower())
            if where is None or (solid and where[0] > self.solid_number()):
                return None
            return self.blocks[where[0]].txs[where[1]]

    # --- queries (any address form) -------------------------------------------------------------------

    def account_exists(self, addr: str) -> bool:
        with self.lock:
            return render.hex41(addr) in self.state.accounts

    def trx_balance(self, addr: str) -> int:
        with self.lock:
            acc = self.state.account(render.hex41(addr))
            return acc.balance if acc else 0

    def token_balance(self, addr: str, contract: str = USDT_ADDRESS) -> int:
        with self.lock:
            return self._token(contract).balance_of(render.hex41(addr))

    def energy_available(self, addr: str) -> int:
        with self.lock:
            acc = self.state.account(render.hex41(addr))
            return acc.energy_left(self.state.params, now_ms()) if acc else 0

    def is_blacklisted(self, addr: str, contract: str = USDT_ADDRESS) -> bool:
        with self.lock:
            return render.hex41(addr) in self._token(contract).blacklist

    def _token(self, contract: str) -> Trc20Token:
        token = self.state.tokens.get(render.hex41(contract))
        if token is None:
            raise validate_error("No contract or not a smart contract")
        return token

    # --- admin and provider operations ---------------------------------------------------------------

    def fund(self, addr: str, sun: int) -> str:
        """Credit TRX now (activating the account); a system transfer is mined in the next block."""
        if sun <= 0:
            raise validate_error("Amount must be greater than 0.")
        with self.lock:
            to = render.hex41(addr)
            if to == self.faucet:
                raise validate_error("Cannot transfer TRX to yourself.")
            self.state.create_account(to, now_ms()).balance += sun
            self.state.accounts[self.faucet].balance -= sun
            value = {"owner_address": self.faucet, "to_address": to, "amount": sun}
            return self._enqueue_system("TransferContract", value, recorded=True)

    def mint(self, addr: str, amount: int, contract: str = USDT_ADDRESS) -> None:
        """Credit tokens now (does not activate); a Transfer log from the zero address is mined next."""
        if amount <= 0:
            raise validate_error("amount must be greater than 0")
        with self.lock:
            token = self._token(contract)
            to = render.hex41(addr)
            token.mint(to, amount)
            data = selector("mint(address,uint256)") + "0" * 24 + to[2:] + f"{amount:064x}"
            value = {"owner_address": token.origin, "contract_address": token.address, "data": data}
            logs = [transfer_log(token.address, ZERO_HEX, to, amount)]
            self._enqueue_system("TriggerSmartContract", value, recorded=True, logs=logs)

    def set_blacklisted(self, addr: str, blacklisted: bool = True, contract: str = USDT_ADDRESS) -> None:
        with self.lock:
            token = self._token(contract)
            if blacklisted:
                token.blacklist.add(render.hex41(addr))
            else:
                token.blacklist.discard(render.hex41(addr))

    def deploy_token(self, address: str, symbol: str, decimals: int = 6, name: str | None = None) -> None:
        """Add a TRC20 token with USDT's semantics at ``address`` (for multi-token sweeps); idempotent."""
        with self.lock:
            hex41 = render.hex41(address)
            if hex41 not in self.state.tokens:
                self.state.tokens[hex41] = Trc20Token(
                    address=hex41, name=name or symbol, symbol=symbol, decimals=decimals
                )

    def create_pool(self, addr: str, trx_sun: int, staked_energy_sun: int) -> None:
        """A system account (provider pool, stake wallet): activated, funded and staked for energy at once."""
        with self.lock:
            acc = self.state.create_account(render.hex41(addr), now_ms())
            acc.balance += trx_sun
            acc.frozen_energy += staked_energy_sun

    def delegate_energy(self, owner: str, receiver: str, energy: int) -> str:
        """System DelegateResourceContract for `energy` units; visible on the receiver once mined."""
        sun = max(resources.stake_for_energy(energy, self.state.params), 1_000_000)
        value = {
            "owner_address": render.hex41(owner),
            "resource": "ENERGY",
            "balance": sun,
            "receiver_address": render.hex41(receiver),
        }
        with self.lock:
            return self._enqueue_system("DelegateResourceContract", value)

    def undelegate_energy(self, owner: str, receiver: str, energy: int | None = None) -> str:
        """System UnDelegateResourceContract: `energy` units' worth of stake, or all of it (None)."""
        with self.lock:
            o, r = render.hex41(owner), render.hex41(receiver)
            d = self.state.delegation(o, r)
            delegated = d.energy if d else 0
            sun = (
                delegated
                if energy is None
                else min(resources.stake_for_energy(energy, self.state.params), delegated)
            )
            value = {"owner_address": o, "resource": "ENERGY", "balance": sun, "receiver_address": r}
            return self._enqueue_system("UnDelegateResourceContract", value)

    def transfer_trx(self, owner: str, to: str, sun: int) -> str:
        """System TRX transfer paying normal fees (activation: 1 TRX + 0.1 TRX charged to owner)."""
        value = {"owner_address": render.hex41(owner), "to_address": render.hex41(to), "amount": sun}
        with self.lock:
            return self._enqueue_system("TransferContract", value, fees=True)

    def update_params(self, values: dict[str, Any]) -> None:
        with self.lock:
            self.state.params.update(values)

    def _enqueue_system(
        self,
        ctype: str,
        value: dict[str, Any],
        *,
        recorded: bool = False,
        fees: bool = False,
        logs: list[dict[str, Any]] | None = None,
    ) -> str:
        head = self.blocks[-1]
        now = now_ms()
        raw: dict[str, Any] = {
            "contract": [
                {
                    "parameter": {"value": value, "type_url": f"type.googleapis.com/protocol.{ctype}"},
                    "type": ctype,
                }
            ],
            "ref_block_bytes": head.block_id[12:16],
            "ref_block_hash": head.block_id[16:32],
            "expiration": now + SYSTEM_EXPIRATION_MS,
            "timestamp": now,
        }
        while True:  # identical system txs in one millisecond would share a txid
            raw_bytes = protobuf.encode_raw(raw)
            txid = hashlib.sha256(raw_bytes).hexdigest()
            if txid not in self.pending and txid not in self.tx_index:
                break
            raw["timestamp"] += 1
        size = protobuf.transaction_size(raw, ["00" * 65]) if fees else len(raw_bytes)
        tx = Tx(
            txid=txid,
            raw=raw,
            raw_hex=raw_bytes.hex(),
            signatures=[],
            ctype=ctype,
            value=value,
            owner=value["owner_address"],
            nbytes=size + 64,
            expiration=raw["expiration"],
            system=True,
            fees=fees,
            recorded=recorded,
            logs=logs or [],
        )
        self._admit(tx)
        return txid

    # --- broadcast path -------------------------------------------------------------------------------

    def parse(self, body: dict[str, Any], visible: bool = False) -> Tx:
        return admission.parse(body, visible)

    def submit(self, tx: Tx) -> str:
        """Admit a signed transaction into the pending pool (java-tron's checks, in its order)."""
        with self.lock:
            admission.check_tapos(tx.raw, self.recent_refs)
            admission.check_expiration(tx.expiration, self.blocks[-1].timestamp)
            if tx.txid in self.pending or tx.txid in self.tx_index:
                raise ChainError("DUP_TRANSACTION_ERROR", "Dup transaction.")
            admission.check_signatures(tx)
            self._admit(tx)
            return tx.txid

    def _admit(self, tx: Tx) -> None:
        reserved = self.reserved.get(tx.owner, Reservation())
        res = execution.admit(self.state, tx, now_ms(), reserved)
        tx.reservation = res
        self.reserved[tx.owner] = Reservation(reserved.trx + res.trx, reserved.stake + res.stake)
        self.pending[tx.txid] = tx

    def sign_weight(self, body: dict[str, Any], visible: bool = False) -> dict[str, Any]:
        tx = admission.parse(body, visible)
        with self.lock:
            exists = tx.owner in self.state.accounts
        return admission.sign_weight(tx, exists, visible)

    # --- block production ----------------------------------------------------------------------------

    def on_block(self, callback: Callable[[int], None]) -> None:
        with self.lock:
            self._callbacks.append(callback)

    def produce_blocks(self, n: int = 1) -> int:
        """Mine `n` blocks (pending txs go into the first); returns the new head number."""
        head = self.head_number()
        for _ in range(max(n, 0)):
            head = self._produce_one()
            for callback in list(self._callbacks):
                try:
                    callback(head)
                except Exception:
                    log.exception("on_block callback failed at block %s", head)
        return head

    def _produce_one(self) -> int:
        with self.lock:
            parent = self.blocks[-1]
            block = Block(
                parent.number + 1, parent.block_id, max(now_ms(), parent.timestamp + 1), self.witness
            )
            for tx in self.pending.values():
                if not tx.system and tx.expiration <= block.timestamp:
                    self.dropped.append((tx.txid, "expired"))
                    continue
                try:
                    block.txs.append(execution.execute(self.state, tx, block.number, block.timestamp))
                except ChainError as exc:
                    log.info("dropping %s: %s", tx.txid, exc)
                    self.dropped.append((tx.txid, f"{exc.code}: {exc.message}"))
            self.pending.clear()
            self.reserved.clear()
            self._append(block.seal())
            return block.number

    def _append(self, block: Block) -> None:
        self.blocks.append(block)
        self.block_numbers[block.block_id] = block.number
        self.recent_refs[block.block_id[12:16]] = block.block_id
        for i, rec in enumerate(block.txs):
            self.tx_index[rec.txid] = (block.number, i)

    # --- persistence ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the whole chain (pending transactions are not kept)."""
        with self.lock:
            return {
                "version": 1,
                "state": self.state.to_dict(),
                "blocks": [b.to_dict() for b in self.blocks],
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.state = State.from_dict(data["state"])
            self.blocks, self.block_numbers, self.tx_index, self.recent_refs = [], {}, {}, {}
            self.pending.clear()
            self.reserved.clear()
            for b in data["blocks"]:
                self._append(Block.from_dict(b))
