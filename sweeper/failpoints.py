"""Named failpoints at the flow's dangerous instructions, so crash tests can kill a worker exactly there.

The domain calls ``hit(name)`` at each point; nothing happens unless the delivery layer ``arm``\\ed it
(tests only, from ``SWEEPER_FAILPOINTS``). An armed point fires once per process on its ``nth`` hit;
with a ``marker`` path it fires once for the whole run: the first process to create the marker file
fires, every later one (the restarted worker) passes. Actions: "kill" (SIGKILL this process, no
clean-up, as a power cut or OOM kill would) and "raise" (raise ``FailpointHit``).
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

AFTER_ORDER_SENT = "after_order_sent"
"""The source accepted the order; its answer is not stored yet."""
AFTER_SIGN_BEFORE_BROADCAST = "after_sign_before_broadcast"
"""The signed transfer is stored; it has not been broadcast."""
AFTER_BROADCAST_BEFORE_STORE = "after_broadcast_before_store"
"""The node accepted the transfer; the ledger does not know it was broadcast."""
DURING_CONFIRM = "during_confirm"
"""The receipt is read and final; the sweep is not CONFIRMED in the ledger yet."""

NAMES = frozenset(
    {AFTER_ORDER_SENT, AFTER_SIGN_BEFORE_BROADCAST, AFTER_BROADCAST_BEFORE_STORE, DURING_CONFIRM}
)
ACTIONS = frozenset({"kill", "raise"})


class FailpointHit(Exception):
    """Raised by a failpoint armed with the "raise" action."""


@dataclass
class _Armed:
    action: str
    nth: int
    marker: Path | None
    hits: int = 0
    fired: bool = False


_lock = threading.Lock()
_armed: dict[str, _Armed] = {}


def arm(
    name: str, action: str = "kill", *, nth: int = 1, marker: str | os.PathLike[str] | None = None
) -> None:
    """Make ``name`` fire ``action`` on its ``nth`` hit in this process (once per run with ``marker``)."""
    if name not in NAMES:
        raise ValueError(f"unknown failpoint {name!r}; expected one of {', '.join(sorted(NAMES))}")
    if action not in ACTIONS:
        raise ValueError(f"unknown failpoint action {action!r}; expected one of {', '.join(sorted(ACTIONS))}")
    if nth < 1:
        raise ValueError("nth must be >= 1")
    with _lock:
        current = _armed.get(name)
        wanted = _Armed(action, nth, Path(marker) if marker is not None else None)
        if current is None or (current.action, current.nth, current.marker) != (
            wanted.action,
            wanted.nth,
            wanted.marker,
        ):
            _armed[name] = wanted  # re-arming the same way keeps its count: it fires once per process


def disarm(name: str | None = None) -> None:
    """Forget one armed failpoint, or all of them."""
    with _lock:
        if name is None:
            _armed.clear()
        else:
            _armed.pop(name, None)


def parse(spec: str) -> list[tuple[str, str, int]]:
    """``"after_order_sent=kill:1,during_confirm=raise"`` → [(name, action, nth), ...]; ValueError if bad."""
    out = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, rest = item.partition("=")
        if not sep:
            raise ValueError(f"failpoint {item!r} must look like name=action[:nth]")
        action, _, nth = rest.partition(":")
        out.append((name.strip(), action.strip(), int(nth) if nth else 1))
    return out


def hit(name: str) -> None:
    """Called by the domain at a dangerous point; fires only if this point is armed and due."""
    if not _armed:  # the production path: one dict lookup
        return
    with _lock:
        armed = _armed.get(name)
        if armed is None or armed.fired:
            return
        armed.hits += 1
        if armed.hits < armed.nth:
            return
        armed.fired = True
        if armed.marker is not None and not _claim(armed.marker, name):
            return
        action = armed.action
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)  # does not return
    raise FailpointHit(name)


def _claim(marker: Path, name: str) -> bool:
    """True for the one process that creates ``marker/<name>`` first (atomic O_EXCL create)."""
    marker.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(marker / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True
