"""The TRC20 contracts the devnet runs: mainnet USDT's observable semantics, not its bytecode.

Energy: a transfer's base cost depends on whether the recipient already holds the token (a fresh
storage slot costs more); the dynamic-energy penalty on top comes from the contract's `energy_factor`
(`devnet/energy.py`). USDT's defaults reproduce real mainnet receipts at factor 34 000: 64 285
(14 650 base + 49 635 penalty) to a holder, 130 285 (29 650 + 100 635) to a fresh slot.
`transfer` returns false (32 zero bytes) even on success, as mainnet USDT does. Balances are Python
ints bounded by uint256 (any TRC20 amount, e.g. 18-decimal tokens).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from Crypto.Hash import keccak

from devnet.energy import CallCost, transfer_costs
from devnet.layers import Layer, flat, same

USDT_ADDRESS = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
USDT_ORIGIN_HEX = "41517591d35d313bf6a5e33098284502b045e2bc08"
ZERO_HEX = "410000000000000000000000000000000000000000"
MAX_UINT256 = 2**256 - 1
MAX_DECIMALS = 18

HOLDER_BASE_ENERGY = 14_650  # base energy of a transfer to an address that already holds the token
NEW_HOLDER_BASE_ENERGY = 29_650  # to an address whose balance slot is fresh (+15 000 for the SSTORE)
HOLDER_ENERGY = (14_650, 49_635)  # (base, penalty) at factor 34 000: mainnet USDT receipts
NEW_HOLDER_ENERGY = (29_650, 100_635)
REVERT_COST = CallCost(2_040)  # penalty 6 936 at factor 34 000
REVERT_ENERGY = (2_040, 6_936)
VIEW_ENERGY = 935  # constant calls: a fixed figure, no penalty (docs/TRON.md §14)
ENERGY_FACTOR = 34_000  # the default contract energy_factor (x10 000): USDT sits at the 3.4 maximum


def _selector(signature: str) -> str:
    return keccak.new(data=signature.encode(), digest_bits=256).hexdigest()[:8]


def event_topic(signature: str) -> str:
    return keccak.new(data=signature.encode(), digest_bits=256).hexdigest()


TRANSFER_TOPIC = event_topic("Transfer(address,address,uint256)")
SEL = {
    name: _selector(name)
    for name in (
        "balanceOf(address)",
        "transfer(address,uint256)",
        "decimals()",
        "symbol()",
        "name()",
        "totalSupply()",
        "isBlackListed(address)",
        "getBlackListStatus(address)",
        "owner()",
        "issue(uint256)",
    )
}


def _word(value: int) -> str:
    return f"{value:064x}"


def _address_word(hex41: str) -> str:
    return "0" * 24 + hex41[2:]


def _string_result(text: str) -> str:
    raw = text.encode()
    padded = raw.hex().ljust(((len(raw) + 31) // 32) * 64, "0")
    return _word(32) + _word(len(raw)) + padded


def _arg_address(params: str, index: int) -> str:
    word = params[index * 64 : (index + 1) * 64]
    if len(word) != 64:
        raise ValueError("short calldata")
    return "41" + word[24:].lower()


def _arg_uint(params: str, index: int) -> int:
    word = params[index * 64 : (index + 1) * 64]
    if len(word) != 64:
        raise ValueError("short calldata")
    return int(word, 16)


def transfer_log(contract_hex: str, from_hex: str, to_hex: str, amount: int) -> dict[str, Any]:
    """A Transfer event in java-tron's non-visible shape (20-byte contract address)."""
    return {
        "address": contract_hex[2:],
        "topics": [TRANSFER_TOPIC, _address_word(from_hex), _address_word(to_hex)],
        "data": _word(amount),
    }


@dataclass
class VmResult:
    """Outcome of one call: status, energy (base + penalty), output hex, logs, and the state change."""

    status: str  # "SUCCESS" or "REVERT"
    energy: int
    penalty: int
    output: str = ""
    logs: list[dict[str, Any]] = field(default_factory=list)
    apply: Callable[[], None] | None = None

    @property
    def energy_total(self) -> int:
        return self.energy + self.penalty


