"""Stake 2.0 on the devnet through tronpy: freeze, delegate, undelegate, and the delegation queries."""

from __future__ import annotations

import pytest
from tronpy.exceptions import ValidationError
from tronpy.keys import PrivateKey

from devnet.crypto import generate_key
from tests.fixtures.devnet import TRX, admin, tron_client

pytestmark = pytest.mark.integration

WAIT = {"interval": 0.2}
SUN_PER_ENERGY = 100_000  # staked sun per unit of EnergyLimit at the default network totals


@pytest.fixture
def staker(devnet_session, funded_account):
    """An account with 10,000 TRX, 7,000 of them frozen for energy through tronpy."""
    priv, address = funded_account(sun=10_000 * TRX)
    key = PrivateKey(bytes.fromhex(priv))
    client = tron_client(devnet_session)
    info = (
        client.trx.freeze_balance(address, 7_000 * TRX, "ENERGY").build().sign(key).broadcast().wait(**WAIT)
    )
    assert "result" not in info
    return key, address


def test_freezing_trx_grants_energy_at_the_network_ratio(devnet_session, staker):
    _, address = staker
    client = tron_client(devnet_session)

    resource = client.get_account_resource(address)

    assert resource["EnergyLimit"] == 7_000 * TRX // SUN_PER_ENERGY
    assert resource["TotalEnergyLimit"] == 180_000_000_000
    assert client.get_account_balance(address) == 3_000
    account = client.get_account(address)
    assert {"type": "ENERGY", "amount": 7_000 * TRX} in account["frozenV2"]


def test_delegated_energy_appears_on_the_receiver_once_mined(devnet_session, staker, funded_account):
    key, owner = staker
    _, receiver = funded_account(sun=TRX)
    client = tron_client(devnet_session)

    txn = client.trx.delegate_resource(owner, receiver, 6_500 * TRX, "ENERGY").build().sign(key)
    txn.broadcast().wait(**WAIT)

    assert client.get_energy(receiver) == 65_000
    assert client.get_account_resource(owner)["EnergyLimit"] == 5_000
    delegated = client.get_delegated_resource_v2(owner, receiver)["delegatedResource"][0]
    assert delegated["frozen_balance_for_energy"] == 6_500 * TRX
    assert (delegated["from"], delegated["to"]) == (owner, receiver)
    index = client.get_delegated_resource_account_index_v2(owner)
    assert index["toAccounts"] == [receiver]
    assert client.get_delegated_resource_account_index_v2(receiver)["fromAccounts"] == [owner]
    assert client.get_can_delegated_max_size(owner, "ENERGY")["max_size"] == 500 * TRX


def test_undelegating_takes_the_energy_back(devnet_session, staker, funded_account):
    key, owner = staker
    _, receiver = funded_account(sun=TRX)
    client = tron_client(devnet_session)
    client.trx.delegate_resource(owner, receiver, 1_000 * TRX, "ENERGY").build().sign(key).broadcast().wait(
        **WAIT
    )

    txn = client.trx.undelegate_resource(owner, receiver, 1_000 * TRX, "ENERGY").build().sign(key)
    txn.broadcast().wait(**WAIT)

    assert client.get_energy(receiver) == 0
    assert client.get_delegated_resource_v2(owner, receiver) == {}
    assert client.get_account_resource(owner)["EnergyLimit"] == 70_000


def test_delegating_to_an_unactivated_address_fails_validation(devnet_session, staker):
    key, owner = staker
    _, stranger = generate_key()
    client = tron_client(devnet_session)

    with pytest.raises(ValidationError, match="not exists"):
        client.trx.delegate_resource(owner, stranger, 1_000 * TRX, "ENERGY").build().sign(key).broadcast()


def test_delegating_more_than_the_free_stake_fails_validation(devnet_session, staker, funded_account):
    key, owner = staker
    _, receiver = funded_account(sun=TRX)
    client = tron_client(devnet_session)

    with pytest.raises(ValidationError, match="delegateBalance"):
        client.trx.delegate_resource(owner, receiver, 8_000 * TRX, "ENERGY").build().sign(key).broadcast()


def test_a_system_delegation_by_the_admin_api_is_pending_until_the_next_block(devnet):
    _, pool = generate_key()
    _, receiver = generate_key()
    admin(devnet, "devnet/fund", {"address": receiver, "sun": TRX})
    admin(devnet, "devnet/pool", {"address": pool, "trx_sun": 0, "staked_energy_sun": 10_000 * TRX})

    with devnet.chain.lock:  # hold block production still while delegating
        admin_reply = devnet.chain.delegate_energy(pool, receiver, 65_000)
        assert devnet.chain.energy_available(receiver) == 0
    admin(devnet, "devnet/produce", {"blocks": 1})

    assert tron_client(devnet).get_energy(receiver) == 65_000
    assert tron_client(devnet).get_transaction_info(admin_reply)["receipt"] == {}
