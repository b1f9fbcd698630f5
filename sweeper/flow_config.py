"""The knobs of the sweep state machine (``sweeper.flow``), read once from configuration by the delivery
layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sweeper.assets import EnergyPolicy
from sweeper.guards import Budgets
from sweeper.models import Token
from sweeper.procurement import Caps


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """The knobs of the state machine, read once from configuration by the delivery layer.

    ``tokens`` and ``destinations`` are keyed by token contract; destinations come only from here.
    """

    tokens: Mapping[str, Token]
    destinations: Mapping[str, str]
    confirmations: int = 19
    energy_margin: int = 0
    energy: EnergyPolicy = field(default_factory=EnergyPolicy)
    """Margins, sanity ceiling and fee_limit cap for measured energy (``energy_margin`` adds to it)."""
    max_sun_per_sweep: int = 12_000_000
    max_percent_of_amount: Decimal = Decimal(5)
    trx_per_token: Mapping[str, Decimal] = field(default_factory=dict)
    dry_run: bool = False
    poll_seconds: float = 3.0
    order_timeout_seconds: float = 180.0
    max_steps_per_call: int = 8
    order_claim_seconds: float = 60.0
    """How long a REQUESTED order is left to the worker that may be calling its source (longer than any
    one ``order()`` call with its HTTP timeouts and retries) before another worker may call again."""
    max_orders_per_sweep: int = 6
    max_orders_per_address: int = 12
    address_window_seconds: float = 86_400.0
    max_sun_per_hour: int = 2_000_000_000
    """The deployment's energy spend budget per hour (0: none); see ``sweeper.guards``."""
    max_sweeps_in_flight: int = 500
    """Sweeps between their first order and their broadcast at once (0: no cap); see ``sweeper.guards``."""
    own_wallets: frozenset[str] = frozenset()
    """Our wallets besides the destinations (gas wallet, stake owner): never opened as sweeps."""
    leftover_trx_min_sun: int | None = None
    """Sweep TRX left on an address after its token sweep, when at least this much (None: off)."""

    @property
    def caps(self) -> Caps:
        return Caps(
            max_sun_per_sweep=self.max_sun_per_sweep,
            max_percent_of_amount=self.max_percent_of_amount,
            poll_seconds=self.poll_seconds,
            order_timeout_seconds=self.order_timeout_seconds,
            max_orders_per_sweep=self.max_orders_per_sweep,
        )

    @property
    def budgets(self) -> Budgets:
        return Budgets(
            orders_per_sweep=self.max_orders_per_sweep,
            orders_per_address=self.max_orders_per_address,
            address_window_seconds=self.address_window_seconds,
            sun_per_hour=self.max_sun_per_hour,
            sweeps_in_flight=self.max_sweeps_in_flight,
        )
