"""Energy and bandwidth delegated from the exchange's own staked account (Stake 2.0), reclaimed later.

The delegated TRX stays ours, so the cost is what the delegation transaction burns (nothing while the
owner's own bandwidth pays its bytes), plus an opportunity cost per energy if one is set. The signed
DelegateResource transaction is the order: its txid is the order id, stored before broadcast. Bandwidth
is delegated as ``resource: BANDWIDTH`` stake, enough for the transfer's bytes on top of what the address
has staked (docs/TRON.md §5, §7).
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING

from pydantic import BaseModel

from sweeper.chain import size as tx_size
from sweeper.energy.base import Capabilities, check_address
from sweeper.energy.fields import OptionalAddress
from sweeper.energy.journal import JournaledSource, JournalEntry, TxJournal, submit_once
from sweeper.energy.registry import BuildContext, ProviderSpec
from sweeper.errors import ProviderInvalidRequest, ProviderOutOfResources
from sweeper.models import SUN_PER_TRX, EnergyOrder, OrderStatus, Quote

if TYPE_CHECKING:
    from sweeper.chain.port import Chain, Signer

MIN_DELEGATION_SUN = SUN_PER_TRX
"""The chain refuses delegations below 1 TRX."""


def delegation_sun(energy: int, sun_per_energy: int) -> int:
    """TRX to delegate for ``energy``: one sun per energy of slack for a rounded rate, whole TRX, ≥ 1 TRX."""
    raw = energy * (sun_per_energy + 1)
    return max(MIN_DELEGATION_SUN, math.ceil(raw / SUN_PER_TRX) * SUN_PER_TRX)


class StakeSource(JournaledSource):
    """Our staked account as an :class:`~sweeper.energy.base.EnergySource`."""

    capabilities = Capabilities(bandwidth=True, lookup=True, reclaim=True)

    def __init__(
        self,
        chain: Chain,
        signer: Signer,
        *,
        journal: TxJournal,
        opportunity_sun_per_energy: Fraction | int = 0,
        name: str = "stake",
        reclaim: bool = True,
    ) -> None:
        self.name = name
        if not reclaim:  # the operator takes delegations back themselves (SWEEPER_ENERGY__STAKE__RECLAIM)
            self.capabilities = replace(type(self).capabilities, reclaim=False)
        self._chain = chain
        self._signer = signer
        self._journal = journal
        self.opportunity = Fraction(opportunity_sun_per_energy)

    def __repr__(self) -> str:
        return f"StakeSource(name={self.name!r}, owner={self._signer.address!r})"

    @property
    def owner(self) -> str:
        return self._signer.address

    def _cost(self, energy: int) -> int:
        return math.ceil(self.opportunity * energy)

    def _amount(self, energy: int) -> int:
        amount = delegation_sun(energy, self._chain.sun_per_energy_staked())
        capacity = self._chain.can_delegate_max_sun(self.owner)
        if amount > capacity:
            raise ProviderOutOfResources(f"stake: {amount} sun to delegate, {capacity} available")
        return amount

    def _bandwidth_amount(self, address: str, size: int) -> int:
        """Stake to delegate so the address's staked bytes cover ``size`` (staked and free never add up)."""
        have = self._chain.account(address)
        if have is None:
            raise ProviderInvalidRequest("stake cannot delegate to an address that is not activated")
        missing = size - have.staked_bandwidth
        amount = delegation_sun(max(1, missing), self._chain.sun_per_bandwidth_staked())
        capacity = self._chain.can_delegate_max_sun(self.owner, "BANDWIDTH")
        if amount > capacity:
            raise ProviderOutOfResources(
                f"stake: {amount} sun of bandwidth to delegate, {capacity} available"
            )
        return amount

    def _own_fee(self, receiver: str, amount: int, resource: str) -> int:
        """What the delegation burns: nothing while the owner's own bandwidth pays its bytes."""
        own = self._chain.resources(self.owner)
        bytes_ = tx_size.delegate_bytes(self.owner, receiver, amount, resource=resource)
        if max(own.staked_bandwidth, own.free_bandwidth) >= bytes_:
            return 0
        return bytes_ * self._chain.chain_parameters().transaction_fee

    def balance(self) -> int:
        """Sun we can still delegate."""
        return self._chain.can_delegate_max_sun(self.owner)

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        if activate:
            raise ProviderInvalidRequest("stake cannot activate addresses", reason="activation_unsupported")
        amount = self._amount(energy)
        fee = self._own_fee(address, amount, "ENERGY")
        return Quote(
            source=self.name, energy=energy, cost_sun=self._cost(energy) + fee, duration="until reclaimed"
        )

    def quote_bandwidth(self, address: str, size: int) -> Quote:
        check_address(address)
        amount = self._bandwidth_amount(address, size)
        return Quote(
            source=self.name,
            energy=0,
            cost_sun=self._own_fee(address, amount, "BANDWIDTH"),
            duration="until reclaimed",
        )

    def order_bandwidth(self, order_no: str, address: str, size: int) -> EnergyOrder:
        check_address(address)

        def build() -> JournalEntry:
            amount = self._bandwidth_amount(address, size)
            tx = self._chain.build_delegate_bandwidth(self._signer, address, amount)
            return JournalEntry(tx=tx, receiver=address, amount_sun=amount, energy=0)

        entry = submit_once(self._chain, self._journal, order_no, build)
        return self._order(order_no, entry, OrderStatus.PENDING, 0)

    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        check_address(address)
        if activate:
            raise ProviderInvalidRequest("stake cannot activate addresses", reason="activation_unsupported")

        def build() -> JournalEntry:
            amount = self._amount(energy)
            tx = self._chain.build_delegate_energy(self._signer, address, amount)
            return JournalEntry(tx=tx, receiver=address, amount_sun=amount, energy=energy)

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
            cost_sun=self._cost(entry.energy) + fee_sun,
            delegate_txid=entry.tx.txid,
            detail=f"delegated {entry.amount_sun} sun of {(entry.resource or 'ENERGY').lower()}",
        )

    def reclaim(self, order: EnergyOrder) -> str | None:
        """UnDelegateResource what this order delegated (once the sweep is confirmed); the txid, or None."""
        entry = self._journal.get(order.order_no)
        receiver = entry.receiver if entry else order.receive_address
        bandwidth = entry is not None and entry.resource == "BANDWIDTH"
        delegated_now = self._chain.delegated_bandwidth_sun if bandwidth else self._chain.delegated_energy_sun
        undelegate = (
            self._chain.build_undelegate_bandwidth if bandwidth else self._chain.build_undelegate_energy
        )

        def build() -> JournalEntry:
            delegated = delegated_now(self.owner, receiver)
            amount = min(delegated, entry.amount_sun) if entry else delegated
            tx = undelegate(self._signer, receiver, amount)
            return JournalEntry(tx=tx, receiver=receiver, amount_sun=amount, energy=0)

        key = f"{order.order_no}:reclaim"
        if self._journal.get(key) is None and delegated_now(self.owner, receiver) <= 0:
            return None
        return submit_once(self._chain, self._journal, key, build).tx.txid


# -- registration ----------------------------------------------------------------------------------------


class StakeSettings(BaseModel):
    """The exchange's own staked account that delegates energy (DelegateResource) to deposit addresses."""

    owner: OptionalAddress = None
    key_ref: str | None = None
    reclaim: bool = True


def build_stake(settings: StakeSettings, context: BuildContext) -> StakeSource:
    chain, signer = context.wallet(settings.owner)
    return StakeSource(chain, signer, journal=context.journal(), name=context.name, reclaim=settings.reclaim)


SPEC = ProviderSpec(
    name="stake",
    position=40,
    settings=StakeSettings,
    factory=build_stake,
    capabilities=StakeSource.capabilities,
    required=("owner",),
    wallets=("owner",),
)
