"""The last resort: send TRX from a gas wallet to the deposit address and let the transfer burn it.

Off by default and capped per sweep. The TRX covers the energy at the chain's energy price, the 345 bytes
of bandwidth when the address has no free bandwidth left, and (paid by the gas wallet on top) the
account-creation fee when the address is not activated yet: the transfer activates it. The signed
transfer is stored under our order number before broadcast, so an order is one transfer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sweeper.energy.base import Capabilities, check_address
from sweeper.energy.journal import JournaledSource, JournalEntry, TxJournal, submit_once
from sweeper.errors import PolicyRefused
from sweeper.models import TRC20_TRANSFER_BANDWIDTH, EnergyOrder, OrderStatus, Quote

if TYPE_CHECKING:
    from sweeper.chain.port import Chain, Signer

BANDWIDTH_PRICE_SUN = 1_000
"""Sun burned per byte of bandwidth (chain parameter getTransactionFee)."""
ACTIVATION_SUN = 1_100_000
"""What the sender pays to create an account by a TRX transfer: 1 TRX fee + 0.1 TRX bandwidth."""


class BurnSource(JournaledSource):
    """A gas wallet as an :class:`~sweeper.energy.base.EnergySource`."""

    capabilities = Capabilities(activation=True, lookup=True, delivers_trx=True)

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

    def _costs(self, address: str, energy: int) -> tuple[int, int]:
        """(sun to send to the address, sun the activation costs the gas wallet on top)."""
        activated = self._chain.is_activated(address)
        need = energy * self._chain.energy_price_sun()
        bandwidth = self._chain.resources(address).bandwidth if activated else 0
        if bandwidth < TRC20_TRANSFER_BANDWIDTH:
            need += TRC20_TRANSFER_BANDWIDTH * BANDWIDTH_PRICE_SUN
        have = self._chain.trx_balance(address) if activated else 0
        return max(0, need - have), (0 if activated else ACTIVATION_SUN)

    def _capped(self, send: int, activation: int) -> None:
        if send + activation > self.max_sun_per_sweep:
            raise PolicyRefused(
                f"burn: {send + activation} sun exceeds the burn cap of {self.max_sun_per_sweep} sun",
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
        send, activation = self._costs(address, energy)
        self._capped(send, activation)
        return Quote(
            source=self.name, energy=energy, cost_sun=send, duration="burn", activation_sun=activation
        )

    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        check_address(address)
        if self._journal.get(order_no) is None:
            send, activation = self._costs(address, energy)
            self._capped(send, activation)
            if send == 0 and activation == 0:
                return EnergyOrder(
                    self.name,
                    order_no,
                    address,
                    energy,
                    OrderStatus.DELIVERED,
                    detail="the address already holds enough TRX",
                )

        def build() -> JournalEntry:
            send, activation = self._costs(address, energy)
            self._capped(send, activation)
            tx = self._chain.build_trx_transfer(self._signer, address, max(send, 1))
            return JournalEntry(tx=tx, receiver=address, amount_sun=max(send, 1), energy=energy)

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
            cost_sun=entry.amount_sun,
            delegate_txid=entry.tx.txid,
            detail=f"sent {entry.amount_sun} sun to burn",
        )


# -- registration ----------------------------------------------------------------------------------------
from pydantic import BaseModel, Field  # noqa: E402

from sweeper.energy.fields import OptionalAddress  # noqa: E402
from sweeper.energy.registry import BuildContext, ProviderSpec  # noqa: E402


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
