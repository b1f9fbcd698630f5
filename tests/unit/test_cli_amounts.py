"""``sweeper status`` shows any uint256 amount in whole tokens to the last digit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tasks.cli_status import LedgerTarget

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (10**21, "1000.000000000000000000"),
        (2**256 - 1, "115792089237316195423570985008687907853269984665640564039457.584007913129639935"),
    ],
)
def test_an_18_decimal_amount_is_shown_exactly(amount: int, shown: str) -> None:
    assert LedgerTarget("sqlite://", {"USDD": 18}).tokens("USDD", amount) == Decimal(shown)
    assert str(LedgerTarget("sqlite://", {"USDD": 18}).tokens("USDD", amount)) == shown
