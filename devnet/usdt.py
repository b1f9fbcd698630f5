"""The TRC20 contract the devnet runs: mainnet USDT's observable semantics, not its bytecode.

Energy figures come from real mainnet receipts: 64 285 (base 14 650 + dynamic penalty 49 635) when the
recipient already holds USDT, 130 285 when it does not (a fresh storage slot: +15 000 base, 3.4x penalty).
`transfer` returns false (32 zero bytes) even on success, as mainnet USDT does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from Crypto.Hash import keccak

USDT_ADDRESS = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
USDT_ORIGIN_HEX = "41517591d35d313bf6a5e33098284502b045e2bc08"
ZERO_HEX = "410000000000000000000000000000000000000000"

HOLDER_ENERGY = (14_650, 49_635)  # (base, penalty) when the recipient already holds the token
NEW_HOLDER_ENERGY = (29_650, 100_635)  # when the recipient's balance slot is fresh
REVERT_ENERGY = (2_040, 6_936)
VIEW_ENERGY = 935
ENERGY_FACTOR = 34_000  # contract_state.energy_factor (×10 000): USDT sits at the 3.4 maximum


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


def _revert() -> VmResult:
    return VmResult("REVERT", *REVERT_ENERGY)


@dataclass
class Trc20Token:
    """Token state (balances, blacklist) and call semantics; addresses are hex `41…`."""

    address: str = USDT_HEX
    name: str = "Tether USD"
    symbol: str = "USDT"
    decimals: int = 6
    origin: str = USDT_ORIGIN_HEX
    balances: dict[str, int] = field(default_factory=dict)
    blacklist: set[str] = field(default_factory=set)
    total_supply: int = 0

    def balance_of(self, hex41: str) -> int:
        return self.balances.get(hex41, 0)

    def mint(self, hex41: str, amount: int) -> None:
        self.balances[hex41] = self.balances.get(hex41, 0) + amount
        self.total_supply += amount

    def call(self, caller: str, data: str) -> VmResult:
        """Execute `data` (selector + ABI params, hex) from `caller` without changing state.

        The returned `apply` commits the state change; callers run it only if the energy suffices.
        """
        data = data.lower()
        sel, params = data[:8], data[8:]
        try:
            if sel == SEL["transfer(address,uint256)"]:
                return self._transfer(caller, _arg_address(params, 0), _arg_uint(params, 1))
            view = self._view(sel, params)
        except ValueError:
            return _revert()
        if view is None:
            return _revert()
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

    def _transfer(self, sender: str, to: str, amount: int) -> VmResult:
        if sender in self.blacklist:
            return _revert()
        have = self.balance_of(sender)
        if amount > have:
            return _revert()
        base, penalty = HOLDER_ENERGY if self.balance_of(to) > 0 else NEW_HOLDER_ENERGY

        def apply() -> None:
            self.balances[sender] = self.balances.get(sender, 0) - amount
            if self.balances[sender] == 0:
                del self.balances[sender]
            if amount:
                self.balances[to] = self.balances.get(to, 0) + amount

        log = transfer_log(self.address, sender, to, amount)
        return VmResult("SUCCESS", base, penalty, _word(0), [log], apply)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.name,
            "symbol": self.symbol,
            "decimals": self.decimals,
            "origin": self.origin,
            "balances": dict(self.balances),
            "blacklist": sorted(self.blacklist),
            "total_supply": self.total_supply,
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
