"""Parsing broadcasts: the spec's worked example gives the same txID and size in both JSON dialects."""

from __future__ import annotations

import pytest

from devnet.admission import check_expiration, check_tapos, parse
from devnet.errors import ChainError

pytestmark = pytest.mark.unit

SPEC_TXID = "e3fe32850341e134b2cfab3a322a9a663bc487877169ea40a6aeeff8be951c40"


def transfer_body(owner: str, to: str) -> dict:
    return {
        "txID": "ignored",
        "raw_data": {
            "contract": [
                {
                    "parameter": {
                        "value": {"owner_address": owner, "to_address": to, "amount": 2_000_000},
                        "type_url": "type.googleapis.com/protocol.TransferContract",
                    },
                    "type": "TransferContract",
                }
            ],
            "timestamp": 1777447500000,
            "expiration": 1777447560000,
            "ref_block_bytes": "261b",
            "ref_block_hash": "9e6e8091f5bd92dc",
        },
        "signature": ["00" * 65],
        "permission": None,
    }


def test_the_spec_transfer_hashes_to_its_known_txid_in_hex_and_base58_forms():
    hexed = parse(
        transfer_body(
            "4162f94e9ac9349bccc61bfe66ddade6292702ecb6", "41ae72a48c1a36bd18af168541c53037965d26e4a8"
        )
    )
    visible = parse(
        transfer_body("TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3", "TRsbuxREXKJKonexpejWhacE4sYHt1BSHV"), True
    )

    assert hexed.txid == visible.txid == SPEC_TXID
    assert hexed.nbytes == 267  # 133-byte raw + one 65-byte signature + 64
    assert visible.raw["contract"][0]["parameter"]["value"]["owner_address"].startswith("41")


def test_tapos_needs_a_known_block_with_the_same_hash_bytes():
    block_id = "000000000000261b9e6e8091f5bd92dc" + "0" * 32
    raw = transfer_body("41" + "11" * 20, "41" + "22" * 20)["raw_data"]
    check_tapos(raw, {"261b": block_id})
    with pytest.raises(ChainError, match="TAPOS"):
        check_tapos(dict(raw, ref_block_hash="00" * 8), {"261b": block_id})


def test_expiration_must_lie_within_a_day_after_the_head_block():
    check_expiration(2_000, 1_000)
    for expiration in (1_000, 1_000 + 86_400_001):
        with pytest.raises(ChainError) as err:
            check_expiration(expiration, 1_000)
        assert err.value.code == "TRANSACTION_EXPIRATION_ERROR"
