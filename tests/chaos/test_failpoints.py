"""The failpoint registry the crash scenarios use to kill a worker at an exact instruction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sweeper import failpoints
from tasks.runtime import arm_failpoints

pytestmark = [pytest.mark.unit, pytest.mark.chaos]


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    failpoints.disarm()
    yield
    failpoints.disarm()


def test_an_unarmed_failpoint_does_nothing() -> None:
    failpoints.hit(failpoints.DURING_CONFIRM)


def test_an_armed_failpoint_fires_on_its_nth_hit_and_then_never_again_in_this_process() -> None:
    failpoints.arm(failpoints.AFTER_ORDER_SENT, "raise", nth=2)
    failpoints.hit(failpoints.AFTER_ORDER_SENT)
    with pytest.raises(failpoints.FailpointHit):
        failpoints.hit(failpoints.AFTER_ORDER_SENT)
    failpoints.hit(failpoints.AFTER_ORDER_SENT)
    failpoints.hit(failpoints.DURING_CONFIRM)  # other points stay quiet


def test_re_arming_the_same_way_keeps_the_count_so_a_rebuilt_runtime_does_not_fire_again() -> None:
    failpoints.arm(failpoints.DURING_CONFIRM, "raise")
    with pytest.raises(failpoints.FailpointHit):
        failpoints.hit(failpoints.DURING_CONFIRM)
    failpoints.arm(failpoints.DURING_CONFIRM, "raise")
    failpoints.hit(failpoints.DURING_CONFIRM)


def test_with_a_marker_a_failpoint_fires_once_for_the_whole_run(tmp_path: Path) -> None:
    failpoints.arm(failpoints.AFTER_SIGN_BEFORE_BROADCAST, "raise", marker=tmp_path)
    with pytest.raises(failpoints.FailpointHit):
        failpoints.hit(failpoints.AFTER_SIGN_BEFORE_BROADCAST)
    failpoints.disarm()  # a restarted process arms afresh ...
    failpoints.arm(failpoints.AFTER_SIGN_BEFORE_BROADCAST, "raise", marker=tmp_path)
    failpoints.hit(failpoints.AFTER_SIGN_BEFORE_BROADCAST)  # ... and finds the marker: it proceeds
    assert [p.name for p in tmp_path.iterdir()] == [failpoints.AFTER_SIGN_BEFORE_BROADCAST]


def test_the_environment_spec_arms_every_listed_point(tmp_path: Path) -> None:
    arm_failpoints(
        {
            "SWEEPER_FAILPOINTS": "after_order_sent=raise:1, during_confirm=raise:2",
            "SWEEPER_FAILPOINTS_STATE": str(tmp_path),
        }
    )
    with pytest.raises(failpoints.FailpointHit):
        failpoints.hit(failpoints.AFTER_ORDER_SENT)
    failpoints.hit(failpoints.DURING_CONFIRM)
    with pytest.raises(failpoints.FailpointHit):
        failpoints.hit(failpoints.DURING_CONFIRM)


@pytest.mark.parametrize(
    "spec",
    ["after_order_sent", "no_such_point=kill", "after_order_sent=explode", "after_order_sent=kill:0"],
)
def test_a_bad_failpoint_spec_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        arm_failpoints({"SWEEPER_FAILPOINTS": spec})
