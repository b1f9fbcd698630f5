"""Energy sources behind one interface: rental providers (itrx, ea888fee, tronzap), our stake, burnt TRX."""

from sweeper.energy.base import AddressNotActivated, EnergySource, OrderOutcomeUnknown
from sweeper.energy.health import BreakerState, CircuitBreaker, HealthBoard
from sweeper.energy.http import ProviderHttp, ResponseLost, RetryPolicy

__all__ = [
    "AddressNotActivated",
    "BreakerState",
    "CircuitBreaker",
    "EnergySource",
    "HealthBoard",
    "OrderOutcomeUnknown",
    "ProviderHttp",
    "ResponseLost",
    "RetryPolicy",
]
