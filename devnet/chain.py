"""The devnet chain: all TRON state in memory behind one RLock, a pending pool, and block production.

Public methods take addresses in any form (base58 `T…`, hex `41…`) and are what the node API, the
admin API and the provider simulators use. Blocks are produced by `produce_blocks` (the server calls it
once per slot); `on_block` callbacks run after each block, outside the lock.

State is kept in layers (`devnet/state.py`): the solid state, one copy-on-write layer per block above
the solid block, the open layer the next block is built on (admin credits land there at once), and the
pending pool's layer on top of that. A broadcast is executed on the pending layer, as java-tron's
`Manager.pushTransaction` does, so a transaction nothing can pay for is refused at once, and the next
one sees the bandwidth, energy and TRX the earlier ones use. `/walletsolidity` reads the solid layer.

Time is the head block's: block timestamps sit on slots of `slot_ms` from the genesis block (a block
that comes late skips slots), resources recover by the head block's 3 s slot, expiration is judged
against the head block (`Manager.validateCommon`) and, at broadcast, against the next slot
(`Wallet.broadcastTransaction` → `TransactionCapsule.checkExpiration`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from devnet import admission, energy, protobuf, render, resources
from devnet.accounts import BANDWIDTH, ENERGY
from devnet.actuators import BLOCK_MS, Ctx, undelegatable
from devnet.blocks import ZERO_HASH, Block, TxRecord
from devnet.crypto import priv_to_address, selector
from devnet.errors import ChainError, validate_error
from devnet.execution import Clock, Tx, execute
from devnet.params import ChainParams
from devnet.state import State
from devnet.usdt import MAX_DECIMALS, USDT_ADDRESS, ZERO_HEX, Trc20Token, transfer_log

__all__ = ["USDT_ADDRESS", "Chain", "ChainError"]

log = logging.getLogger("devnet.chain")

FAUCET_PRIVATE_KEY = hashlib.sha256(b"sweeper devnet faucet").digest()
WITNESS_PRIVATE_KEY = hashlib.sha256(b"sweeper devnet witness").digest()
FAUCET_BALANCE = 10**17  # 100 billion TRX for admin funding
SYSTEM_EXPIRATION_MS = 60_000
TYPE_URL = "type.googleapis.com/protocol."
SNAPSHOT_VERSION = 2


def now_ms() -> int:
    return int(time.time() * 1000)


class Chain:
    """Thread-safe TRON state machine: accounts, TRC20 tokens, Stake 2.0, blocks, receipts."""

    def __init__(
        self, *, params: ChainParams | None = None, solid_depth: int = 18, slot_ms: int = BLOCK_MS
    ) -> None:
        if slot_ms <= 0:
            raise ValueError("slot_ms must be positive")
        self.lock = threading.RLock()
        self.solid_depth = solid_depth
        self.slot_ms = slot_ms
        self.faucet = render.hex41(priv_to_address(FAUCET_PRIVATE_KEY))
        self.witness = render.hex41(priv_to_address(WITNESS_PRIVATE_KEY))
        self.blocks: list[Block] = []
        self.block_numbers: dict[str, int] = {}
        self.tx_index: dict[str, tuple[int, int]] = {}
        self.recent_refs: dict[str, str] = {}  # ref_block_bytes -> block id (newest wins: 65 536 window)
        self.pending: dict[str, Tx] = {}
        self.dropped: deque[tuple[str, str]] = deque(maxlen=1000)
        self._callbacks: list[Callable[[int], None]] = []
        genesis = now_ms()
        genesis -= genesis % BLOCK_MS  # on a 3 s boundary, so resource slots are whole
        self._reset_state(State(params), 0)
        self._base.create_account(self.faucet, genesis).balance = FAUCET_BALANCE
        self._append(Block(0, ZERO_HASH, genesis, self.witness).seal())

    def _reset_state(self, base: State, number: int) -> None:
        self._base = base  # the state after block `_base_number` (the solid block)
        self._base_number = number
        self._layers: deque[State] = deque()  # the states after blocks _base_number + 1 … head
        self._open = base.child()  # head state plus admin credits; the next block is built on it
        self._pending_state: State | None = None

    # --- clock and heads ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return now_ms()

    @property
    def state(self) -> State:
        """The head state (what `/wallet` reads): the last block plus admin credits since."""
        return self._open

    def solid_state(self) -> State:
        """The state after the solid block (what `/walletsolidity` reads)."""
        with self.lock:
            n = self.solid_number()
            if n <= self._base_number or not self._layers:
                return self._base
            return self._layers[min(n - self._base_number, len(self._layers)) - 1]

    def view(self, solid: bool = False) -> tuple[State, Clock]:
        """The state a read answers from and the clock it is read at (the head or the solid block)."""
        with self.lock:
            block = self.solid_block() if solid else self.blocks[-1]
            return (self.solid_state() if solid else self._open), self._clock(block)

    def _clock(self, head: Block) -> Clock:
        params = self._open.params
        cycle = energy.cycle_number(
            head.timestamp, self.blocks[0].timestamp, params.maintenance_time_interval
        )
        return Clock(head.timestamp, head.number + 1, head.timestamp + self.slot_ms, cycle, self.slot_ms)

    def head_number(self) -> int:
        with self.lock:
            return self.blocks[-1].number

    def head_block(self) -> Block:
        with self.lock:
            return self.blocks[-1]

    def head_time(self) -> int:
        with self.lock:
            return self.blocks[-1].timestamp

    def next_slot_time(self) -> int:
        """When the next block may be produced: the head block's timestamp plus one slot."""
        with self.lock:
            return self.blocks[-1].timestamp + self.slot_ms

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
            return acc.energy_left(self.state.params, self._head_slot()) if acc else 0

    def bandwidth_available(self, addr: str) -> tuple[int, int]:
        """(free, staked) bandwidth bytes the address could spend now (0, 0 when not activated)."""
        with self.lock:
            acc = self.state.account(render.hex41(addr))
            if acc is None:
                return 0, 0
            params, slot = self.state.params, self._head_slot()
            return acc.free_net_left(params, slot), acc.staked_net_left(params, slot)

    def is_blacklisted(self, addr: str, contract: str = USDT_ADDRESS) -> bool:
        with self.lock:
            return render.hex41(addr) in self._token(contract).blacklist

    def _head_slot(self) -> int:
        return resources.slot_of(self.blocks[-1].timestamp)

    def _token(self, contract: str) -> Trc20Token:
        token = self.state.tokens.get(render.hex41(contract))
        if token is None:
            raise validate_error("No contract or not a smart contract")
        return token

    # --- admin and provider operations ---------------------------------------------------------------

    def _apply_now(self, effect: Callable[[State], None]) -> None:
        """Change the head state at once (admin credits): the pending layer first, then the open layer.

        The pending layer copies what it reads from the open layer, so applying the effect to it before
        the open layer changes keeps both right whether or not it had copied the object already.
        """
        if self._pending_state is not None:
            effect(self._pending_state)
        effect(self._open)

    def fund(self, addr: str, sun: int) -> str:
        """Credit TRX now (activating the account); a system transfer is mined in the next block."""
        if sun <= 0:
            raise validate_error("Amount must be greater than 0.")
        with self.lock:
            to = render.hex41(addr)
            if to == self.faucet:
                raise validate_error("Cannot transfer TRX to yourself.")
            head = self.head_time()

            def credit(st: State) -> None:
                st.create_account(to, head).balance += sun
                faucet = st.accounts[self.faucet]
                faucet.balance -= sun

            self._apply_now(credit)
            value = {"owner_address": self.faucet, "to_address": to, "amount": sun}
            return self._enqueue_system("TransferContract", value, recorded=True)

    def mint(self, addr: str, amount: int, contract: str = USDT_ADDRESS) -> None:
        """Credit tokens now (does not activate); a Transfer log from the zero address is mined next."""
        if amount <= 0:
            raise validate_error("amount must be greater than 0")
        with self.lock:
            token = self._token(contract)
            to = render.hex41(addr)
            if token.total_supply + amount > 2**256 - 1:
                raise validate_error("amount overflows the token's uint256 total supply")
            self._apply_now(lambda st: st.tokens[token.address].mint(to, amount))
            data = selector("mint(address,uint256)") + "0" * 24 + to[2:] + f"{amount:064x}"
            value = {"owner_address": token.origin, "contract_address": token.address, "data": data}
            logs = [transfer_log(token.address, ZERO_HEX, to, amount)]
            self._enqueue_system("TriggerSmartContract", value, recorded=True, logs=logs)

    def set_blacklisted(self, addr: str, blacklisted: bool = True, contract: str = USDT_ADDRESS) -> None:
        with self.lock:
            token_hex = self._token(contract).address
            who = render.hex41(addr)

            def flag(st: State) -> None:
                blacklist = st.tokens[token_hex].blacklist
                if blacklisted:
                    blacklist.add(who)
                else:
                    blacklist.discard(who)

            self._apply_now(flag)

    def deploy_token(
        self,
        address: str,
        symbol: str,
        decimals: int = 6,
        name: str | None = None,
        *,
        holder_energy: int | None = None,
        new_holder_energy: int | None = None,
        energy_factor: int | None = None,
        emits_transfer: bool = True,
    ) -> None:
        """Add a TRC20 token with USDT's semantics at ``address`` (for multi-token sweeps); idempotent.

        `holder_energy` / `new_holder_energy` are the base energy (before the dynamic-energy penalty) of
        a transfer to an address that holds / does not hold the token; USDT's by default.
        """
        if not 0 <= decimals <= MAX_DECIMALS:
            raise ValueError(f"decimals must be between 0 and {MAX_DECIMALS}")
        for label, value in (("holder_energy", holder_energy), ("new_holder_energy", new_holder_energy)):
            if value is not None and value <= 0:
                raise ValueError(f"{label} must be a positive number of energy")
        if energy_factor is not None and energy_factor < 0:
            raise ValueError("energy_factor must be >= 0")
        with self.lock:
            hex41 = render.hex41(address)
            if hex41 in self.state.tokens:
                return
            token = Trc20Token(address=hex41, name=name or symbol, symbol=symbol, decimals=decimals)
            if holder_energy is not None:
                token.holder_energy = holder_energy
            if new_holder_energy is not None:
                token.new_holder_energy = new_holder_energy
            token.energy_factor = energy_factor
            token.emits_transfer = emits_transfer

            def deploy(st: State) -> None:  # each layer its own object: nothing below holds the token
                st.tokens[hex41] = replace(token, balances={}, blacklist=set())

            self._apply_now(deploy)

    def set_energy_factor(self, contract: str, factor: int | None) -> None:
        """Set a contract's energy_factor (None: follow the chain default `ChainParams.energy_factor`)."""
        if factor is not None and (isinstance(factor, bool) or factor < 0):
            raise ValueError("factor must be an integer >= 0 (x10 000 over 1, e.g. 34000 = 3.4x penalty)")
        with self.lock:
            token_hex = self._token(contract).address

            def set_factor(st: State) -> None:
                st.tokens[token_hex].energy_factor = factor

            self._apply_now(set_factor)

    def energy_factor(self, contract: str) -> int:
        """The factor a call to `contract` is charged at now."""
        with self.lock:
            params = self.state.params
            return self._token(contract).factor(params.energy_factor, params.allow_dynamic_energy == 1)

    def create_pool(
        self, addr: str, trx_sun: int, staked_energy_sun: int, staked_bandwidth_sun: int = 0
    ) -> None:
        """A system account (provider pool, stake wallet): activated, funded and staked at once."""
        with self.lock:
            hex41, head = render.hex41(addr), self.head_time()

            def pool(st: State) -> None:
                acc = st.create_account(hex41, head)
                acc.balance += trx_sun
                acc.frozen_energy += staked_energy_sun
                acc.frozen_net += staked_bandwidth_sun

            self._apply_now(pool)

    def delegate_energy(
        self, owner: str, receiver: str, energy: int, *, lock: bool = False, lock_period: int = 0
    ) -> str:
        """System DelegateResourceContract for `energy` units; visible on the receiver once mined."""
        sun = max(resources.stake_for_energy(energy, self.state.params), 1_000_000)
        return self._delegate(owner, receiver, ENERGY, sun, lock=lock, period=lock_period)

    def delegate_bandwidth(
        self, owner: str, receiver: str, nbytes: int, *, lock: bool = False, lock_period: int = 0
    ) -> str:
        """System DelegateResourceContract (BANDWIDTH) of the stake that grants `nbytes` of NetLimit."""
        sun = max(resources.stake_for_net(nbytes, self.state.params), 1_000_000)
        return self._delegate(owner, receiver, BANDWIDTH, sun, lock=lock, period=lock_period)

    def _delegate(
        self, owner: str, receiver: str, resource: str, sun: int, *, lock: bool, period: int
    ) -> str:
        value: dict[str, Any] = {
            "owner_address": render.hex41(owner),
            "resource": resource,
            "balance": sun,
            "receiver_address": render.hex41(receiver),
        }
        if lock:
            value["lock"] = True
            if period:
                value["lock_period"] = period
        with self.lock:
            return self._enqueue_system("DelegateResourceContract", value)

    def undelegate_energy(self, owner: str, receiver: str, energy: int | None = None) -> str:
        """System UnDelegateResourceContract: `energy` units' worth of stake, or all it may take back."""
        with self.lock:
            sun = None if energy is None else resources.stake_for_energy(energy, self.state.params)
            return self._undelegate(owner, receiver, ENERGY, sun)

    def undelegate_bandwidth(self, owner: str, receiver: str, nbytes: int | None = None) -> str:
        """System UnDelegateResourceContract (BANDWIDTH): `nbytes`' worth of stake, or all it may."""
        with self.lock:
            sun = None if nbytes is None else resources.stake_for_net(nbytes, self.state.params)
            return self._undelegate(owner, receiver, BANDWIDTH, sun)

    def _undelegate(self, owner: str, receiver: str, resource: str, sun: int | None) -> str:
        o, r = render.hex41(owner), render.hex41(receiver)
        state = self._pending_state or self._open  # what the owner may take back after what waits
        acc = state.peek_account(o)
        available = 0
        if acc is not None:
            head = self.head_time()
            available = undelegatable(Ctx(state, head, resources.slot_of(head), acc, 0), r, resource)
        amount = available if sun is None else min(sun, available)
        value = {"owner_address": o, "resource": resource, "balance": amount, "receiver_address": r}
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
        now = max(now_ms(), head.timestamp)
        raw: dict[str, Any] = {
            "contract": [
                {
                    "parameter": {"value": value, "type_url": f"type.googleapis.com/protocol.{ctype}"},
                    "type": ctype,
                }
            ],
            "ref_block_bytes": head.block_id[12:16],
            "ref_block_hash": head.block_id[16:32],
            "expiration": head.timestamp + SYSTEM_EXPIRATION_MS,
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
        """Admit a signed transaction into the pending pool (java-tron's checks, in its order).

        Wallet.broadcastTransaction checks the expiration against the next slot, then
        Manager.pushTransaction the signature, then processTransaction TaPoS, the validity window, the
        duplicate, and runs the transaction on the pending state (bandwidth, fees, actuator or VM).
        """
        with self.lock:
            head = self.blocks[-1]
            admission.check_next_slot(tx.expiration, head.timestamp + self.slot_ms)
            admission.check_signatures(tx)
            admission.check_tapos(tx.raw, self.recent_refs)
            admission.check_expiration(tx.expiration, head.timestamp)
            if tx.txid in self.pending or tx.txid in self.tx_index:
                raise ChainError("DUP_TRANSACTION_ERROR", "Dup transaction.")
            self._admit(tx)
            return tx.txid

    def _admit(self, tx: Tx) -> None:
        """Run `tx` on the pending state; a ChainError refuses it and leaves the pending state as it was."""
        if self._pending_state is None:
            self._pending_state = self._open.child()
        try:
            execute(self._pending_state, tx, self._clock(self.blocks[-1]))
        except ChainError:
            raise
        except Exception:  # a bug half-way: rebuild the pending state from what was accepted before
            log.exception("pending execution of %s failed", tx.txid)
            self._rebuild_pending()
            raise
        self.pending[tx.txid] = tx

    def _rebuild_pending(self) -> None:
        self._pending_state = self._open.child()
        clock = self._clock(self.blocks[-1])
        for txid, tx in list(self.pending.items()):
            try:
                execute(self._pending_state, tx, clock)
            except ChainError as exc:
                del self.pending[txid]
                self.dropped.append((txid, f"{exc.code}: {exc.message}"))

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
            self._notify(head)
        return head

    def produce_if_due(self) -> int | None:
        """The block producer's tick: mine one block if the head's next slot has come, else None."""
        with self.lock:
            if now_ms() < self.next_slot_time():
                return None
            head = self._produce_one()
        self._notify(head)
        return head

    def _notify(self, head: int) -> None:
        for callback in list(self._callbacks):
            try:
                callback(head)
            except Exception:
                log.exception("on_block callback failed at block %s", head)

    def _next_timestamp(self, parent: Block) -> int:
        """The slot a block produced now sits on: the current one, or the next after the parent's."""
        genesis = self.blocks[0].timestamp
        now = now_ms()
        current = genesis + max(now - genesis, 0) // self.slot_ms * self.slot_ms
        return max(current, parent.timestamp + self.slot_ms)

    def _produce_one(self) -> int:
        with self.lock:
            parent = self.blocks[-1]
            block = Block(parent.number + 1, parent.block_id, self._next_timestamp(parent), self.witness)
            clock = self._clock(parent)
            clock = Clock(clock.head_ms, block.number, block.timestamp, clock.cycle, clock.interval_ms)
            for tx in self.pending.values():
                # Manager.validateCommon at the parent's time, and in a block checkExpiration(next slot)
                if not tx.system and tx.expiration < parent.timestamp + self.slot_ms:
                    self.dropped.append((tx.txid, "expired"))
                    continue
                try:
                    block.txs.append(execute(self._open, tx, clock))
                except ChainError as exc:
                    log.info("dropping %s: %s", tx.txid, exc)
                    self.dropped.append((tx.txid, f"{exc.code}: {exc.message}"))
            self.pending.clear()
            self._pending_state = None
            self._layers.append(self._open)
            self._open = self._open.child()
            self._append(block.seal())
            self._solidify()
            return block.number

    def _solidify(self) -> None:
        """Fold the layers of blocks that became solid into the solid state."""
        while self._layers and self._base_number < self.solid_number():
            oldest = self._layers.popleft()
            oldest.merge_into(self._base)
            self._base_number += 1
            (self._layers[0] if self._layers else self._open).rebase(self._base)

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
                "version": SNAPSHOT_VERSION,
                "state": self._open.to_dict(),
                "blocks": [b.to_dict() for b in self.blocks],
            }

    def restore(self, data: dict[str, Any]) -> None:
        """Load a snapshot; the solid state equals the head state until new blocks are produced."""
        with self.lock:
            base = State.from_dict(data["state"], data.get("version", 1))
            self.blocks, self.block_numbers, self.tx_index, self.recent_refs = [], {}, {}, {}
            self.pending.clear()
            for b in data["blocks"]:
                self._append(Block.from_dict(b))
            self._reset_state(base, self.blocks[-1].number)
