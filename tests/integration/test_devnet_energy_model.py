"""Energy per token and the dynamic-energy factor over HTTP, agreeing across every place a client reads it.

`triggerconstantcontract` (energy_used, energy_penalty), `estimateenergy`, the receipt
(energy_usage_total, energy_penalty_total) and `getcontractinfo.contract_state.energy_factor` all follow
the contract's factor, which the admin API changes at run time (per contract, or the chain default).
"""

from __future__ import annotations

import httpx
import pytest
from tronpy.keys import PrivateKey

from devnet.crypto import abi_address, generate_key
from devnet.usdt import USDT_ADDRESS
from tests.fixtures.devnet import TRX, admin, fund_over_http, node_call, tron_client

pytestmark = pytest.mark.integration

WAIT = {"interval": 0.2}
USDD = "TPYmHEhy5n8TCEfYGqW2rPxsghSfzghPDn"  # mainnet USDD's address; here just a deployed token


def measured(node, token, sender, to, amount):
    """What a client asks before sending: (energy_used, energy_penalty) and estimateenergy's figure."""
    call = {
        "owner_address": sender,
        "contract_address": token,
        "function_selector": "transfer(address,uint256)",
        "parameter": abi_address(to) + f"{amount:064x}",
        "visible": True,
    }
    constant = node_call(node, "wallet/triggerconstantcontract", call)
    estimate = node_call(node, "wallet/estimateenergy", call)
    return constant["energy_used"], constant.get("energy_penalty", 0), estimate["energy_required"]


def send(node, priv, token, sender, to, amount, fee_limit=100 * TRX):
    contract = tron_client(node).get_contract(token)
    txn = contract.functions.transfer(to, amount).with_owner(sender).fee_limit(fee_limit).build()
    return txn.sign(PrivateKey(bytes.fromhex(priv))).broadcast().wait(**WAIT)


def test_a_token_with_its_own_cost_is_measured_and_charged_the_same(devnet, funded_account):
    admin(
        devnet,
        "devnet/token",
        {
            "address": USDD,
            "symbol": "USDD",
            "decimals": 18,
            "holder_energy": 9_000,
            "new_holder_energy": 24_000,
        },
    )
    priv, sender = funded_account(sun=200 * TRX)
    _, fresh = funded_account(sun=TRX)
    admin(devnet, "devnet/mint", {"address": sender, "amount": 5_000 * 10**18, "contract": USDD})
    admin(devnet, "devnet/produce", {"blocks": 1})

    used, penalty, estimate = measured(devnet, USDD, sender, fresh, 10**18)
    receipt = send(devnet, priv, USDD, sender, fresh, 10**18)["receipt"]

    assert used == estimate == receipt["energy_usage_total"]
    assert used - penalty == 24_000 and penalty == receipt["energy_penalty_total"]
    assert measured(devnet, USDD, sender, fresh, 10**18)[0] < used  # now a holder: the cheaper path


def test_raising_usdts_energy_factor_mid_run_moves_every_figure_together(devnet, funded_account):
    priv, sender = funded_account(sun=200 * TRX, usdt=50_000_000)
    _, holder = funded_account(sun=TRX, usdt=1)
    before = measured(devnet, USDT_ADDRESS, sender, holder, 1)

    reply = admin(devnet, "devnet/energy_factor", {"contract": USDT_ADDRESS, "factor": 50_000})
    after = measured(devnet, USDT_ADDRESS, sender, holder, 1)
    receipt = send(devnet, priv, USDT_ADDRESS, sender, holder, 1)["receipt"]
    info = node_call(devnet, "wallet/getcontractinfo", {"value": USDT_ADDRESS, "visible": True})

    assert before == (64_285, 49_635, 64_285)
    assert reply == {"contract": USDT_ADDRESS, "factor": 50_000}
    assert after[0] == after[2] == receipt["energy_usage_total"] > 64_285
    assert after[1] == receipt["energy_penalty_total"] == after[0] - 14_650
    assert info["contract_state"]["energy_factor"] == 50_000
    assert info["contract_state"]["energy_usage"] >= 14_650  # base energy used in this cycle


