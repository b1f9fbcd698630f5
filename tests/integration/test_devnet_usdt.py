"""USDT on the devnet through unmodified tronpy (sync and async): energy, burn, failures, logs, receipts."""

from __future__ import annotations

import asyncio

import pytest
from tronpy import AsyncTron
from tronpy.exceptions import TvmError
from tronpy.keys import PrivateKey
from tronpy.providers import AsyncHTTPProvider

from devnet.crypto import abi_address, generate_key, to_hex_address
from devnet.usdt import TRANSFER_TOPIC, USDT_ADDRESS
from tests.fixtures.devnet import TRX, admin, fund_over_http, node_call, tron_client

pytestmark = pytest.mark.integration

WAIT = {"interval": 0.2}
HOLDER_ENERGY, HOLDER_PENALTY = 64_285, 49_635
NEW_HOLDER_ENERGY, NEW_HOLDER_PENALTY = 130_285, 100_635


def key_of(priv_hex):
    return PrivateKey(bytes.fromhex(priv_hex))


def give_energy(node, receiver, energy):
    """Delegate `energy` from a fresh staked pool to `receiver` and mine it."""
    _, pool = generate_key()
    admin(node, "devnet/pool", {"address": pool, "trx_sun": 0, "staked_energy_sun": energy * 100_000 + TRX})
    admin(node, "devnet/delegate", {"owner": pool, "receiver": receiver, "energy": energy})
    admin(node, "devnet/produce", {"blocks": 1})


def send_usdt(node, priv_hex, sender, to, amount, fee_limit=None):
    contract = tron_client(node).get_contract(USDT_ADDRESS)
    builder = contract.functions.transfer(to, amount).with_owner(sender)
    if fee_limit is not None:
        builder = builder.fee_limit(fee_limit)
    return builder.build().sign(key_of(priv_hex)).broadcast()


@pytest.fixture
def holder_pair(devnet_session, funded_account):
    """A sender holding 100 USDT and 50 TRX, and a recipient that already holds USDT."""
    priv, sender = funded_account(sun=50 * TRX, usdt=100_000_000)
    _, recipient = funded_account(sun=1 * TRX, usdt=1)
    return priv, sender, recipient


def test_balanceof_and_the_token_metadata_read_through_contract_functions(devnet_session, funded_account):
    _, holder = funded_account(sun=TRX, usdt=123_456_789)
    contract = tron_client(devnet_session).get_contract(USDT_ADDRESS)

    assert contract.functions.balanceOf(holder) == 123_456_789
    assert contract.functions.decimals() == 6
    assert contract.functions.symbol() == "USDT"
    assert contract.functions.isBlackListed(holder) is False


def test_getcontract_returns_an_abi_with_tron_enum_spellings(devnet_session):
    info = node_call(devnet_session, "wallet/getcontract", {"value": USDT_ADDRESS, "visible": True})

    entries = info["abi"]["entrys"]
    functions = [e for e in entries if e["type"] == "Function"]
    assert {e["name"] for e in functions} >= {
        "balanceOf",
        "transfer",
        "decimals",
        "symbol",
        "name",
        "isBlackListed",
    }
    assert all(e["stateMutability"] in ("View", "Nonpayable") for e in functions)
    assert any(e["type"] == "Event" and e["name"] == "Transfer" for e in entries)
    assert info["contract_address"] == USDT_ADDRESS


def test_a_transfer_paid_by_delegated_energy_burns_no_trx(devnet_session, holder_pair):
    priv, sender, recipient = holder_pair
    give_energy(devnet_session, sender, HOLDER_ENERGY)
    client = tron_client(devnet_session)
    assert client.get_energy(sender) == HOLDER_ENERGY
    before = client.get_account(sender)["balance"]

    ret = send_usdt(devnet_session, priv, sender, recipient, 25_000_000, fee_limit=100 * TRX)
    info = ret.wait(**WAIT)

    assert info["receipt"]["result"] == "SUCCESS"
    assert info["receipt"]["energy_usage"] == HOLDER_ENERGY
    assert "energy_fee" not in info["receipt"]
    assert info.get("fee", 0) == info["receipt"].get("net_fee", 0) == 0
    assert client.get_account(sender)["balance"] == before
    assert client.get_energy(sender) <= 10  # used up; recovers by ~2 energy per 3 s slot
    contract = client.get_contract(USDT_ADDRESS)
    assert contract.functions.balanceOf(recipient) == 25_000_001


