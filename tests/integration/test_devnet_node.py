"""The devnet node over HTTP: node info, blocks, solidity, parameters, admin API, faults, persistence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
import requests
from tronpy.exceptions import TransactionNotFound
from tronpy.keys import PrivateKey

from devnet.crypto import generate_key, is_address
from devnet.server import Devnet
from tests.fixtures.devnet import FAST, TRX, admin, node_call, tron_client

pytestmark = pytest.mark.integration

WAIT = {"interval": 0.2}


def test_chain_parameters_carry_mainnet_economics(devnet_session):
    params = {p["key"]: p.get("value", 0) for p in tron_client(devnet_session).get_chain_parameters()}

    assert params["getEnergyFee"] == 100
    assert params["getTransactionFee"] == 1_000
    assert params["getFreeNetLimit"] == 600
    assert params["getCreateAccountFee"] == 100_000
    assert params["getCreateNewAccountFeeInSystemContract"] == 1_000_000
    assert params["getMemoFee"] == 1_000_000
    assert params["getMaxFeeLimit"] == 15_000_000_000


def test_chain_parameters_can_be_changed_and_the_node_charges_by_them(devnet, funded_account):
    admin(devnet, "devnet/params", {"getEnergyFee": 210})
    client = tron_client(devnet)
    priv, sender = funded_account(sun=50 * TRX, usdt=1_000_000)
    _, holder = funded_account(sun=TRX, usdt=1)

    contract = client.get_contract("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
    txn = contract.functions.transfer(holder, 1).with_owner(sender).fee_limit(100 * TRX).build()
    info = txn.sign(PrivateKey(bytes.fromhex(priv))).broadcast().wait(**WAIT)

    params = {p["key"]: p.get("value", 0) for p in client.get_chain_parameters()}
    assert params["getEnergyFee"] == 210
    assert info["receipt"]["energy_fee"] == 64_285 * 210


def test_getnodeinfo_names_head_and_solid_blocks_whose_ids_embed_their_height(devnet_session):
    client = tron_client(devnet_session)
    admin(devnet_session, "devnet/produce", {"blocks": 3})

    info = node_call(devnet_session, "wallet/getnodeinfo")
    head_num, head_id = info["block"].removeprefix("Num:").split(",ID:")
    solid_num, solid_id = info["solidityBlock"].removeprefix("Num:").split(",ID:")

    assert int(head_id[:16], 16) == int(head_num)
    assert int(solid_id[:16], 16) == int(solid_num)
    assert int(solid_num) <= int(head_num) - 2
    assert (
        client.get_latest_solid_block_id() == solid_id
        or int(solid_num) < client.get_latest_solid_block_number()
    )


def test_block_timestamps_follow_the_wall_clock(devnet_session):
    block = tron_client(devnet_session).get_latest_block()

    assert abs(block["block_header"]["raw_data"]["timestamp"] - time.time() * 1000) < 5_000


def test_blocks_are_served_by_number_id_and_range_and_the_solidity_twin_lags(devnet_session):
    client = tron_client(devnet_session)
    admin(devnet_session, "devnet/produce", {"blocks": 3})
    head = client.get_latest_block_number()
    by_num = client.get_block(head - 1)

    assert client.get_block(by_num["blockID"]) == by_num
    assert by_num["block_header"]["raw_data"]["parentHash"] == client.get_block(head - 2)["blockID"]
    ranged = node_call(
        devnet_session, "wallet/getblockbylimitnext", {"startNum": head - 2, "endNum": head + 1}
    )
    assert [b["block_header"]["raw_data"]["number"] for b in ranged["block"]] == [head - 2, head - 1, head]
    solid = node_call(devnet_session, "walletsolidity/getnowblock")
    assert solid["block_header"]["raw_data"]["number"] <= client.get_latest_block_number() - 2
    assert node_call(devnet_session, "walletsolidity/getblockbynum", {"num": head + 1_000}) == {}
    assert is_address(client.get_latest_block()["block_header"]["raw_data"]["witness_address"])


def test_wait_for_a_solid_receipt_works_with_a_small_solid_depth(devnet_session, funded_account):
    priv, sender = funded_account(sun=5 * TRX)
    _, receiver = funded_account(sun=TRX)
    client = tron_client(devnet_session)
    ret = client.trx.transfer(sender, receiver, TRX).build().sign(PrivateKey(bytes.fromhex(priv))).broadcast()

    info = ret.wait(solid=True, timeout=20, **WAIT)

    assert info["id"] == ret.txid
    assert client.get_latest_solid_block_number() >= info["blockNumber"]
    assert client.get_transaction(ret.txid)["ret"] == [{"contractRet": "SUCCESS"}]


def test_unknown_transactions_are_empty_until_mined(devnet_session):
    client = tron_client(devnet_session)

    with pytest.raises(TransactionNotFound):
        client.get_transaction_info("ab" * 32)
    assert node_call(devnet_session, "walletsolidity/gettransactioninfobyid", {"value": "ab" * 32}) == {}


def test_the_admin_api_reports_state_and_hands_out_funded_keys(devnet_session):
    state = httpx.get(devnet_session.node_url + "devnet/state").json()
    assert state["ports"]["node"] == devnet_session.ports()["node"]
    assert state["solid"] <= state["head"]

    accounts = admin(devnet_session, "devnet/accounts", {"count": 2, "sun": 3 * TRX, "usdt": 4_000_000})[
        "accounts"
    ]
    for entry in accounts:
        assert (
            PrivateKey(bytes.fromhex(entry["private_key"])).public_key.to_base58check_address()
            == entry["address"]
        )
        detail = httpx.get(devnet_session.node_url + f"devnet/account/{entry['address']}").json()
        assert detail["balance"] == 3 * TRX and detail["tokens"]["USDT"] == 4_000_000
    bad = httpx.post(devnet_session.node_url + "devnet/fund", json={"address": "nope", "sun": 1})
    assert bad.status_code == 400


def test_node_faults_fail_requests_with_5xx_for_a_count_then_clear(devnet):
    admin(devnet, "devnet/faults", {"target": "node", "error_rate": 1.0, "status": 503, "count": 2})
    client = tron_client(devnet)

    for _ in range(2):
        with pytest.raises(requests.HTTPError):
            client.get_latest_block_number()
    assert client.get_latest_block_number() >= 0
    assert httpx.get(devnet.node_url + "devnet/state").json()["faults"] == {}


def test_dropped_broadcasts_are_accepted_but_never_mined(devnet, funded_account):
    priv, sender = funded_account(sun=5 * TRX)
    _, receiver = funded_account(sun=TRX)
    admin(devnet, "devnet/faults", {"target": "node", "drop_broadcasts": True})
    client = tron_client(devnet)

    ret = client.trx.transfer(sender, receiver, TRX).build().sign(PrivateKey(bytes.fromhex(priv))).broadcast()
    admin(devnet, "devnet/produce", {"blocks": 2})

    assert ret["result"] is True
    with pytest.raises(TransactionNotFound):
        client.get_transaction_info(ret.txid)
    httpx.delete(devnet.node_url + "devnet/faults").raise_for_status()


def test_state_survives_a_restart_with_a_state_file(tmp_path):
    state_file = str(tmp_path / "devnet.json")
    _, address = generate_key()
    with Devnet(**FAST, state_file=state_file, providers=False) as first:
        admin(first, "devnet/fund", {"address": address, "sun": 7 * TRX})
        admin(first, "devnet/produce", {"blocks": 2})
        head = first.chain.head_number()

    with Devnet(**FAST, state_file=state_file, providers=False) as second:
        client = tron_client(second)
        assert client.get_account_balance(address) == 7
        assert client.get_latest_block_number() >= head
        assert client.get_block(head)["blockID"].startswith(f"{head:016x}")


def test_python_m_devnet_prints_its_ports_and_stops_on_ctrl_c():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "devnet", "--port", "0", "--block-time", "0.2", "--solid-depth", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("devnet node")
        url = first.split()[2]
        assert httpx.post(url + "wallet/getnodeinfo", json={}).json()["block"].startswith("Num:")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