def test_the_chain_default_factor_applies_to_contracts_without_their_own(devnet, funded_account):
    _, sender = funded_account(sun=TRX, usdt=5_000_000)
    _, holder = funded_account(sun=TRX, usdt=1)

    admin(devnet, "devnet/params", {"energy_factor": 0})
    flat = measured(devnet, USDT_ADDRESS, sender, holder, 1)
    admin(devnet, "devnet/energy_factor", {"contract": USDT_ADDRESS, "factor": 10_000})
    own = measured(devnet, USDT_ADDRESS, sender, holder, 1)

    assert flat == (14_650, 0, 14_650)
    assert own[1] == 875 * 3 + 12_025  # every opcode doubled: 3 -> 6 per cheap opcode, the rest x2
    params = {p["key"] for p in tron_client(devnet).get_chain_parameters()}
    assert "energy_factor" not in params and "getTotalEnergyWeight" not in params


def test_too_little_energy_and_fee_limit_after_a_raise_fails_out_of_energy_on_chain(devnet, funded_account):
    priv, sender = funded_account(sun=200 * TRX, usdt=5_000_000)
    _, holder = funded_account(sun=TRX, usdt=1)
    admin(devnet, "devnet/energy_factor", {"contract": USDT_ADDRESS, "factor": 60_000})

    info = send(devnet, priv, USDT_ADDRESS, sender, holder, 1, fee_limit=64_285 * 100)

    assert info["receipt"]["result"] == "OUT_OF_ENERGY" and info["result"] == "FAILED"
    assert info["receipt"]["energy_usage_total"] == 64_285


def test_a_thousand_whole_tokens_of_an_18_decimal_token_move_exactly(devnet, funded_account):
    admin(devnet, "devnet/token", {"address": USDD, "symbol": "USDD", "decimals": 18})
    priv, sender = funded_account(sun=200 * TRX)
    _, destination = funded_account(sun=TRX)
    thousand = 1_000 * 10**18
    admin(devnet, "devnet/mint", {"address": sender, "amount": thousand + 1, "contract": USDD})

    info = send(devnet, priv, USDD, sender, destination, thousand)

    contract = tron_client(devnet).get_contract(USDD)
    assert int(info["log"][0]["data"], 16) == thousand
    assert contract.functions.balanceOf(destination) == thousand
    assert contract.functions.balanceOf(sender) == 1
    assert contract.functions.decimals() == 18
    account = httpx.get(devnet.node_url + f"devnet/account/{destination}").json()
    assert account["tokens"]["USDD"] == thousand
    max_uint = admin(
        devnet,
        "devnet/mint",
        {"address": generate_key()[1], "amount": 2**256 - 1 - (thousand + 1), "contract": USDD},
    )
    assert max_uint == {"ok": True}
    too_much = httpx.post(
        devnet.node_url + "devnet/mint", json={"address": sender, "amount": 1, "contract": USDD}
    )
    assert too_much.status_code == 400 and "uint256" in too_much.json()["message"]


def test_bad_token_and_factor_requests_get_a_one_line_400(devnet):
    for path, body in [
        ("devnet/token", {"address": USDD, "symbol": "X", "decimals": 19}),
        ("devnet/token", {"address": USDD, "symbol": "X", "holder_energy": 0}),
        ("devnet/energy_factor", {"contract": USDT_ADDRESS, "factor": -1}),
        ("devnet/energy_factor", {"contract": "TNotAContract", "factor": 1}),
    ]:
        reply = httpx.post(devnet.node_url + path, json=body)
        assert reply.status_code == 400 and "\n" not in reply.json()["message"]
    fund_over_http(devnet, generate_key()[1], sun=TRX)  # the node still works
