"""Accounts on the devnet through unmodified tronpy: activation, unactivated addresses, bandwidth."""

from __future__ import annotations

import pytest
from tronpy.exceptions import AddressNotFound, ValidationError
from tronpy.keys import PrivateKey

from devnet.crypto import generate_key
from devnet.usdt import USDT_ADDRESS
from tests.fixtures.devnet import TRX, fund_over_http, node_call, tron_client

pytestmark = pytest.mark.integration

WAIT = {"interval": 0.2}


def test_sending_trx_to_a_new_address_activates_it_and_charges_the_sender_1_1_trx(
    devnet_session, funded_account
):
    client = tron_client(devnet_session)
    priv, sender = funded_account(sun=10 * TRX)
    _, fresh = generate_key()
    with pytest.raises(AddressNotFound):
        client.get_account(fresh)

    ret = (
        client.trx.transfer(sender, fresh, 2 * TRX).build().sign(PrivateKey(bytes.fromhex(priv))).broadcast()
    )
    info = ret.wait(**WAIT)

    assert info["fee"] == 1_100_000
    assert info["receipt"] == {"net_fee": 100_000}
    assert "result" not in info["receipt"]
    assert client.get_account(sender)["balance"] == 10 * TRX - 2 * TRX - 1_100_000
    assert client.get_account(fresh)["balance"] == 2 * TRX


def test_an_unactivated_address_answers_empty_objects_even_when_it_holds_usdt(devnet_session):
    client = tron_client(devnet_session)
    _, holder = generate_key()
    fund_over_http(devnet_session, holder, usdt=5_000_000)

    for endpoint in ("getaccount", "getaccountresource", "getaccountnet"):
        assert node_call(devnet_session, f"wallet/{endpoint}", {"address": holder, "visible": True}) == {}
    with pytest.raises(AddressNotFound):
        client.get_account_balance(holder)
    assert client.get_contract(USDT_ADDRESS).functions.balanceOf(holder) == 5_000_000


def test_an_unactivated_sender_is_rejected_with_a_validation_error(devnet_session, funded_account):
    client = tron_client(devnet_session)
    key = PrivateKey.random()
    sender = key.public_key.to_base58check_address()
    fund_over_http(devnet_session, sender, usdt=5_000_000)
    _, receiver = funded_account(sun=1 * TRX)
    contract = client.get_contract(USDT_ADDRESS)

    txn = contract.functions.transfer(receiver, 1_000_000).with_owner(sender).fee_limit(30 * TRX).build()
    assert txn._permission is None  # getsignweight omits the permission of a missing account
    with pytest.raises(ValidationError, match="does not exist"):
        txn.sign(key).broadcast()


def test_a_trx_transfer_between_activated_accounts_uses_free_bandwidth(devnet_session, funded_account):
    client = tron_client(devnet_session)
    priv, sender = funded_account(sun=10 * TRX)
    _, receiver = funded_account(sun=1 * TRX)
    assert client.get_bandwidth(sender) == 600

    info = (
        client.trx.transfer(sender, receiver, TRX).build().sign(PrivateKey(bytes.fromhex(priv))).broadcast()
    )
    info = info.wait(**WAIT)

    assert "fee" not in info
    assert 265 <= info["receipt"]["net_usage"] <= 270
    assert client.get_account_balance(sender) == 9
    assert 600 - client.get_bandwidth(sender) in range(
        info["receipt"]["net_usage"] - 1, info["receipt"]["net_usage"] + 1
    )


def test_once_free_bandwidth_is_used_up_bytes_are_burned_at_1000_sun_each(devnet_session, funded_account):
    client = tron_client(devnet_session)
    priv, sender = funded_account(sun=10 * TRX)
    _, receiver = funded_account(sun=1 * TRX)
    key = PrivateKey(bytes.fromhex(priv))

    infos = [
        client.trx.transfer(sender, receiver, amount).build().sign(key).broadcast().wait(**WAIT)
        for amount in (1_000_001, 1_000_002, 1_000_003)
    ]

    assert "net_fee" not in infos[0]["receipt"] and "net_fee" not in infos[1]["receipt"]
    burned = infos[2]["receipt"]["net_fee"]
    assert burned % 1_000 == 0 and 265 <= burned // 1_000 <= 270
    assert infos[2]["fee"] == burned
    assert client.get_account(sender)["balance"] == 10 * TRX - 3_000_006 - burned


def test_getaccount_shows_permissions_and_stake_in_java_trons_shape(devnet_session, funded_account):
    _, address = funded_account(sun=3 * TRX)
    account = node_call(devnet_session, "wallet/getaccount", {"address": address, "visible": True})
    hex_account = node_call(devnet_session, "wallet/getaccount", {"address": address})

    assert account["address"] == address and account["balance"] == 3 * TRX
    assert account["owner_permission"]["keys"] == [{"address": address, "weight": 1}]
    assert account["frozenV2"] == [{}, {"type": "ENERGY"}, {"type": "TRON_POWER"}]
    assert hex_account["address"].startswith("41") and len(hex_account["address"]) == 42
    net = node_call(devnet_session, "wallet/getaccountnet", {"address": address, "visible": True})
    assert net["freeNetLimit"] == 600
