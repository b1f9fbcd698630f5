"""``TronChain``: the ``Chain`` port implemented with tronpy over our own node transport (``urllib3``).

Queries and transaction building go through tronpy (its request shapes are what nodes expect); the block
scan calls ``gettransactioninfobyblocknum`` directly, because it is the hot path and tronpy adds nothing
there. Every upstream failure leaves this module as a ``sweeper.errors`` type.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Container, Sequence
from typing import Any

import httpx
import structlog
from tronpy import Tron
from tronpy.exceptions import TransactionNotFound
from tronpy.tron import Transaction, TransactionBuilder

from sweeper.chain import signing
from sweeper.chain import txid as local_txid
from sweeper.chain.addresses import ZERO_ADDRESS, abi_word, to_hex, validate
from sweeper.chain.balances import BalanceReader
from sweeper.chain.errors import from_node_code, translating
from sweeper.chain.intent import TRX_ASSET, Intent, IntentKind, current_sweep
from sweeper.chain.logs import contract_lookup, transfers_in
from sweeper.chain.port import Signer, TokenTransfer
from sweeper.chain.receipts import parse_receipt
from sweeper.chain.transport import HttpxNodeHttp, NodeHttp, NodeProvider, Urllib3NodeHttp
from sweeper.errors import AccountNotActivated, ChainRejected, ChainUnavailable, SweeperError
from sweeper.models import BlockRef, BroadcastOutcome, ChainParameters, Receipt, Resources, SignedTx

log = structlog.get_logger("sweeper.chain")

TRANSFER_SELECTOR = "a9059cbb"  # transfer(address,uint256)
PARAMETERS_TTL_S = 600.0
"""Chain parameters change only by SR proposal (at a maintenance period): read them every 10 minutes."""
BROADCAST_OUTCOMES = {
    # Answers about the transaction itself, not failures: the caller decides what each means for a sweep.
    "DUP_TRANSACTION_ERROR": BroadcastOutcome.ALREADY_KNOWN,
    "TRANSACTION_EXPIRATION_ERROR": BroadcastOutcome.EXPIRED,
    "BANDWITH_ERROR": BroadcastOutcome.NO_BANDWIDTH,
}
STAKE_RATIO_TTL_S = 60.0
BLOCK_PACE_SPAN = 20
"""Blocks the mean block interval is measured over (``block_seconds``)."""
BLOCK_PACE_TTL_S = 600.0
BLOCK_PACE_RETRY_S = 60.0
"""After a failed measurement, the default serves this long before the node is asked again."""
SOLID_LAG_TTL_S = 60.0
"""How long the solid block's lag behind the head, as last read, paces a first wait (``solid_lag``)."""
DEFAULT_BLOCK_MS = 3_000
"""TRON's block interval (java-tron ``BLOCK_PRODUCED_INTERVAL``, docs/TRON.md §8): used only while the chain
is too short to measure or the node cannot say."""
EXPIRATION_MS = 60_000
"""A transaction expires this long after the head block it was built on (TronWeb's and java-tron's
default); judged by the node against its head block, never against our clock (docs/TRON.md §2.2)."""


