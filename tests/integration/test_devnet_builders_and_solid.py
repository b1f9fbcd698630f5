"""What clients that build through the node use (getblock, triggersmartcontract, createtransaction and the
Stake 2.0 builders), and `/walletsolidity` reads answering from the solidified state."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest
from tronpy.keys import PrivateKey

from devnet.crypto import abi_address, generate_key
from devnet.server import Devnet
from devnet.usdt import USDT_ADDRESS
from tests.fixtures.devnet import TRX, admin, node_call, tron_client

pytestmark = pytest.mark.integration


def test_getblock_without_detail_is_the_head_header_and_with_detail_carries_transactions(devnet):
    txid = admin(devnet, "devnet/fund", {"address": generate_key()[1], "sun": TRX})["txid"]
    admin(devnet, "devnet/produce", {"blocks": 1})
    number = devnet.chain.tx_record(txid).info["blockNumber"]
    with_txs = node_call(devnet, "wallet/getblock", {"id_or_num": str(number), "detail": True})

    header = node_call(devnet, "wallet/getblock", {"id_or_num": str(number)})
    by_id = node_call(devnet, "wallet/getblock", {"id_or_num": with_txs["blockID"], "detail": True})
    solid = node_call(devnet, "walletsolidity/getblock", {})  # first: blocks made meanwhile only raise head
    head = node_call(devnet, "wallet/getblock", {"detail": False})

    assert with_txs["transactions"] and "transactions" not in header and by_id == with_txs
    assert header == {"blockID": with_txs["blockID"], "block_header": with_txs["block_header"]}
    assert head["block_header"]["raw_data"]["number"] >= number
    solid_number = solid["block_header"]["raw_data"].get("number", 0)  # block 0 prints no number (proto3)
    assert solid_number <= head["block_header"]["raw_data"]["number"] - 2
    assert node_call(devnet, "wallet/getblock", {"id_or_num": str(number + 10_000)}) == {}
    assert "Error" in node_call(devnet, "wallet/getblock", {"id_or_num": "zz"})


def test_a_trc20_transfer_built_by_triggersmartcontract_signs_and_mines(devnet, funded_account):
    priv, sender = funded_account(sun=50 * TRX, usdt=7_000_000)
    _, receiver = funded_account(sun=TRX)
    call = {
        "owner_address": sender,
        "contract_address": USDT_ADDRESS,
        "function_selector": "transfer(address,uint256)",
        "parameter": abi_address(receiver) + f"{7_000_000:064x}",
        "fee_limit": 30 * TRX,
        "call_value": 0,
        "visible": True,
    }
    built = node_call(devnet, "wallet/triggersmartcontract", call)
    tx = built["transaction"]
    head = devnet.chain.head_block()

    assert built["result"] == {"result": True}
    assert tx["txID"] == hashlib.sha256(bytes.fromhex(tx["raw_data_hex"])).hexdigest()
    assert tx["raw_data"]["fee_limit"] == 30 * TRX
    assert abs(tx["raw_data"]["expiration"] - (head.timestamp + 60_000)) <= 1_000
    signature = PrivateKey(bytes.fromhex(priv)).sign_msg_hash(bytes.fromhex(tx["txID"])).hex()
    sent = node_call(devnet, "wallet/broadcasttransaction", {**tx, "signature": [signature]})
    info = tron_client(devnet).get_transaction_info(sent["txid"]) if _mined(devnet, sent["txid"]) else {}
    assert sent["result"] is True and info["receipt"]["result"] == "SUCCESS"
    assert tron_client(devnet).get_contract(USDT_ADDRESS).functions.balanceOf(receiver) == 7_000_000
    missing = node_call(devnet, "wallet/triggersmartcontract", {**call, "contract_address": receiver})
    assert missing["result"]["code"] == "CONTRACT_VALIDATE_ERROR"
    assert missing["result"]["message"] == "No contract or not a valid smart contract"


def _mined(devnet, txid: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if devnet.chain.tx_record(txid) is not None:
            return True
        time.sleep(0.1)
    return False


def test_createtransaction_and_the_stake_builders_validate_like_java_tron(devnet, funded_account):
    _, owner = funded_account(sun=10 * TRX)
    _, receiver = funded_account(sun=TRX)

    transfer = node_call(
        devnet,
        "wallet/createtransaction",
        {"owner_address": owner, "to_address": receiver, "amount": TRX, "visible": True},
    )
    short = node_call(
        devnet,
        "wallet/createtransaction",
        {"owner_address": owner, "to_address": receiver, "amount": 11 * TRX, "visible": True},
    )
    freeze = node_call(
        devnet,
        "wallet/freezebalancev2",
        {"owner_address": owner, "frozen_balance": 5 * TRX, "resource": "ENERGY", "visible": True},
    )
    delegate = node_call(
        devnet,
        "wallet/delegateresource",
        {
            "owner_address": owner,
            "receiver_address": receiver,
            "balance": TRX,
            "resource": "ENERGY",
            "visible": True,
        },
    )

    assert transfer["visible"] is True and transfer["raw_data"]["contract"][0]["type"] == "TransferContract"
    assert transfer["txID"] == hashlib.sha256(bytes.fromhex(transfer["raw_data_hex"])).hexdigest()
    assert short == {
        "Error": "class org.tron.core.exception.ContractValidateException : "
        "Validate TransferContract error, balance is not sufficient."
    }
    assert freeze["raw_data"]["contract"][0]["parameter"]["value"] == {
        "owner_address": owner,
        "frozen_balance": 5 * TRX,
        "resource": "ENERGY",
    }
    assert (
        "delegateBalance must be less than or equal to available FreezeEnergyV2 balance" in delegate["Error"]
    )


def test_walletsolidity_reads_answer_from_the_solid_state():
    _, address = generate_key()
    with (
        Devnet(port=0, block_time=0, solid_depth=2, providers=False) as devnet,  # blocks only on request
        httpx.Client(base_url=devnet.node_url, timeout=10) as http,
    ):
        devnet.chain.fund(address, 9 * TRX)
        devnet.chain.mint(address, 5_000_000)
        head_view = http.post("wallet/getaccount", json={"address": address, "visible": True}).json()
        solid_view = http.post("walletsolidity/getaccount", json={"address": address, "visible": True}).json()
        balance_of = {
            "owner_address": address,
            "contract_address": USDT_ADDRESS,
            "function_selector": "balanceOf(address)",
            "parameter": abi_address(address),
            "visible": True,
        }
        solid_usdt = http.post("walletsolidity/triggerconstantcontract", json=balance_of).json()
        assert head_view["balance"] == 9 * TRX
        assert solid_view == {} and int(solid_usdt["constant_result"][0], 16) == 0

        devnet.chain.produce_blocks(3)
        later = http.post("walletsolidity/getaccount", json={"address": address, "visible": True}).json()
        later_usdt = http.post("walletsolidity/triggerconstantcontract", json=balance_of).json()
        assert later["balance"] == 9 * TRX and int(later_usdt["constant_result"][0], 16) == 5_000_000
