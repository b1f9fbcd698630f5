"""The deployment identifier: created once per ledger, part of every provider order number.

A number from the ledger's sequence alone repeats after a reset ledger or with two deployments on one
provider account (docs/PROVIDERS.md §5); six random base-36 characters make each deployment's numbers its
own while keeping them short and alphanumeric (docs/PROVIDERS.md §5, "Order numbers").
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
LENGTH = 6


def new_deployment_id() -> str:
    """Six random lowercase base-36 characters (about 2.2 billion values)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
