"""Energy sources behind one interface: rental providers (itrx, ea888fee, tronzap), our stake, burnt TRX."""

from sweeper.energy.base import AddressNotActivated, Capabilities, EnergySource
from sweeper.energy.health import BreakerState, CircuitBreaker
from sweeper.energy.http import ProviderHttp, RetryPolicy
from sweeper.errors import ResponseLost

__all__ = [
    "AddressNotActivated",
    "BreakerState",
    "Capabilities",
    "CircuitBreaker",
    "EnergySource",
    "ProviderHttp",
    "ResponseLost",
    "RetryPolicy",
]
