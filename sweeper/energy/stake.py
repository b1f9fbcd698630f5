"""Energy delegated from the exchange's own staked account (Stake 2.0 DelegateResource), reclaimed later.

The delegated TRX stays ours, so the cost is zero sun unless an opportunity cost per energy is set. The
signed DelegateResource transaction is the order: its txid is the order id, stored before broadcast.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

from sweeper.energy.base import Capabilities, check_address
from sweeper.energy.journal import JournaledSource, JournalEntry, TxJournal, submit_once
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

    capabilities = Capabilities(lookup=True, reclaim=True)

    def __init__(
        self,
        chain: Chain,
        signer: Signer,
        *,
        journal: TxJournal,
        opportunity_sun_per_energy: Fraction | int = 0,
        name: str = "stake",
    ) -> None:
        self.name = name
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

    def balance(self) -> int:
        """Sun we can still delegate."""
        return self._chain.can_delegate_max_sun(self.owner)

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        if activate:
            raise ProviderInvalidRequest("stake cannot activate addresses", reason="activation_unsupported")
        self._amount(energy)
        return Quote(source=self.name, energy=energy, cost_sun=self._cost(energy), duration="until reclaimed")

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
        return self._order(order_no, entry, OrderStatus.PENDING)

    def _order(self, order_no: str, entry: JournalEntry, status: OrderStatus) -> EnergyOrder:
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=entry.receiver,
            energy=entry.energy,
            status=status,
            provider_order_id=entry.tx.txid,
            cost_sun=self._cost(entry.energy),
            delegate_txid=entry.tx.txid,
            detail=f"delegated {entry.amount_sun} sun",
        )

    def reclaim(self, order: EnergyOrder) -> str | None:
        """UnDelegateResource what this order delegated (once the sweep is confirmed); the txid, or None."""
        entry = self._journal.get(order.order_no)
        receiver = entry.receiver if entry else order.receive_address

        def build() -> JournalEntry:
            delegated = self._chain.delegated_energy_sun(self.owner, receiver)
            amount = min(delegated, entry.amount_sun) if entry else delegated
            tx = self._chain.build_undelegate_energy(self._signer, receiver, amount)
            return JournalEntry(tx=tx, receiver=receiver, amount_sun=amount, energy=0)

        key = f"{order.order_no}:reclaim"
        if self._journal.get(key) is None and self._chain.delegated_energy_sun(self.owner, receiver) <= 0:
            return None
        return submit_once(self._chain, self._journal, key, build).tx.txid


# -- registration ----------------------------------------------------------------------------------------
from pydantic import BaseModel  # noqa: E402

from sweeper.energy.fields import OptionalAddress  # noqa: E402
from sweeper.energy.registry import BuildContext, ProviderSpec  # noqa: E402


class StakeSettings(BaseModel):
    """The exchange's own staked account that delegates energy (DelegateResource) to deposit addresses."""

    owner: OptionalAddress = None
    key_ref: str | None = None
    reclaim: bool = True


def build_stake(settings: StakeSettings, context: BuildContext) -> StakeSource:
    chain, signer = context.wallet(settings.owner)
    return StakeSource(chain, signer, journal=context.journal(), name=context.name)


SPEC = ProviderSpec(
    name="stake",
    position=40,
    settings=StakeSettings,
    factory=build_stake,
    capabilities=StakeSource.capabilities,
    required=("owner",),
    wallets=("owner",),
)
