"""Bandwidth as mainnet charges it, seen through unmodified tronpy: 600 free bytes a day, then stake or TRX.

A second USDT transfer from an address the same day cannot use the free allowance (~345 bytes used of
600, recovered over 24 h); without staked bandwidth or TRX the node refuses it at broadcast with
BANDWITH_ERROR, as java-tron does (Manager.pushTransaction runs it on the pending state).
"""

from __future__ import annotations

import pytest
from tronpy.exceptions import UnknownError, ValidationError
from tronpy.keys import PrivateKey

from devnet.crypto import generate_key
from devnet.server import Devnet
from devnet.usdt import USDT_ADDRESS
from tests.fixtures.devnet import TRX, admin, node_call, tron_client

pytestmark = pytest.mark.integration

WAIT = {"interval": 0.2}


@pytest.fixture
def deposit(devnet_session):
    """A deposit address: activated with 1 sun, 10 USDT, energy for two transfers delegated (mined)."""
    priv, address = generate_key()
    _, pool = generate_key()
    admin(devnet_session, "devnet/fund", {"address": address, "sun": 1})
    admin(devnet_session, "devnet/mint", {"address": address, "amount": 10_000_000})
    admin(devnet_session, "devnet/pool", {"address": pool, "trx_sun": 0, "staked_energy_sun": 30_000 * TRX})
    admin(devnet_session, "devnet/delegate", {"owner": pool, "receiver": address, "energy": 2 * 130_285})
    admin(devnet_session, "devnet/produce", {"blocks": 1})
    return PrivateKey(priv), address


def sweep(node, key, sender, to, amount):
    contract = tron_client(node).get_contract(USDT_ADDRESS)
    txn = contract.functions.transfer(to, amount).with_owner(sender).fee_limit(30 * TRX).build()
    return txn.sign(key).broadcast()


def test_a_second_sweep_the_same_day_is_refused_at_broadcast_with_bandwith_error(devnet_session, deposit):
    key, address = deposit
    _, destination = generate_key()
    first = sweep(devnet_session, key, address, destination, 4_000_000).wait(**WAIT)

    with pytest.raises(UnknownError) as refused:
        sweep(devnet_session, key, address, destination, 6_000_000)

    assert first["receipt"]["net_usage"] == 345
    assert refused.value.args == ("Account resource insufficient error.", "BANDWITH_ERROR")
    assert tron_client(devnet_session).get_bandwidth(address) < 345  # what is left of the 600 free bytes


def test_bandwidth_delegated_from_a_stake_account_pays_for_the_second_sweep(devnet_session, deposit):
    key, address = deposit
    _, destination = generate_key()
    _, stake = generate_key()
    admin(
        devnet_session, "devnet/pool", {"address": stake, "trx_sun": 0, "staked_bandwidth_sun": 1_000 * TRX}
    )
    sweep(devnet_session, key, address, destination, 4_000_000).wait(**WAIT)

    admin(devnet_session, "devnet/delegate", {"owner": stake, "receiver": address, "bandwidth": 345})
    admin(devnet_session, "devnet/produce", {"blocks": 1})
    second = sweep(devnet_session, key, address, destination, 6_000_000).wait(**WAIT)

    assert second["receipt"]["net_usage"] == 345 and "net_fee" not in second["receipt"]
    assert (
        tron_client(devnet_session).get_contract(USDT_ADDRESS).functions.balanceOf(destination) == 10_000_000
    )
    resource = node_call(devnet_session, "wallet/getaccountresource", {"address": address, "visible": True})
    assert resource["NetLimit"] == 345 and resource["NetUsed"] == 345


def test_a_sweeper_delegates_bandwidth_with_a_signed_stake_2_0_transaction(devnet_session, funded_account):
    priv, stake = funded_account(sun=2_000 * TRX)
    _, receiver = funded_account(sun=TRX)
    key = PrivateKey(bytes.fromhex(priv))
    client = tron_client(devnet_session)
    client.trx.freeze_balance(stake, 1_000 * TRX, "BANDWIDTH").build().sign(key).broadcast().wait(**WAIT)

    can = client.get_can_delegated_max_size(stake, "BANDWIDTH")["max_size"]
    client.trx.delegate_resource(stake, receiver, 400 * TRX, "BANDWIDTH").build().sign(key).broadcast().wait(
        **WAIT
    )

    # minus the bytes a delegation of it all would use (275 + 8), at the devnet's 1 byte per staked TRX
    assert can == (1_000 - 283) * TRX
    assert client.get_account_resource(receiver)["NetLimit"] == 400
    assert client.get_delegated_resource_v2(stake, receiver)["delegatedResource"][0] == {
        "from": stake,
        "to": receiver,
        "frozen_balance_for_bandwidth": 400 * TRX,
    }
    with pytest.raises(ValidationError, match=r"delegatedFrozenBalance\(BANDWIDTH\)"):
        client.trx.undelegate_resource(stake, receiver, 401 * TRX, "BANDWIDTH").build().sign(key).broadcast()


def test_a_pending_transfer_counts_against_the_next_one_before_any_block():
    with Devnet(port=0, block_time=0, solid_depth=2, providers=False) as manual:  # blocks only on request
        priv, sender = generate_key()
        _, receiver = generate_key()
        admin(manual, "devnet/fund", {"address": sender, "sun": 3 * TRX})
        admin(manual, "devnet/fund", {"address": receiver, "sun": TRX})
        admin(manual, "devnet/produce", {"blocks": 1})
        client = tron_client(manual)

        client.trx.transfer(sender, receiver, 2 * TRX).build().sign(PrivateKey(priv)).broadcast()
        with pytest.raises(ValidationError, match="balance is not sufficient"):
            client.trx.transfer(sender, receiver, 2 * TRX).build().sign(PrivateKey(priv)).broadcast()
        admin(manual, "devnet/produce", {"blocks": 1})
        assert client.get_account_balance(receiver) == 3
