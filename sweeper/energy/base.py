"""The one interface every energy source implements, and the rule that makes ``order`` idempotent.

Our order number (``order_no``) is stored in the ledger before ``order`` is called. ``order`` first looks
the number up where the provider can, and after a lost answer or a duplicate-number refusal it looks
again; it never orders twice blindly. When the outcome cannot be known it returns the order with status
``OrderStatus.UNKNOWN``, and the caller waits for the energy to appear on chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from tronpy.keys import is_base58check_address

from sweeper.energy.http import ProviderHttp, Reply
from sweeper.errors import (
    AccountNotActivated,
    DuplicateOrderNumber,
    ForeignOrderNumber,
    InvalidAddress,
    LookupUnsupported,
    ProviderInvalidRequest,
    ProviderUnavailable,
    ResponseLost,
    SweeperError,
)
from sweeper.models import EnergyOrder, OrderStatus, Quote

AddressNotActivated = AccountNotActivated
"""The name provider clients used for a receiver that is not on chain; one class now."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a source can do, declared by the source itself so callers never probe for methods."""

    activation: bool = False
    """An order can also activate a never-used address."""
    bandwidth: bool = False
    """It can deliver bandwidth as well as energy (sell it, delegate it, or send the TRX it burns):
    ``quote_bandwidth`` / ``order_bandwidth`` work."""
    lookup: bool = False
    """An order can be found again by our own order number."""
    delivers_trx: bool = False
    """It sends TRX for the transfer to burn instead of delegating energy (see ``covers``)."""
    reclaim: bool = False
    """It delegates our own stake, which is taken back once the sweep ends (see ``reclaim``)."""


@runtime_checkable
class EnergySource(Protocol):
    """A place energy for one sweep can come from (a rental provider, our own stake, or burnt TRX)."""

    name: str
    capabilities: Capabilities

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        """What delivering ``energy`` to ``address`` (and activating it, if asked) would cost now."""
        ...

    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        """Place the order numbered ``order_no`` once; calling again returns the same order.

        A refusal (nothing was ordered) raises; an order that may exist comes back ``UNKNOWN``.
        """
        ...

    def quote_bandwidth(self, address: str, size: int) -> Quote:
        """What letting ``address`` pay a transaction of ``size`` bytes would cost now (``bandwidth``)."""
        ...

    def order_bandwidth(self, order_no: str, address: str, size: int) -> EnergyOrder:
        """Place the bandwidth order numbered ``order_no`` once, like ``order`` (``bandwidth``)."""
        ...

    def status(self, order: EnergyOrder) -> EnergyOrder:
        """The order as the source reports it now."""
        ...

    def lookup(self, order_no: str) -> EnergyOrder | None:
        """The order placed under our number, or ``None`` if the source has none."""
        ...

    def balance(self) -> int:
        """Our account's balance (or capacity) at the source, in sun."""
        ...

    def covers(self, address: str, energy: int) -> bool:
        """True when ``address`` can pay ``energy`` with what this source delivered (``delivers_trx``)."""
        ...

    def reclaim(self, order: EnergyOrder) -> str | None:
        """Take back what ``order`` delegated (``reclaim``); the undelegation txid, or None if nothing."""
        ...


class RentalSource:
    """Defaults for sources that delegate energy they own: nothing to cover with TRX, nothing to reclaim,
    no bandwidth for sale (a source that sells it declares ``Capabilities.bandwidth`` and overrides)."""

    name: str

    def covers(self, address: str, energy: int) -> bool:
        return False

    def quote_bandwidth(self, address: str, size: int) -> Quote:
        raise ProviderInvalidRequest(f"{self.name} does not sell bandwidth", reason="bandwidth_unsupported")

    def order_bandwidth(self, order_no: str, address: str, size: int) -> EnergyOrder:
        raise ProviderInvalidRequest(f"{self.name} does not sell bandwidth", reason="bandwidth_unsupported")

    def reclaim(self, order: EnergyOrder) -> str | None:
        return None

    def _refuse_activation(self, activate: bool) -> None:
        """For a source that cannot activate an address: refuse an order or quote that asks it to."""
        if activate:
            raise ProviderInvalidRequest(
                f"{self.name} cannot activate addresses", reason="activation_unsupported"
            )


class HttpRental(RentalSource):
    """A rental provider reached through its :class:`ProviderHttp`; its repr shows no credential."""

    def __init__(self, http: ProviderHttp, name: str) -> None:
        self.name = name
        self._http = http

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self._http.base_url!r})"


def check_address(address: str, what: str = "address") -> str:
    """Reject anything that is not a base58check TRON address before it reaches a provider."""
    try:
        ok = bool(is_base58check_address(address))
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise InvalidAddress(f"{what} {address!r} is not a valid TRON address")
    return address


ADOPT_CLOCK_SKEW_S = 120.0
"""How much earlier than our record a provider may date an order that is still ours (clock skew)."""