def _revert(factor: int) -> VmResult:
    return VmResult("REVERT", REVERT_COST.base, REVERT_COST.penalty(factor))


@dataclass
class Trc20Token:
    """One TRC20 contract: balances, blacklist, energy costs and dynamic-energy state; addresses hex.

    `balances` is a dict, or a `Layer` over the same token's balances one state below (pending pool,
    unsolidified blocks).
    """

    address: str = USDT_HEX
    name: str = "Tether USD"
    symbol: str = "USDT"
    decimals: int = 6
    origin: str = USDT_ORIGIN_HEX
    balances: MutableMapping[str, int] = field(default_factory=dict)
    blacklist: set[str] = field(default_factory=set)
    total_supply: int = 0
    holder_energy: int = HOLDER_BASE_ENERGY
    new_holder_energy: int = NEW_HOLDER_BASE_ENERGY
    energy_factor: int | None = None  # None: the chain's default (ChainParams.energy_factor)
    energy_usage: int = 0  # base energy used in `update_cycle` (ContractState.energy_usage)
    update_cycle: int = 0
    # False: a non-standard token whose transfer succeeds without emitting the Transfer event (the receipt
    # is SUCCESS with no log), which the sweeper must not take as proof that funds moved.
    emits_transfer: bool = True

    def copy(self) -> Trc20Token:
        """A copy for a state layer: its balance changes stay in the layer."""
        return replace(self, blacklist=set(self.blacklist), balances=Layer(self.balances, same))

    def balance_of(self, hex41: str) -> int:
        balances = self.balances
        found = balances.peek(hex41) if isinstance(balances, Layer) else balances.get(hex41)
        return found or 0

    def mint(self, hex41: str, amount: int) -> None:
        if self.total_supply + amount > MAX_UINT256:
            raise ValueError("minting would overflow the uint256 total supply")
        self.balances[hex41] = self.balances.get(hex41, 0) + amount
        self.total_supply += amount

    def factor(self, default: int, dynamic_energy_on: bool) -> int:
        """The factor applied to this contract's calls (0 when dynamic energy is off)."""
        if not dynamic_energy_on:
            return 0
        return default if self.energy_factor is None else self.energy_factor

    def record_usage(self, base: int, cycle: int) -> None:
        """Add a call's base energy to this cycle's usage (VM.play addContextContractUsage)."""
        if cycle != self.update_cycle:
            self.update_cycle, self.energy_usage = cycle, 0
        self.energy_usage += base

    def call(self, caller: str, data: str, factor: int = ENERGY_FACTOR) -> VmResult:
        """Execute `data` (selector + ABI params, hex) from `caller` without changing state.

        `factor` is the contract's energy_factor for this call. The returned `apply` commits the
        state change; callers run it only if the energy suffices.
        """
        data = data.lower()
        sel, params = data[:8], data[8:]
        try:
            if sel == SEL["transfer(address,uint256)"]:
                return self._transfer(caller, _arg_address(params, 0), _arg_uint(params, 1), factor)
            view = self._view(sel, params)
        except ValueError:
            return _revert(factor)
        if view is None:
            return _revert(factor)
        return VmResult("SUCCESS", VIEW_ENERGY, 0, view)

    def _view(self, sel: str, params: str) -> str | None:
        if sel == SEL["balanceOf(address)"]:
            return _word(self.balance_of(_arg_address(params, 0)))
        if sel in (SEL["isBlackListed(address)"], SEL["getBlackListStatus(address)"]):
            return _word(1 if _arg_address(params, 0) in self.blacklist else 0)
        if sel == SEL["decimals()"]:
            return _word(self.decimals)
        if sel == SEL["symbol()"]:
            return _string_result(self.symbol)
        if sel == SEL["name()"]:
            return _string_result(self.name)
        if sel == SEL["totalSupply()"]:
            return _word(self.total_supply)
        if sel == SEL["owner()"]:
            return _address_word(self.origin)
        return None

    def _transfer(self, sender: str, to: str, amount: int, factor: int) -> VmResult:
        if sender in self.blacklist:
            return _revert(factor)
        have = self.balance_of(sender)
        if amount > have:
            return _revert(factor)
        holder, fresh = transfer_costs(self.holder_energy, self.new_holder_energy)
        cost = holder if self.balance_of(to) > 0 else fresh

        def apply() -> None:
            self.balances[sender] = self.balances.get(sender, 0) - amount
            if self.balances[sender] == 0:
                del self.balances[sender]
            if amount:
                self.balances[to] = self.balances.get(to, 0) + amount

        logs = [transfer_log(self.address, sender, to, amount)] if self.emits_transfer else []
        return VmResult("SUCCESS", cost.base, cost.penalty(factor), _word(0), logs, apply)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.name,
            "symbol": self.symbol,
            "decimals": self.decimals,
            "origin": self.origin,
            "balances": flat(self.balances),
            "blacklist": sorted(self.blacklist),
            "total_supply": self.total_supply,
            "holder_energy": self.holder_energy,
            "new_holder_energy": self.new_holder_energy,
            "energy_factor": self.energy_factor,
            "energy_usage": self.energy_usage,
            "update_cycle": self.update_cycle,
            "emits_transfer": self.emits_transfer,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trc20Token:
        return cls(
            address=data["address"],
            name=data["name"],
            symbol=data["symbol"],
            decimals=data["decimals"],
            origin=data["origin"],
            balances=dict(data["balances"]),
            blacklist=set(data["blacklist"]),
            total_supply=data["total_supply"],
            holder_energy=data.get("holder_energy", HOLDER_BASE_ENERGY),
            new_holder_energy=data.get("new_holder_energy", NEW_HOLDER_BASE_ENERGY),
            energy_factor=data.get("energy_factor"),
            energy_usage=data.get("energy_usage", 0),
            update_cycle=data.get("update_cycle", 0),
            emits_transfer=data.get("emits_transfer", True),
        )


