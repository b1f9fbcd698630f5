"""An independent client against the devnet: TronWeb from npm builds, signs and broadcasts real traffic.

TronWeb is not written here and disagrees with tronpy where it matters: it builds system contracts
itself from `/wallet/getblock` (the head block, expiration = block time + 60 s), builds TRC20 calls
through `/wallet/triggersmartcontract` and refuses to sign unless the node's `txID` and `raw_data_hex`
match its own serialisation of `raw_data` (`txCheck`), and signs with v = 27/28 (tronpy: 0/1).
The package is pinned in tests/interop/package.json and its lock file; it is installed on first use.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devnet.crypto import generate_key
from devnet.usdt import USDT_ADDRESS
from tests.fixtures.devnet import TRX, admin, node_call, tron_client

pytestmark = pytest.mark.integration

INTEROP = Path(__file__).resolve().parent.parent / "interop"
SCRIPT = INTEROP / "tronweb_flow.mjs"


@pytest.fixture(scope="module")
def tronweb() -> Path:
    """tests/interop with TronWeb installed from its lock file (npm ci), or a skip naming what is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("TronWeb interop needs Node.js and npm on PATH (neither is installed here)")
    if not (INTEROP / "node_modules" / "tronweb" / "package.json").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=INTEROP,
            check=True,
            timeout=600,
        )
    return Path(node)


def run_flow(node: Path, payload: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [str(node), str(SCRIPT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    result: dict[str, Any] = json.loads(done.stdout or "{}")
    assert done.returncode == 0, result.get("error") or done.stderr[-2000:]
    return result


def test_tronweb_sends_trx_trc20_and_stake_2_0_delegations_that_the_devnet_mines(devnet, tronweb):
    priv, sender = generate_key()
    _, receiver = generate_key()
    admin(devnet, "devnet/fund", {"address": sender, "sun": 5_000 * TRX})
    admin(devnet, "devnet/mint", {"address": sender, "amount": 50_000_000})

    flow = run_flow(
        tronweb,
        {
            "node": devnet.node_url,
            "key": priv.hex(),
            "to": receiver,
            "token": USDT_ADDRESS,
            "trx": 10 * TRX,
            "tokens": 1_234_567,
            "freeze_energy": 2_000 * TRX,
            "freeze_bandwidth": 1_000 * TRX,
            "delegate_energy": 1_500 * TRX,
            "delegate_bandwidth": 500 * TRX,
            "lock_period": 100,
            "undelegate_energy": 500 * TRX,
        },
    )

    steps = {s["step"]: s for s in flow["steps"]}
    assert flow["sender"] == sender
    assert list(steps) == [
        "trx",
        "trc20",
        "freeze_energy",
        "freeze_bandwidth",
        "delegate_energy",
        "delegate_bandwidth",
        "undelegate_energy",
    ]
    assert {s["v"] for s in steps.values()} <= {27, 28}  # TronWeb's recovery ids, accepted as such
    assert all("result" not in s["info"] for s in steps.values())  # none FAILED
    trc20 = steps["trc20"]["info"]
    assert trc20["receipt"]["result"] == "SUCCESS"
    assert trc20["receipt"]["energy_usage_total"] == 130_285  # to a fresh holder, at the default factor
    assert int(trc20["log"][0]["data"], 16) == 1_234_567

    client = tron_client(devnet)
    assert client.get_account_balance(receiver) == 10
    assert client.get_contract(USDT_ADDRESS).functions.balanceOf(receiver) == 1_234_567
    account = client.get_account(sender)
    assert {"type": "ENERGY", "amount": 1_000 * TRX} in account["frozenV2"]  # 2 000 - 1 500 + 500 back
    assert {"amount": 500 * TRX} in account["frozenV2"]  # bandwidth stake: 1 000 - 500 delegated
    pair = {"fromAddress": sender, "toAddress": receiver, "visible": True}
    records = node_call(devnet, "wallet/getdelegatedresourcev2", pair)["delegatedResource"]
    unlocked, locked = records
    assert unlocked == {"from": sender, "to": receiver, "frozen_balance_for_energy": 1_000 * TRX}
    assert locked["frozen_balance_for_bandwidth"] == 500 * TRX
    assert locked["expire_time_for_bandwidth"] > steps["delegate_bandwidth"]["info"]["blockTimeStamp"]
    resource = client.get_account_resource(receiver)
    assert resource["EnergyLimit"] == 10_000  # 1 000 TRX delegated at 100 000 sun per energy
    assert resource["NetLimit"] == 500  # 500 TRX of bandwidth stake at the default network ratio
