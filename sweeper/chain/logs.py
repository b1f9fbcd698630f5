"""TRC20 ``Transfer`` events decoded from the transaction infos of a block.

Hot path of the block scanner (hundreds of transactions per block, many blocks per second): plain dict
lookups, one set test per log, cached address conversions.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping
from typing import Any

from sweeper.chain.addresses import from_topic, to_base58, to_hex, topic_key
from sweeper.chain.port import TokenTransfer
from sweeper.errors import SweeperError

TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def contract_lookup(contracts: Collection[str]) -> dict[str, str]:
    """Map every spelling a node may use for a log address (base58, 41-hex, 20-byte hex) to base58."""
    lookup: dict[str, str] = {}
    for contract in contracts:
        b58 = to_base58(contract)
        hex41 = to_hex(b58)
        for form in (b58, hex41, hex41[2:], "0x" + hex41[2:]):
            lookup[form] = b58
    return lookup


def transfers_in(
    infos: Iterable[Mapping[str, Any]],
    lookup: Mapping[str, str],
    recipients: Container[int] | None = None,
) -> list[TokenTransfer]:
    """Return the ``Transfer`` events of the watched contracts in successful transactions, in order.

    With ``recipients`` (the keys of the watched addresses, ``addresses.KEY_BITS``), only the transfers
    to them: the key is read straight from the topic's hex, so the base58 of every other recipient (two
    SHA-256 and a long division each, most of a catch-up's CPU) is never computed.
    """
    found: list[TokenTransfer] = []
    for info in infos:
        logs = info.get("log")
        if not logs or info.get("result") == "FAILED":
            continue
        for index, entry in enumerate(logs):
            contract = lookup.get(entry.get("address", ""))
            if contract is None:
                continue
            topics: list[str] = entry.get("topics") or []
            if len(topics) != 3 or (topics[0] != TRANSFER_TOPIC and topics[0].lower() != TRANSFER_TOPIC):
                continue
            if recipients is not None and topic_key(topics[2]) not in recipients:
                continue
            found.append(
                TokenTransfer(
                    contract=contract,
                    txid=info["id"],
                    block_number=int(info.get("blockNumber", 0)),
                    from_address=from_topic(topics[1]),
                    to_address=from_topic(topics[2]),
                    amount=int(entry.get("data", "")[:64] or "0", 16),
                    log_index=index,
                )
            )
    return found


def transfer_logged(
    logs: Iterable[Mapping[str, Any]], contract: str, from_address: str, to_address: str, amount: int
) -> bool:
    """True when ``logs`` hold ``contract``'s ``Transfer(from_address, to_address, amount)`` event."""
    lookup = contract_lookup([contract])
    for entry in logs:
        if entry.get("address", "") not in lookup:
            continue
        topics = [str(t).lower() for t in entry.get("topics") or ()]
        if len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        try:
            sender, recipient = from_topic(topics[1]), from_topic(topics[2])
            value = int(str(entry.get("data", ""))[:64] or "0", 16)
        except (ValueError, SweeperError):
            continue
        if (sender, recipient, value) == (from_address, to_address, amount):
            return True
    return False