def _fn(name: str, inputs: list[tuple[str, str]], outputs: list[str], mutability: str) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if mutability == "View":
        entry["constant"] = True
    if inputs:
        entry["inputs"] = [{"name": n, "type": t} if n else {"type": t} for n, t in inputs]
    entry["name"] = name
    entry["outputs"] = [{"type": t} for t in outputs]
    entry["stateMutability"] = mutability
    entry["type"] = "Function"
    return entry


def token_abi() -> list[dict[str, Any]]:
    """The ABI getcontract returns: TRON enum spellings, stateMutability on every function."""
    return [
        _fn("name", [], ["string"], "View"),
        _fn("symbol", [], ["string"], "View"),
        _fn("decimals", [], ["uint8"], "View"),
        _fn("totalSupply", [], ["uint256"], "View"),
        _fn("owner", [], ["address"], "View"),
        _fn("balanceOf", [("who", "address")], ["uint256"], "View"),
        _fn("isBlackListed", [("", "address")], ["bool"], "View"),
        _fn("getBlackListStatus", [("_maker", "address")], ["bool"], "View"),
        _fn("transfer", [("_to", "address"), ("_value", "uint256")], ["bool"], "Nonpayable"),
        {
            "inputs": [
                {"indexed": True, "name": "from", "type": "address"},
                {"indexed": True, "name": "to", "type": "address"},
                {"name": "value", "type": "uint256"},
            ],
            "name": "Transfer",
            "type": "Event",
        },
    ]


CONTRACT_NAME = "TetherToken"
# A stand-in bytecode: tronpy only carries it around; it is never executed.
BYTECODE = (
    "608060405260043610610057576000357c01000000000000000000000000000000000000000000000000000000"
    "00900463ffffffff168063a9059cbb1461005c575b600080fd00a165627a7a72305820"
)


def contract_json(token: Trc20Token, addr_out: Callable[[str], str]) -> dict[str, Any]:
    """getcontract's SmartContract for a token (`addr_out` renders addresses for the dialect)."""
    return {
        "origin_address": addr_out(token.origin),
        "contract_address": addr_out(token.address),
        "abi": {"entrys": token_abi()},
        "bytecode": BYTECODE,
        "consume_user_resource_percent": 30,
        "name": CONTRACT_NAME,
        "origin_energy_limit": 10_000_000,
        "code_hash": keccak.new(data=bytes.fromhex(BYTECODE), digest_bits=256).hexdigest(),
    }
