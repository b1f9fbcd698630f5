"""Blocks and mined transactions, with their JSON renderings cached (blocks never change once mined)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from devnet import render

BLOCK_VERSION = 32
ZERO_HASH = "0" * 64


@dataclass
class TxRecord:
    """A mined transaction: the raw_data as stored (hex dialect), signatures, result and its info."""

    txid: str
    raw: dict[str, Any]
    raw_hex: str
    signatures: list[str]
    contract_ret: str
    info: dict[str, Any]

    def json(self, visible: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"ret": [{"contractRet": self.contract_ret}]}
        if self.signatures:  # system transactions have none; proto3 omits the empty list
            out["signature"] = self.signatures
        out["txID"] = self.txid
        out["raw_data"] = render.raw_out(self.raw, visible)
        out["raw_data_hex"] = self.raw_hex
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "txid": self.txid,
            "raw": self.raw,
            "raw_hex": self.raw_hex,
            "signatures": self.signatures,
            "contract_ret": self.contract_ret,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TxRecord:
        return cls(**data)


def block_id(number: int, header_hash: bytes) -> str:
    """A TRON block id: the header hash with its first 8 bytes replaced by the big-endian height."""
    return number.to_bytes(8, "big").hex() + header_hash[8:].hex()


@dataclass
class Block:
    """One block; `block_id` embeds the height, `timestamp` (ms) sits on a slot of the block time."""

    number: int
    parent_id: str
    timestamp: int
    witness: str
    txs: list[TxRecord] = field(default_factory=list)
    block_id: str = ""
    tx_root: str = ZERO_HASH
    _cache: dict[tuple[str, bool], bytes] = field(default_factory=dict, repr=False, compare=False)

    def seal(self) -> Block:
        """Compute the tx root and the id from the header."""
        if self.txs:
            joined = b"".join(bytes.fromhex(t.txid) for t in self.txs)
            self.tx_root = hashlib.sha256(joined).hexdigest()
        header = f"{self.number}|{self.parent_id}|{self.timestamp}|{self.tx_root}|{self.witness}"
        self.block_id = block_id(self.number, hashlib.sha256(header.encode()).digest())
        return self

    def header_json(self, visible: bool) -> dict[str, Any]:
        raw: dict[str, Any] = {"timestamp": self.timestamp, "txTrieRoot": self.tx_root}
        raw["parentHash"] = self.parent_id
        if self.number:
            raw["number"] = self.number
        raw["witness_address"] = render.addr_out(self.witness, visible)
        raw["version"] = BLOCK_VERSION
        sig = hashlib.sha256(self.block_id.encode()).hexdigest()
        return {"raw_data": raw, "witness_signature": sig + sig[:66]}

    def json(self, visible: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"blockID": self.block_id, "block_header": self.header_json(visible)}
        if self.txs:
            out["transactions"] = [t.json(visible) for t in self.txs]
        return out

    def json_bytes(self, visible: bool) -> bytes:
        key = ("block", visible)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = render.dumps(self.json(visible))
        return cached

    def header_bytes(self, visible: bool) -> bytes:
        """The block without its transactions (getblock with `detail: false`)."""
        key = ("header", visible)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = render.dumps(
                {"blockID": self.block_id, "block_header": self.header_json(visible)}
            )
        return cached

    def infos_bytes(self, visible: bool) -> bytes:
        """gettransactioninfobyblocknum's body: a JSON array of this block's infos."""
        key = ("infos", visible)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = render.dumps([render.info_out(t.info, visible) for t in self.txs])
        return cached

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "parent_id": self.parent_id,
            "timestamp": self.timestamp,
            "witness": self.witness,
            "block_id": self.block_id,
            "tx_root": self.tx_root,
            "txs": [t.to_dict() for t in self.txs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Block:
        txs = [TxRecord.from_dict(t) for t in data["txs"]]
        return cls(
            number=data["number"],
            parent_id=data["parent_id"],
            timestamp=data["timestamp"],
            witness=data["witness"],
            txs=txs,
            block_id=data["block_id"],
            tx_root=data["tx_root"],
        )
