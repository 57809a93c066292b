"""How many members a consumer group has, as the bench and the worker tests wait on it."""

from typing import Any

import pytest
from kafka.errors import CoordinatorNotAvailableError, GroupAuthorizationFailedError

from runtime.kafka import group_members


class Admin:
    """Answers describe_groups as KafkaAdminClient does: a description per group, or the broker's error."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer

    def describe_groups(self, groups: list[str]) -> dict[str, Any]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return {groups[0]: self.answer}


def test_a_stable_group_counts_its_members() -> None:
    admin: Any = Admin({"group_state": "Stable", "members": [{"member_id": "a"}, {"member_id": "b"}]})
    assert group_members(admin, "g") == 2


def test_a_rebalancing_group_counts_none_yet() -> None:
    admin: Any = Admin({"group_state": "PreparingRebalance", "members": [{"member_id": "a"}]})
    assert group_members(admin, "g") == 0


def test_a_fresh_broker_without_a_coordinator_yet_counts_none_rather_than_failing() -> None:
    # A new broker answers FindCoordinator with "not available" until it has made its offsets topic.
    admin: Any = Admin(CoordinatorNotAvailableError("FindCoordinatorResponse error for GROUP/g"))
    assert group_members(admin, "g") == 0


def test_an_error_that_waiting_will_not_mend_is_raised() -> None:
    admin: Any = Admin(GroupAuthorizationFailedError("not allowed"))
    with pytest.raises(GroupAuthorizationFailedError):
        group_members(admin, "g")
