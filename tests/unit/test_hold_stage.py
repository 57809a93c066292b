"""When held notices remind on-call: shares of the earliest clock they affect, escalation by the controller's."""

from datetime import UTC, datetime, timedelta

import pytest

from consumers.clock.consumer import hold_stage
from runtime.store.release import HeldClocks

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FRACTIONS = (0.5, 0.8)


def held(*clocks: tuple[str, str, int]) -> HeldClocks:
    return HeldClocks("inc_1", 3, 0, [(j, a, T0, T0 + timedelta(hours=h)) for j, a, h in clocks])


@pytest.mark.parametrize(
    ("hours", "stage", "told_by"),
    [
        (1.9, 0, "authority"),
        (2.0, 1, "authority"),  # half of the 4-hour authority clock, the earliest
        (3.2, 2, "authority"),  # 80% of it
        (10.0, 2, "authority"),  # overdue, but the controller clock is at 42%: no escalation yet
        (19.2, 3, "controller"),  # 80% of the controller's 24 hours: escalation
    ],
)
def test_reminders_follow_the_earliest_clock_and_the_escalation_the_controllers(
    hours: float, stage: int, told_by: str
) -> None:
    clocks = held(("cn-pipl", "authority", 4), ("eu-gdpr", "controller", 24), ("eu-gdpr", "authority", 72))
    reached, clock = hold_stage(clocks, T0 + timedelta(hours=hours), FRACTIONS, 0.8)
    assert (reached, clock[1]) == (stage, told_by)


def test_without_a_controller_clock_the_earliest_escalates() -> None:
    clocks = held(("us-ca", "data_subjects", 720), ("us-ca", "authority", 1080))
    assert hold_stage(clocks, T0 + timedelta(hours=360), FRACTIONS, 0.8)[0] == 1
    assert hold_stage(clocks, T0 + timedelta(hours=576), FRACTIONS, 0.8) == (3, clocks.clocks[0])
