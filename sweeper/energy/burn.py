"""The last resort: send TRX from a gas wallet to the deposit address and let the transfer burn it.

Off by default and capped per sweep. The TRX covers the energy at the chain's energy price and, when the
address cannot pay the transfer's bytes from its free or staked bandwidth, those bytes at the chain's
bandwidth price; the gas wallet pays on top the account-creation fee when the address is not activated
yet (the transfer activates it) and its own transaction's bytes. Every price is a chain parameter read
from the node (docs/TRON.md §4, §5, §9), none is a constant here. The signed transfer is stored under
our order number before broadcast, so an order is one transfer; its recorded cost is what left the gas
wallet: the TRX sent plus the fee its transaction burned, read from the receipt once mined.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from sweeper.chain import size
from sweeper.energy.base import Capabilities, check_address
from sweeper.energy.fields import OptionalAddress
from sweeper.energy.journal import JournaledSource, JournalEntry, TxJournal, submit_once
from sweeper.energy.registry import BuildContext, ProviderSpec
from sweeper.errors import PolicyRefused
from sweeper.models import ChainParameters, EnergyOrder, OrderStatus, Quote

if TYPE_CHECKING:
    from sweeper.chain.port import Chain, Signer

FEE_LIMIT_HEADROOM = 1.2  # as the transfer's own fee_limit (sweeper.assets): only its varint length matters


class BurnSource(JournaledSource):
    """A gas wallet as an :class:`~sweeper.energy.base.EnergySource` (energy, bandwidth, activation)."""

    capabilities = Capabilities(activation=True, bandwidth=True, lookup=True, delivers_trx=True)

    def __init__(
        self,
        chain: Chain,
        signer: Signer,
        *,
        journal: TxJournal,
        max_sun_per_sweep: int,
        name: str = "burn",
    ) -> None:
        self.name = name
        self._chain = chain
        self._signer = signer
        self._journal = journal
        self.max_sun_per_sweep = max_sun_per_sweep

    def __repr__(self) -> str:
        return f"BurnSource(name={self.name!r}, gas_wallet={self._signer.address!r})"

    # -- what it costs --------------------------------------------------------------------------------

    def _costs(
        self, address: str, energy: int, to: str | None = None, *, bytes_: int | None = None
    ) -> tuple[int, int]:
        """(sun to send to the address, sun the gas wallet's own transaction burns on top)."""
        params = self._chain.chain_parameters()
        have = self._chain.account(address)
        activated = have is not None
        need = energy * params.energy_fee
        if bytes_ is None:
            fee_limit = max(1, math.ceil(energy * params.energy_fee * FEE_LIMIT_HEADROOM))
            bytes_ = size.trc20_transfer_bytes(address, address, to or address, 1, fee_limit)
        if have is not None:
            if max(have.staked_bandwidth, have.free_bandwidth) < bytes_:
                need += bytes_ * params.transaction_fee
            need -= have.trx
        elif params.free_net_limit < bytes_:
            need += bytes_ * params.transaction_fee
        send = max(0, need)
        return send, self._own_fee(address, max(send, 1), activated, params)

    def _own_fee(self, address: str, amount: int, activated: bool, params: ChainParameters) -> int:
        """What the gas wallet's TRX transfer burns beyond the amount (docs/TRON.md §4, §5)."""
        if not activated:
            return params.activation_sun
        own = self._chain.resources(self._signer.address)
        bytes_ = size.trx_transfer_bytes(self._signer.address, address, amount)
        return (
            0 if max(own.staked_bandwidth, own.free_bandwidth) >= bytes_ else bytes_ * params.transaction_fee
        )

    def _capped(self, send: int, fee: int) -> None:
        if send + fee > self.max_sun_per_sweep:
            raise PolicyRefused(
                f"burn: {send + fee} sun exceeds the burn cap of {self.max_sun_per_sweep} sun",
                reason="burn_cap",
            )

    def covers(self, address: str, energy: int) -> bool:
        """True once ``address`` is on chain and holds the TRX to burn for ``energy`` (what burn delivers)."""
        return self._chain.is_activated(address) and self._costs(address, energy)[0] == 0

    def balance(self) -> int:
        """The gas wallet's TRX, in sun."""
        return self._chain.trx_balance(self._signer.address)

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        send, fee = self._costs(address, energy, to)
        self._capped(send, fee)
        activated = self._chain.is_activated(address)
        return Quote(
            source=self.name,
            energy=energy,
            cost_sun=send + (fee if activated else 0),
            duration="burn",
            activation_sun=0 if activated else fee,
        )

    def quote_bandwidth(self, address: str, size: int) -> Quote:
        check_address(address)
        send, fee = self._costs(address, 0, bytes_=size)
        self._capped(send, fee)
        return Quote(source=self.name, energy=0, cost_sun=send + fee, duration="burn")

    # -- ordering -------------------------------------------------------------------------------------

    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        return self._send(order_no, address, energy, lambda: self._costs(address, energy, to))

    def order_bandwidth(self, order_no: str, address: str, size: int) -> EnergyOrder:
        return self._send(
            order_no, address, size, lambda: self._costs(address, 0, bytes_=size), bandwidth=True
        )

    def _send(
        self,
        order_no: str,
        address: str,
        units: int,
        costs: Callable[[], tuple[int, int]],
        *,
        bandwidth: bool = False,
    ) -> EnergyOrder:
        check_address(address)
        if self._journal.get(order_no) is None:
            send, fee = costs()
            self._capped(send, fee)
            if send == 0 and self._chain.is_activated(address):
                return EnergyOrder(
                    self.name,
                    order_no,
                    address,
                    units,
                    OrderStatus.DELIVERED,
                    detail="the address already holds enough TRX",
                )

        def build() -> JournalEntry:
            send, fee = costs()
            self._capped(send, fee)
            tx = self._chain.build_trx_transfer(self._signer, address, max(send, 1))
            return JournalEntry(
                tx=tx, receiver=address, amount_sun=max(send, 1), energy=0 if bandwidth else units
            )

        entry = submit_once(self._chain, self._journal, order_no, build)
        return self._order(order_no, entry, OrderStatus.PENDING, 0)

    def _order(self, order_no: str, entry: JournalEntry, status: OrderStatus, fee_sun: int) -> EnergyOrder:
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=entry.receiver,
            energy=entry.energy,
            status=status,
            provider_order_id=entry.tx.txid,
            cost_sun=entry.amount_sun + fee_sun,
            delegate_txid=entry.tx.txid,
            detail=f"sent {entry.amount_sun} sun to burn"
            + (f", its transaction burned {fee_sun}" if fee_sun else ""),
            delivered_sun=entry.amount_sun,
        )


# -- registration ----------------------------------------------------------------------------------------


class BurnSettings(BaseModel):
    """A gas wallet that sends TRX so the transfer burns it: last resort, off by default, capped."""

    gas_wallet: OptionalAddress = None
    key_ref: str | None = None
    max_sun_per_sweep: int = Field(15_000_000, ge=0)


def build_burn(settings: BurnSettings, context: BuildContext) -> BurnSource:
    chain, signer = context.wallet(settings.gas_wallet)
    return BurnSource(
        chain,
        signer,
        journal=context.journal(),
        max_sun_per_sweep=settings.max_sun_per_sweep,
        name=context.name,
    )


SPEC = ProviderSpec(
    name="burn",
    position=50,
    settings=BurnSettings,
    factory=build_burn,
    capabilities=BurnSource.capabilities,
    required=("gas_wallet",),
    wallets=("gas_wallet",),
)