def test_a_transfer_without_energy_burns_exactly_64285_energy_at_100_sun_plus_bandwidth(
    devnet_session, holder_pair
):
    priv, sender, recipient = holder_pair
    client = tron_client(devnet_session)
    before = client.get_account(sender)["balance"]

    ret = send_usdt(devnet_session, priv, sender, recipient, 1_000_000, fee_limit=100 * TRX)
    info = ret.wait(**WAIT)

    bandwidth = info["receipt"].get("net_fee", 0)
    assert info["receipt"]["energy_fee"] == HOLDER_ENERGY * 100
    assert info["fee"] == HOLDER_ENERGY * 100 + bandwidth
    assert client.get_account(sender)["balance"] == before - HOLDER_ENERGY * 100 - bandwidth
    assert ret.result(**WAIT) is False  # mainnet USDT's transfer returns false even on success


def test_a_recipient_holding_usdt_costs_64285_energy_and_a_fresh_one_130285(devnet_session, holder_pair):
    priv, sender, holder = holder_pair
    _, fresh = generate_key()

    to_fresh = send_usdt(devnet_session, priv, sender, fresh, 1, fee_limit=100 * TRX).wait(**WAIT)
    to_holder = send_usdt(devnet_session, priv, sender, holder, 1, fee_limit=100 * TRX).wait(**WAIT)

    assert to_fresh["receipt"]["energy_usage_total"] == NEW_HOLDER_ENERGY
    assert to_fresh["receipt"]["energy_penalty_total"] == NEW_HOLDER_PENALTY
    assert to_holder["receipt"]["energy_usage_total"] == HOLDER_ENERGY
    assert to_holder["receipt"]["energy_penalty_total"] == HOLDER_PENALTY
    client = tron_client(devnet_session)
    assert client.get_contract(USDT_ADDRESS).functions.balanceOf(fresh) == 1


def test_the_default_10_trx_fee_limit_runs_out_of_energy_sending_to_a_fresh_holder(
    devnet_session, holder_pair
):
    priv, sender, _ = holder_pair
    _, fresh = generate_key()
    client = tron_client(devnet_session)
    before = client.get_account(sender)["balance"]

    ret = send_usdt(devnet_session, priv, sender, fresh, 1_000_000)  # tronpy's default fee_limit: 10 TRX
    info = ret.wait(**WAIT)

    assert info["result"] == "FAILED"
    assert info["receipt"]["result"] == "OUT_OF_ENERGY"
    assert info["receipt"]["energy_usage_total"] == 100_000
    assert info["receipt"]["energy_fee"] == 10 * TRX
    assert "Not enough energy" in info["resMessage"]
    assert "log" not in info
    with pytest.raises(TvmError, match="Not enough energy"):
        ret.result(**WAIT)
    bandwidth = info["receipt"].get("net_fee", 0)
    assert client.get_account(sender)["balance"] == before - 10 * TRX - bandwidth
    assert client.get_contract(USDT_ADDRESS).functions.balanceOf(fresh) == 0


def test_the_fee_limit_caps_delegated_energy_too(devnet_session, holder_pair):
    priv, sender, _ = holder_pair
    _, fresh = generate_key()
    give_energy(devnet_session, sender, NEW_HOLDER_ENERGY)

    info = send_usdt(devnet_session, priv, sender, fresh, 1_000_000).wait(**WAIT)

    assert info["receipt"]["result"] == "OUT_OF_ENERGY"
    assert info["receipt"]["energy_usage"] == 100_000
    assert "energy_fee" not in info["receipt"]


def test_a_blacklisted_sender_reverts_on_chain_and_still_pays_for_energy(devnet_session, holder_pair):
    priv, sender, recipient = holder_pair
    admin(devnet_session, "devnet/blacklist", {"address": sender})
    contract = tron_client(devnet_session).get_contract(USDT_ADDRESS)
    assert contract.functions.isBlackListed(sender) is True

    ret = send_usdt(devnet_session, priv, sender, recipient, 1_000_000, fee_limit=100 * TRX)
    info = ret.wait(**WAIT)

    assert info["result"] == "FAILED"
    assert info["receipt"]["result"] == "REVERT"
    assert info["resMessage"] == "REVERT opcode executed"
    assert info["receipt"]["energy_fee"] > 0
    with pytest.raises(TvmError, match="REVERT"):
        ret.result(**WAIT)
    assert contract.functions.balanceOf(sender) == 100_000_000