def foreign_reason(found: EnergyOrder, address: str, energy: int | None, not_before: float | None) -> str:
    """Why an order found under our number is not this step's ("" when it is): address, energy, time."""
    if found.receive_address and found.receive_address != address:
        return f"it delivers to {found.receive_address}, not {address}"
    if energy is not None and found.energy and found.energy < energy:
        return f"it is for {found.energy} energy, this step needs {energy}"
    created = found.created_at
    if not_before is not None and created is not None and created < not_before - ADOPT_CLOCK_SKEW_S:
        return "it was created before this step recorded the number"
    return ""


REASKS = 2
"""How many times a lost reply to a keyed order is asked again under the same key before it is UNKNOWN."""
REASK_DELAY_S = 0.5
"""Seconds before the first re-ask; the n-th waits n times as long."""


def unknown_order(source: str, order_no: str, address: str, energy: int, cause: str) -> EnergyOrder:
    """The order numbered ``order_no`` that may exist (``cause`` says why nobody knows): ``UNKNOWN``."""
    return EnergyOrder(
        source=source,
        order_no=order_no,
        receive_address=address,
        energy=energy,
        status=OrderStatus.UNKNOWN,
        detail=f"{source}: order {order_no} may exist ({cause}); wait for energy on chain",
    )


def judged_on_chain(source: str, order: EnergyOrder) -> EnergyOrder:
    """An order whose reply was lost for good (no provider id to ask with): only the chain can tell."""
    return replace(order, status=OrderStatus.UNKNOWN, detail=f"{source}: reply lost; judged on chain")


def place_once(
    source: str,
    order_no: str,
    address: str,
    energy: int,
    *,
    lookup: Callable[[], EnergyOrder | None],
    place: Callable[[], EnergyOrder],
    look_first: bool = True,
    expect_energy: int | None = -1,
) -> EnergyOrder:
    """Look up, then place; resolve a lost answer or a duplicate number by looking up again.

    An order found under our number is adopted only if its address and energy are this step's (the caller
    checks its time against the ledger); otherwise :class:`ForeignOrderNumber` says the number is taken.
    A lookup the provider does not support (``LookupUnsupported``) is skipped before placing; after a lost
    answer it leaves the outcome unknown. What no lookup can settle comes back as an ``UNKNOWN`` order: it
    may exist, so nobody orders again.
    """
    wanted = energy if expect_energy == -1 else expect_energy

    def adopt(found: EnergyOrder, *, ours_may_exist: bool = False) -> EnergyOrder:
        why = foreign_reason(found, address, wanted, None)
        if not why:
            return replace(found, found=True)
        if ours_may_exist:  # our own request may have created a second order: only the chain can tell
            return unknown(f"a foreign order holds the number ({why})")
        raise ForeignOrderNumber(f"{source}: order {order_no} exists but is not ours: {why}")

    def unknown(cause: str) -> EnergyOrder:
        return unknown_order(source, order_no, address, energy, cause)

    if look_first:
        try:
            existing = lookup()
        except LookupUnsupported:
            existing = None
        if existing is not None:
            return adopt(existing)
    try:
        return place()
    except (ResponseLost, DuplicateOrderNumber) as exc:
        cause, lost = exc.reason, isinstance(exc, ResponseLost)
    try:
        found = lookup()
    except (ProviderUnavailable, LookupUnsupported):
        found = None
    if found is not None:
        return adopt(found, ours_may_exist=lost)
    return unknown(cause)


def place_keyed(
    source: str,
    order_no: str,
    address: str,
    energy: int,
    *,
    send: Callable[[], Reply],
    answer: Callable[[Reply], Any],
    accept: Callable[[Any], EnergyOrder],
    sleep: Callable[[float], None],
    reasks: int = REASKS,
    delay_s: float = REASK_DELAY_S,
) -> EnergyOrder:
    """Place an order the provider makes idempotent by our key (``send`` carries it); re-ask when lost.

    The provider answers a request with a key it has seen with the original order, so asking again can
    only find the one order. ``answer`` reads a reply (a refusal raises) and ``accept`` turns it into the
    order (it may refuse an order the key names for someone else). The first request failing to arrive
    or being refused orders nothing and raises; after that, what ``reasks`` more requests (``delay_s``
    times the attempt apart) cannot settle comes back ``UNKNOWN``: an earlier request may have arrived.
    """
    cause = "no answer"
    for attempt in range(1 + reasks):
        if attempt:
            sleep(delay_s * attempt)
        try:
            reply = send()
        except ResponseLost as exc:
            cause = exc.reason
            continue
        except ProviderUnavailable as exc:
            if attempt == 0:
                raise  # never reached the provider: nothing was ordered
            cause = exc.reason  # an earlier attempt may have arrived: keep it UNKNOWN below
            continue
        try:
            data = answer(reply)
        except SweeperError as exc:
            if attempt == 0:
                raise  # the first answer: a refusal, nothing was created
            # A refusal of the re-ask (say, "still in progress") cannot prove the first request created
            # nothing: it may exist.
            cause = exc.reason
            break
        return accept(data)
    return unknown_order(source, order_no, address, energy, cause)