class TronChain:
    """The TRON node as the sweeper sees it. One instance per process; thread-safe for queries.

    ``reference_address`` (e.g. the hot wallet or stake pool) is an activated account whose resource view
    carries the network's energy totals; without it the first activated account seen is used.
    """

    def __init__(
        self,
        node_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        reference_address: str | None = None,
    ) -> None:
        # Without a client of the caller's, the node's traffic goes over urllib3 (sweeper/chain/transport.py).
        self._owns_http = http is None
        self._http: NodeHttp = Urllib3NodeHttp() if http is None else HttpxNodeHttp(http)
        self._provider = NodeProvider(node_url, http=self._http, timeout=timeout, api_key=api_key)
        self._tron = Tron(self._provider)
        self._reference = validate(reference_address) if reference_address else None
        self._cache: dict[str, tuple[float, int]] = {}
        self._params: tuple[float, ChainParameters] | None = None
        self._node_url, self._api_key, self._timeout = node_url, api_key, timeout

    def close(self) -> None:
        """Close the node transport if this instance created it (a caller's ``httpx.Client`` stays open)."""
        if self._owns_http:
            self._http.close()

    # --- accounts -------------------------------------------------------------------------------

    def is_activated(self, address: str) -> bool:
        with translating("getaccount"):
            return bool(self._call("wallet/getaccount", {"address": validate(address), "visible": True}))

    def trx_balance(self, address: str) -> int:
        with translating("getaccount"):
            account = self._call("wallet/getaccount", {"address": validate(address), "visible": True})
        return int(account.get("balance", 0)) if account else 0

    def token_balance(self, contract: str, address: str) -> int:
        return self._constant_uint(contract, "balanceOf(address)", abi_word(address))

    def token_balances(
        self, contract: str, addresses: Sequence[str], *, concurrency: int = 16
    ) -> list[int | SweeperError]:
        """Many balances at once, for the rescan: ``concurrency`` keep-alive connections, not the pool.

        Each entry is the balance or the error reading it raised (see ``sweeper.chain.balances``).
        """
        reader = BalanceReader(
            self._node_url, api_key=self._api_key, timeout=self._timeout, connections=concurrency
        )
        return reader.token_balances(contract, addresses)

    def is_blacklisted(self, contract: str, address: str) -> bool:
        return self._constant_uint(contract, "isBlackListed(address)", abi_word(address)) != 0

    def measure_transfer_energy(self, contract: str, owner: str, to: str, amount: int) -> int:
        """``triggerconstantcontract`` of the exact transfer: ``energy_used`` includes the dynamic-energy
        penalty; a node that does not report it is asked ``estimateenergy`` (docs/TRON.md §6)."""
        params = {
            "owner_address": validate(owner),
            "contract_address": validate(contract),
            "function_selector": "transfer(address,uint256)",
            "parameter": abi_word(to) + format(amount, "064x"),
            "visible": True,
        }
        with translating("triggerconstantcontract transfer"):
            answer = self._call("wallet/triggerconstantcontract", params)
        result = answer.get("result") or {}
        if result.get("message") or result.get("code"):
            raise ChainRejected(
                f"transfer of {contract} from {owner} would fail: {_node_text(result.get('message', ''))}",
                reason="transfer_would_fail",
            )
        used = int(answer.get("energy_used") or 0)
        if used > 0:
            return used
        with translating("estimateenergy"):
            estimate = self._call("wallet/estimateenergy", params)
        required = int(estimate.get("energy_required") or 0)
        if required <= 0:
            detail = _node_text((estimate.get("result") or {}).get("message", "no figure"))
            raise ChainUnavailable(f"the node cannot measure the transfer's energy: {detail}")
        return required

    def resources(self, address: str) -> Resources:
        return self.account(address) or Resources(0)

    def account(self, address: str) -> Resources | None:
        """``getaccount`` (empty for an account not on chain; its ``balance`` is the TRX), then
        ``getaccountresource`` for the energy and bandwidth: two requests, where ``is_activated`` and
        ``resources`` made three."""
        body = {"address": validate(address), "visible": True}
        with translating("getaccount"):
            account = self._call("wallet/getaccount", body)
        if not account:
            return None
        with translating("getaccountresource"):
            res = self._call("wallet/getaccountresource", body) or {}
        self._reference = self._reference or address  # an activated account to read network totals from
        energy = res.get("EnergyLimit", 0) - res.get("EnergyUsed", 0)
        free = res.get("freeNetLimit", 0) - res.get("freeNetUsed", 0)
        staked = res.get("NetLimit", 0) - res.get("NetUsed", 0)
        return Resources(
            energy=max(0, int(energy)),
            free_bandwidth=max(0, int(free)),
            staked_bandwidth=max(0, int(staked)),
            trx=int(account.get("balance", 0)),
        )

    # --- building and signing -------------------------------------------------------------------

    def build_token_transfer(
        self, contract: str, owner: Signer, to: str, amount: int, fee_limit_sun: int
    ) -> SignedTx:
        _positive(amount, fee_limit_sun)
        value = {
            "owner_address": to_hex(owner.address),
            "contract_address": to_hex(contract),
            "data": TRANSFER_SELECTOR + abi_word(to) + format(amount, "064x"),
            "call_token_value": 0,
            "call_value": 0,
            "token_id": 0,
        }
        inner = {
            "parameter": {"value": value, "type_url": "type.googleapis.com/protocol.TriggerSmartContract"},
            "type": "TriggerSmartContract",
        }
        with translating("build token transfer"):
            builder = TransactionBuilder(inner, client=self._tron).fee_limit(fee_limit_sun)
        return self._build_and_sign(builder, owner, _intent("trc20_transfer", contract, amount, to))

    def build_trx_transfer(self, owner: Signer, to: str, amount_sun: int) -> SignedTx:
        _positive(amount_sun)
        with translating("build trx transfer"):
            builder = self._tron.trx.transfer(validate(owner.address), validate(to), amount_sun)
        return self._build_and_sign(builder, owner, _intent("trx_transfer", TRX_ASSET, amount_sun, to))

    def build_delegate_energy(self, owner: Signer, receiver: str, balance_sun: int) -> SignedTx:
        return self._delegation(owner, receiver, balance_sun, "ENERGY", undo=False)

    def build_undelegate_energy(self, owner: Signer, receiver: str, balance_sun: int) -> SignedTx:
        return self._delegation(owner, receiver, balance_sun, "ENERGY", undo=True)

    def build_delegate_bandwidth(self, owner: Signer, receiver: str, balance_sun: int) -> SignedTx:
        return self._delegation(owner, receiver, balance_sun, "BANDWIDTH", undo=False)

    def build_undelegate_bandwidth(self, owner: Signer, receiver: str, balance_sun: int) -> SignedTx:
        return self._delegation(owner, receiver, balance_sun, "BANDWIDTH", undo=True)

    def _delegation(
        self, owner: Signer, receiver: str, balance_sun: int, resource: str, *, undo: bool
    ) -> SignedTx:
        _positive(balance_sun)
        build = self._tron.trx.undelegate_resource if undo else self._tron.trx.delegate_resource
        with translating("build undelegate" if undo else "build delegate"):
            builder = build(validate(owner.address), validate(receiver), balance_sun, resource=resource)
        intent = _intent("undelegate" if undo else "delegate", TRX_ASSET, balance_sun, receiver)
        return self._build_and_sign(builder, owner, intent)

    def _build_and_sign(self, builder: Any, owner: Signer, intent: Intent) -> SignedTx:
        head = self.head_block()
        # Chain time, not ours: a worker whose clock runs fast or slow still builds a valid transaction.
        builder._raw_data["timestamp"] = head.timestamp_ms
        builder._raw_data["expiration"] = head.timestamp_ms + EXPIRATION_MS
        with translating("build"):
            txn = _referenced(builder, head, self._tron)
        if txn._permission is None and not self.is_activated(owner.address):
            raise AccountNotActivated(f"owner {owner.address} is not activated")
        self._reference = self._reference or owner.address
        return signing.sign(txn, owner, intent, now_ms=head.timestamp_ms)

    # --- broadcasting and receipts --------------------------------------------------------------

    def broadcast(self, tx: SignedTx) -> BroadcastOutcome:
        try:
            stored = json.loads(tx.raw_json)  # the stored transaction, sent exactly as it was signed
            txn = Transaction.from_json(stored)
            intact = local_txid.txid(stored["raw_data"]) == tx.txid == stored["txID"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ChainRejected(f"stored transaction {tx.txid} is malformed", reason="malformed_tx") from exc
        if not intact:
            raise ChainRejected(
                f"stored transaction {tx.txid} does not hash to its txid", reason="malformed_tx"
            )
        with translating("broadcasttransaction"):
            answer = self._call("wallet/broadcasttransaction", txn.to_json())
        if answer.get("result") is True:
            return BroadcastOutcome.SENT
        code = str(answer.get("code") or "OTHER_ERROR")
        if code in BROADCAST_OUTCOMES:
            return BROADCAST_OUTCOMES[code]
        raise from_node_code(code, _node_text(answer.get("message", "")), f"broadcast {tx.txid}")

    def receipt(self, txid: str) -> Receipt | None:
        with translating("gettransactioninfobyid"):
            try:
                info = self._tron.get_transaction_info(_txid(txid))
            except TransactionNotFound:
                return None
        return parse_receipt(info)

    def solid_receipt(self, txid: str) -> Receipt | None:
        with translating("walletsolidity/gettransactioninfobyid"):
            info = self._call(
                "walletsolidity/gettransactioninfobyid", {"value": _txid(txid), "visible": True}
            )
        return parse_receipt(info) if isinstance(info, dict) else None

    def transaction_known(self, txid: str) -> bool:
        with translating("gettransactionbyid"):
            try:
                return bool(self._tron.get_transaction(_txid(txid)))
            except TransactionNotFound:
                return False

    def head_block_number(self) -> int:
        with translating("getnodeinfo"):
            return int(self._tron.get_latest_block_number())

    def solid_block_number(self) -> int:
        with translating("getnodeinfo"):
            return int(self._tron.get_latest_solid_block_number())

    def block_heights(self) -> tuple[int, int]:
        """``getnodeinfo`` holds both ``block`` and ``solidityBlock`` ("Num:N,ID:…", what tronpy parses
        for each of the two above), so one request answers both."""
        with translating("getnodeinfo"):
            info = self._call("wallet/getnodeinfo", {})
            head, solid = _node_height(info, "block"), _node_height(info, "solidityBlock")
        self._cache["solid_lag"] = (time.monotonic(), head - solid)
        return head, solid

    def solid_lag(self) -> int:
        """The lag the last ``block_heights`` saw, for ``SOLID_LAG_TTL_S``: a chain's solid block trails
        its head by a steady depth (18-19 blocks on mainnet, docs/TRON.md §8), and the looks of waiting
        sweeps read it often, so the first wait after a broadcast asks nothing."""
        return self._cached("solid_lag", SOLID_LAG_TTL_S, lambda: _lag(*self.block_heights()))

    def head_block(self) -> BlockRef:
        """The head's header: ``getblock`` without ``id_or_num`` is the head, and ``detail: false`` leaves
        out its transactions (java-tron ``Wallet.getBlock``, docs/TRON.md §8), which ``getnowblock`` sends
        whole (a mainnet block's hundreds of transactions, to read two numbers). A node that has no
        ``getblock`` (java-tron before 4.5.2: HTTP 404) or answers it without a header is asked
        ``getnowblock``; one that is down or rate-limits us is not asked twice."""
        try:
            with translating("getblock"):
                return _block_ref(self._call("wallet/getblock", {"detail": False}))
        except ChainUnavailable as exc:
            if exc.reason not in HEADERLESS:
                raise
        with translating("getnowblock"):
            return _block_ref(self._call("wallet/getnowblock", {"visible": True}))

    def solid_block(self) -> BlockRef:
        with translating("walletsolidity/getnowblock"):
            return _block_ref(self._call("walletsolidity/getnowblock", {"visible": True}))

    def block_seconds(self) -> float:
        """Mean interval of the last ``BLOCK_PACE_SPAN`` blocks from their headers (``/wallet/getblock``
        with ``detail: false``: no transactions), read once per ``BLOCK_PACE_TTL_S``. Missed slots
        lengthen it, as they lengthen every wait for blocks.

        It only paces waits, so a node that cannot answer (down, or a gateway without ``getblock``)
        gets TRON's 3 s and is asked again after ``BLOCK_PACE_RETRY_S``; it never stops a sweep.
        """
        now = time.monotonic()
        hit = self._cache.get("block_ms")
        if hit is None or now - hit[0] >= BLOCK_PACE_TTL_S:
            try:
                hit = (now, self._read_block_ms())
            except SweeperError as exc:
                log.warning("chain.block_interval_unread", error=str(exc), assumed_ms=DEFAULT_BLOCK_MS)
                hit = (now - BLOCK_PACE_TTL_S + BLOCK_PACE_RETRY_S, DEFAULT_BLOCK_MS)
            self._cache["block_ms"] = hit
        return hit[1] / 1000

    def _read_block_ms(self) -> int:
        with translating("getblock"):
            head = _block_ref(self._call("wallet/getblock", {"detail": False}))
            span = min(BLOCK_PACE_SPAN, head.number)
            if span <= 0:
                return DEFAULT_BLOCK_MS
            body = {"id_or_num": str(head.number - span), "detail": False}
            earlier = _block_ref(self._call("wallet/getblock", body))
        return max(1, (head.timestamp_ms - earlier.timestamp_ms) // span)

    def genesis_block_id(self) -> str:
        """Block 0's id: its last 4 bytes name the network (java-tron's ``eth_chainId``, docs/TRON.md)."""
        with translating("getblockbynum"):
            answer = self._call("wallet/getblockbynum", {"num": 0})
        block_id = answer.get("blockID") if isinstance(answer, dict) else None
        if not isinstance(block_id, str) or not block_id:
            raise ChainUnavailable("getblockbynum: the node returned no genesis block")
        return block_id

    # --- staking --------------------------------------------------------------------------------

    def can_delegate_max_sun(self, owner: str, resource: str = "ENERGY") -> int:
        with translating("getcandelegatedmaxsize"):
            answer = self._tron.get_can_delegated_max_size(validate(owner), resource)
            self._tron._handle_api_error(answer)
        if answer:
            self._reference = self._reference or owner
        return int(answer.get("max_size", 0))

    def delegated_energy_sun(self, owner: str, receiver: str) -> int:
        return self._delegated(owner, receiver, "frozen_balance_for_energy")

    def delegated_bandwidth_sun(self, owner: str, receiver: str) -> int:
        return self._delegated(owner, receiver, "frozen_balance_for_bandwidth")

    def _delegated(self, owner: str, receiver: str, key: str) -> int:
        with translating("getdelegatedresourcev2"):
            answer = self._tron.get_delegated_resource_v2(validate(owner), validate(receiver))
            self._tron._handle_api_error(answer)
        entries = answer.get("delegatedResource") or ()
        return sum(int(e.get(key, 0)) for e in entries)

    def sun_per_energy_staked(self) -> int:
        """Sun of staked TRX per unit of daily energy, rounded up (1 energy = 100,000 sun on the devnet)."""
        return self._cached("stake_ratio", STAKE_RATIO_TTL_S, lambda: self._read_ratio("Energy"))

    def sun_per_bandwidth_staked(self) -> int:
        return self._cached("net_ratio", STAKE_RATIO_TTL_S, lambda: self._read_ratio("Net"))

    def energy_price_sun(self) -> int:
        return self.chain_parameters().energy_fee

    def chain_parameters(self) -> ChainParameters:
        now = time.monotonic()
        hit = self._params
        if hit is not None and now - hit[0] < PARAMETERS_TTL_S:
            return hit[1]
        with translating("getchainparameters"):
            answer = self._call("wallet/getchainparameters", {})
        params = _parameters(answer.get("chainParameter") or ())
        self._params = (now, params)
        return params

    def _read_ratio(self, kind: str) -> int:
        for address in (self._reference, ZERO_ADDRESS):
            if address is None:
                continue
            with translating("getaccountresource"):
                res = self._call("wallet/getaccountresource", {"address": address, "visible": True})
            weight, limit = int(res.get(f"Total{kind}Weight", 0)), int(res.get(f"Total{kind}Limit", 0))
            if weight and limit:
                return -(-weight * 1_000_000 // limit)
        raise ChainUnavailable(
            f"getaccountresource: no activated account known to read the {kind.lower()} totals from "
            "(pass reference_address)"
        )

    def _cached(self, key: str, ttl: float, read: Callable[[], int]) -> int:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        value = read()
        self._cache[key] = (now, value)
        return value

    # --- blocks ---------------------------------------------------------------------------------

    def block_transfers(
        self,
        start: int,
        end: int,
        contracts: Collection[str],
        *,
        recipients: Container[int] | None = None,
    ) -> list[TokenTransfer]:
        lookup = contract_lookup(contracts)
        found: list[TokenTransfer] = []
        if not lookup:
            return found
        for number in range(start, end + 1):
            with translating(f"gettransactioninfobyblocknum {number}"):
                infos = self._call("wallet/gettransactioninfobyblocknum", {"num": number, "visible": True})
            if not isinstance(infos, list):  # an empty block may come back as {}
                continue
            found.extend(transfers_in(infos, lookup, recipients))
        return found

    # --- plumbing -------------------------------------------------------------------------------

    def _constant_uint(self, contract: str, selector: str, parameter: str) -> int:
        with translating(f"triggerconstantcontract {selector}"):
            answer = self._tron.trigger_constant_contract(
                ZERO_ADDRESS, validate(contract), selector, parameter
            )
        results = answer.get("constant_result") or [""]
        return int(results[0][:64] or "0", 16)

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        answer = self._provider.make_request(method, params)
        if isinstance(answer, dict) and "Error" in answer:
            self._tron._handle_api_error(answer)
        return answer


def _parameters(entries: Any) -> ChainParameters:
    """``chainParameter`` entries as values; java-tron omits ``value`` when it is 0 (docs/TRON.md §9)."""
    values = {str(e.get("key")): int(e.get("value", 0)) for e in entries if isinstance(e, dict)}
    if "getEnergyFee" not in values or "getTransactionFee" not in values:
        raise ChainUnavailable(
            "getchainparameters: the node did not report getEnergyFee and getTransactionFee"
        )
    return ChainParameters(
        energy_fee=values["getEnergyFee"],
        transaction_fee=values["getTransactionFee"],
        create_account_fee=values.get("getCreateAccountFee", 0),
        create_new_account_fee_in_system_contract=values.get("getCreateNewAccountFeeInSystemContract", 0),
        free_net_limit=values.get("getFreeNetLimit", 0),
        max_fee_limit=values.get("getMaxFeeLimit") or None,
    )


def _lag(head: int, solid: int) -> int:
    return head - solid


def _node_height(info: Any, key: str) -> int:
    text = str((info or {}).get(key) or "")
    if not text.startswith("Num:"):
        raise ChainUnavailable(f"getnodeinfo: no {key} height in the node's answer")
    return int(text.split(",ID:", 1)[0].removeprefix("Num:"))


HEADERLESS = frozenset({"http_404", "node_error", "no_block_header"})
"""How a node without ``getblock`` answers it: no such path, an error, or a body without a header."""


def _block_ref(block: Any) -> BlockRef:
    raw = ((block or {}).get("block_header") or {}).get("raw_data") or {}
    if "timestamp" not in raw:
        raise ChainUnavailable("the node answered a block without a header", reason="no_block_header")
    block_id = str(block.get("blockID") or "")
    return BlockRef(number=int(raw.get("number", 0)), timestamp_ms=int(raw["timestamp"]), block_id=block_id)


def _referenced(builder: Any, head: BlockRef, client: Tron) -> Transaction:
    """The transaction with its TaPoS reference on ``head``, the block just read for its time.

    TronWeb references the head block it reads with ``getblock`` (docs/TRON.md §12), so only
    ``getsignweight`` (txid and the owner's permission) is asked; tronpy's own build would first ask
    ``getnodeinfo`` for the solid block. A head without a well-formed id (an old node's answer without
    ``blockID``, or an id whose first 8 bytes are not the header's number) is built the tronpy way.
    """
    block_id = head.block_id
    try:
        ours = len(block_id) == 64 and int(block_id[:16], 16) == head.number
    except ValueError:
        ours = False
    if not ours:
        return builder.build()  # getnodeinfo (reference block) + getsignweight (txid, permission)
    builder._raw_data["ref_block_bytes"] = block_id[12:16]  # bytes 6-7: the number's low 16 bits
    builder._raw_data["ref_block_hash"] = block_id[16:32]  # bytes 8-15 of the id
    return Transaction(builder._raw_data, client=client, method=builder._method)


def _positive(*amounts: int) -> None:
    if any(a <= 0 for a in amounts):
        raise ChainRejected(f"amounts must be positive integers: {amounts}", reason="invalid_amount")


def _txid(txid: str) -> str:
    if len(txid) != 64:
        raise ChainRejected(f"not a transaction id: {txid!r}", reason="bad_txid")
    return txid


def _node_text(message: Any) -> str:
    """Broadcast errors carry hex-encoded text (no ``visible``); show it readable."""
    try:
        return bytes.fromhex(str(message)).decode()
    except ValueError:
        return str(message)


def _intent(kind: IntentKind, asset: str, amount: int, to: str) -> Intent:
    """What the signer is told this transaction does (it checks the raw data says the same)."""
    return Intent(kind, asset, amount, to, current_sweep())