def test_sending_more_usdt_than_held_reverts(devnet_session, holder_pair):
    priv, sender, recipient = holder_pair

    info = send_usdt(devnet_session, priv, sender, recipient, 100_000_001, fee_limit=100 * TRX).wait(**WAIT)

    assert info["receipt"]["result"] == "REVERT"
    assert info["result"] == "FAILED"


def test_estimateenergy_reports_the_holder_and_fresh_holder_costs(devnet_session, holder_pair):
    _, sender, holder = holder_pair
    _, fresh = generate_key()
    client = tron_client(devnet_session)
    method = client.get_contract(USDT_ADDRESS).functions.transfer
    selector = "transfer(address,uint256)"

    to_holder = client.get_estimated_energy(
        sender, USDT_ADDRESS, selector, method._prepare_parameter(holder, 1)
    )
    to_fresh = client.get_estimated_energy(
        sender, USDT_ADDRESS, selector, method._prepare_parameter(fresh, 1)
    )

    assert (to_holder, to_fresh) == (HOLDER_ENERGY, NEW_HOLDER_ENERGY)


def test_block_endpoints_carry_the_transfer_logs(devnet_session, holder_pair):
    priv, sender, recipient = holder_pair
    info = send_usdt(devnet_session, priv, sender, recipient, 7_000_000, fee_limit=100 * TRX).wait(**WAIT)
    number = info["blockNumber"]

    block = tron_client(devnet_session).get_block(number)
    assert info["id"] in [t["txID"] for t in block["transactions"]]
    assert block["blockID"].startswith(f"{number:016x}")

    visible = node_call(
        devnet_session, "wallet/gettransactioninfobyblocknum", {"num": number, "visible": True}
    )
    hexed = node_call(devnet_session, "wallet/gettransactioninfobyblocknum", {"num": number})
    mine = next(i for i in visible if i["id"] == info["id"])
    log = mine["log"][0]
    assert log["address"] == USDT_ADDRESS
    assert log["topics"] == [TRANSFER_TOPIC, abi_address(sender), abi_address(recipient)]
    assert int(log["data"], 16) == 7_000_000
    hex_log = next(i for i in hexed if i["id"] == info["id"])["log"][0]
    assert hex_log["address"] == to_hex_address(USDT_ADDRESS)[2:]


def test_async_tron_sends_usdt_the_same_way(devnet_session, holder_pair):
    priv, sender, recipient = holder_pair

    async def flow():
        async with AsyncTron(AsyncHTTPProvider(devnet_session.node_url)) as client:
            contract = await client.get_contract(USDT_ADDRESS)
            before = await contract.functions.balanceOf(recipient)
            txb = await contract.functions.transfer(recipient, 2_000_000)
            txn = await txb.with_owner(sender).fee_limit(100 * TRX).build()
            ret = await txn.sign(key_of(priv)).broadcast()
            info = await ret.wait(**WAIT)
            result = await ret.result(**WAIT)
            after = await contract.functions.balanceOf(recipient)
            return before, info, result, after

    before, info, result, after = asyncio.run(flow())

    assert info["receipt"]["result"] == "SUCCESS"
    assert result is False
    assert after == before + 2_000_000


def test_minting_emits_a_transfer_log_from_the_zero_address(devnet_session):
    _, holder = generate_key()
    head = tron_client(devnet_session).get_latest_block_number()
    fund_over_http(devnet_session, holder, usdt=9_000_000)
    admin(devnet_session, "devnet/produce", {"blocks": 1})

    found = []
    for number in range(head, tron_client(devnet_session).get_latest_block_number() + 1):
        infos = node_call(
            devnet_session, "wallet/gettransactioninfobyblocknum", {"num": number, "visible": True}
        )
        found += [log for i in infos for log in i.get("log", []) if log["topics"][2] == abi_address(holder)]
    assert len(found) == 1
    assert found[0]["topics"][1] == "0" * 64
    assert int(found[0]["data"], 16) == 9_000_000
