"""What a step of the state machine decides, as values the machine applies (and tests can read)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sweeper.models import SweepState


@dataclass(frozen=True, slots=True)
class Move:
    """Move the sweep to ``to`` (or set ``fields`` in its state), then run ``then`` if the move won.

    ``then`` is the foreign call the move gates (placing an order): it runs only for the worker whose
    compare-and-set succeeded, and its own answer decides what happens next.
    """

    to: SweepState
    note: str
    reason: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    then: Callable[[], Decision] | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do now: look again in ``seconds``."""

    seconds: float
    why: str = ""


@dataclass(frozen=True, slots=True)
class Proceed:
    """The sweep's row stays; something beside it changed (an order was asked again): look again now."""

    note: str = ""
    then: Callable[[], Decision] | None = None


Decision = Move | Wait | Proceed


def skip(slug: str, why: str) -> Move:
    """End the sweep as SKIPPED: nothing was or will be spent on it."""
    return Move(SweepState.SKIPPED, why, reason=slug)


@dataclass(frozen=True, slots=True)
class Step:
    """What one ``advance`` call left behind: the state, and seconds until it should look again."""

    sweep_id: int
    state: SweepState
    retry_in: float | None
    note: str = ""
    opened: tuple[int, ...] = ()
    """Sweeps to start now: of the same address (a deposit that arrived after this one was signed), or
    the oldest one queued at the in-flight cap when this one left flight."""
    began: SweepState | None = None
    """The state this call found the sweep in (None if it never read it): a FAILED step that began
    elsewhere is a failure this call caused."""
