"""``python -m tasks.healthcheck``: the image's HEALTHCHECK — healthy when the ledger and the broker answer.

Every role of the image (worker, beat, receiver, Flower) stops doing its job when either is gone, so one
check serves them all. It reads the same SWEEPER_* settings as the process it watches and prints one line
per problem, which Docker keeps in the container's health log.
"""

from __future__ import annotations

import sys

from kombu import Connection

from config.settings import InvalidSettings, Settings, load_settings
from sweeper.ledger import Ledger, LedgerUnavailable, create_engine_for

TIMEOUT_S = 5


def problems(settings: Settings) -> list[str]:
    """What does not answer, one line each; empty when healthy."""
    found: list[str] = []
    ledger = Ledger(create_engine_for(settings.database_url))
    try:
        ledger.ping()
    except LedgerUnavailable as exc:
        found.append(_one_line(str(exc)))
    finally:
        ledger.dispose()
    try:
        with Connection(settings.broker_url, connect_timeout=TIMEOUT_S) as broker:
            broker.ensure_connection(max_retries=0, timeout=TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - each transport raises its own errors; any of them is unhealthy
        found.append(_one_line(f"broker unavailable: {exc}"))
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main() -> int:
    try:
        settings = load_settings()
    except InvalidSettings as exc:
        found = [f"invalid configuration: {problem}" for problem in exc.problems]
    else:
        found = problems(settings)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
