"""The notifier's decisions, without Kafka, a ledger or a receiver: what it skips, holds, sends, parks, defers,
and how it judges an attempt."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.notify.decide import (
    DEFERRED,
    PARK_MARGIN,
    PARKED,
    Decision,
    Send,
    Skip,
    Work,
    decide,
    judge,
    order_key,
    turn,
)
from consumers.notify.delivery import Attempt
from consumers.notify.errors import FinalDelivery, RetryableDelivery
from consumers.notify.retry import RetrySchedule
from runtime.store.delivery import NoticeState, QueueRow
from schemas import Audience, Channel, IncidentFacts, NoticeKind, NoticeRequested, Release, ReportStatus

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SCHEDULE = RetrySchedule((1, 2, 8), jitter=0)


def a_notice(name: str, address: str = "privacy@acme.example", **changes: Any) -> NoticeRequested:
    notice = NoticeRequested(
        notice_id=f"ntc_{name}",
        incident_id="inc_1",
        revision="confirmed.1",
        recipient_id="acme-eu",
        recipient_name="Acme",
        audience=Audience.CONTROLLER,
        channel=Channel.EMAIL,
        kind=NoticeKind.FULL,
        address=address,
        requested_at=NOW,
        incident=IncidentFacts(
            incident_id="inc_1",
            subprocessor_id="linode-eu",
            subprocessor_name="Linode",
            status=ReportStatus.CONFIRMED,
            sequence=1,
            title="Snapshot exfiltrated",
            description="",
            aware_at=NOW,
        ),
    )
    return notice.model_copy(update=changes)


def waiting(notice: NoticeRequested, hop: int, queued_s: float, due_s: float | None = 30) -> QueueRow:
    """The ledger's row of a notice that waits on a retry topic (its hop-th copy)."""
    due = None if due_s is None else NOW + timedelta(seconds=due_s)
    queued = NOW + timedelta(seconds=queued_s)
    return QueueRow(notice.notice_id, order_key(notice), queued, hop, due, NoticeState.WAITING)


def sent(plan_chains: list[list[Send]]) -> list[list[str]]:
    return [[s.work.notice.notice_id for s in chain] for chain in plan_chains]


# -- decide: skip ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [NoticeState.DELIVERED, NoticeState.DEAD, NoticeState.REJECTED])
def test_a_settled_notice_is_skipped_whatever_copy_comes(state: NoticeState) -> None:
    n = a_notice("a")
    plan = decide([Work(n), Work(n, 1, 1, retried=True)], {n.notice_id: state}, [], set())
    assert [why for _, why in plan.skipped] == [Skip.SETTLED, Skip.SETTLED]
    assert plan.chains == [] and plan.first_seen == []


def test_a_stale_retry_copy_is_skipped() -> None:
    n = a_notice("a")
    row = waiting(n, hop=2, queued_s=0)
    older = Work(n, attempts=1, hop=1, retried=True)  # the ledger knows hop 2
    plan = decide([older], {n.notice_id: NoticeState.RETRYING}, [row], set())
    assert plan.skipped == [(older, Skip.STALE)] and plan.chains == []


def test_a_retry_copy_of_a_notice_that_no_longer_waits_is_skipped() -> None:
    n = a_notice("a")
    copy = Work(n, attempts=1, hop=1, retried=True)
    plan = decide([copy], {n.notice_id: NoticeState.REQUESTED}, [], set())  # e.g. replayed from notices.dead
    assert plan.skipped == [(copy, Skip.STALE)]


def test_the_retry_copy_the_ledger_knows_is_sent() -> None:
    n = a_notice("a")
    copy = Work(n, attempts=1, hop=1, retried=True)
    plan = decide([copy], {n.notice_id: NoticeState.RETRYING}, [waiting(n, hop=1, queued_s=0)], set())
    assert plan.skipped == [] and sent(plan.chains) == [[n.notice_id]]


def test_a_redelivered_request_while_a_retry_copy_waits_is_skipped() -> None:
    n = a_notice("a")
    request = Work(n)
    plan = decide([request], {n.notice_id: NoticeState.RETRYING}, [waiting(n, hop=1, queued_s=0)], set())
    assert plan.skipped == [(request, Skip.OWNED)] and plan.chains == []


def test_a_notice_read_twice_in_one_batch_is_sent_once() -> None:
    n = a_notice("a")
    plan = decide([Work(n), Work(n)], {}, [], set())
    assert sent(plan.chains) == [[n.notice_id]]
    assert [why for _, why in plan.skipped] == [Skip.REPEATED]
    assert plan.first_seen == [n]


def test_only_notices_the_ledger_does_not_know_are_first_seen() -> None:
    known, new, held = a_notice("known"), a_notice("new"), a_notice("held", release=Release.HELD)
    plan = decide([Work(known), Work(new), Work(held)], {known.notice_id: NoticeState.REQUESTED}, [], set())
    assert plan.first_seen == [new, held]  # a held one is recorded too, whole, to be republished when released


# -- decide: hold ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("release", [Release.HELD, Release.APPROVE])
def test_a_held_notice_waits_until_a_person_lets_it_go(release: Release) -> None:
    n = a_notice("a", release=release)
    plan = decide([Work(n)], {}, [], cleared=set())
    assert [w.notice for w in plan.held] == [n] and plan.chains == []

    plan = decide([Work(n)], {n.notice_id: NoticeState.REQUESTED}, [], cleared={n.notice_id})
    assert plan.held == [] and sent(plan.chains) == [[n.notice_id]]


def test_clearing_is_no_matter_for_a_notice_released_automatically() -> None:
    n = a_notice("a")
    assert sent(decide([Work(n)], {}, [], set()).chains) == [[n.notice_id]]


# -- decide: chains ----------------------------------------------------------------------------------------------


def test_notices_to_one_address_go_in_one_chain_waiting_ones_first_in_queue_order() -> None:
    later, earlier = a_notice("later"), a_notice("earlier")
    fresh1, fresh2 = a_notice("fresh1"), a_notice("fresh2")
    other = a_notice("other", address="dpo@elsewhere.example")
    queue = [waiting(earlier, 1, queued_s=0), waiting(later, 1, queued_s=5)]
    batch = [
        Work(fresh1),
        Work(later, 1, 1, retried=True),
        Work(other),
        Work(fresh2),
        Work(earlier, 1, 1, retried=True),
    ]
    states = {earlier.notice_id: NoticeState.RETRYING, later.notice_id: NoticeState.RETRYING}
    plan = decide(batch, states, queue, set())
    assert sent(plan.chains) == [["ntc_earlier", "ntc_later", "ntc_fresh1", "ntc_fresh2"], ["ntc_other"]]
    assert all(s.behind is None for chain in plan.chains for s in chain)


def test_a_notice_behind_an_earlier_one_waiting_outside_the_batch_is_parked_behind_it() -> None:
    first, second, fresh = a_notice("first"), a_notice("second"), a_notice("fresh")
    queue = [waiting(first, 1, queued_s=0, due_s=30), waiting(second, 1, queued_s=5, due_s=3)]
    states = {first.notice_id: NoticeState.RETRYING, second.notice_id: NoticeState.RETRYING}
    # The second's copy fell due first (a shorter wait), the first still waits on its topic.
    plan = decide([Work(second, 1, 1, retried=True), Work(fresh)], states, queue, set())
    [[second_send, fresh_send]] = plan.chains
    assert second_send.behind == fresh_send.behind == NOW + timedelta(seconds=30)

    parked = turn(second_send, [], NOW, SCHEDULE)
    assert parked is not None and parked.record.outcome == "parked" and parked.record.detail == PARKED
    assert parked.record.due_at == NOW + timedelta(seconds=30) + PARK_MARGIN
    assert parked.record.attempts == 1 and parked.record.hop == 2  # no attempt counted, a new copy
    assert parked.wait_topic_s == 8  # the longest step that fits the wait


def test_a_notice_behind_a_queue_of_parked_ones_falls_due_with_them_not_after_them() -> None:
    head = a_notice("head")
    followers = [a_notice(f"parked{i}") for i in range(50)]
    queue = [waiting(head, 1, queued_s=0, due_s=30)]
    queue += [waiting(f, 1, queued_s=1 + i, due_s=31) for i, f in enumerate(followers)]
    [[send]] = decide([Work(a_notice("fresh"))], {}, queue, set()).chains
    assert send.behind == NOW + timedelta(seconds=30)
    parked = turn(send, [], NOW, SCHEDULE)
    assert parked is not None and parked.record.due_at == NOW + timedelta(seconds=31)


def test_a_waiting_notice_queued_before_another_is_not_held_back_by_it() -> None:
    first, second = a_notice("first"), a_notice("second")
    queue = [waiting(first, 1, queued_s=0, due_s=1), waiting(second, 1, queued_s=5, due_s=30)]
    states = {first.notice_id: NoticeState.RETRYING, second.notice_id: NoticeState.RETRYING}
    [[send]] = decide([Work(first, 1, 1, retried=True)], states, queue, set()).chains
    assert send.behind is None
    assert turn(send, [], NOW, SCHEDULE) is None


def test_a_notice_to_another_address_is_not_held_back() -> None:
    first, other = a_notice("first"), a_notice("other", address="dpo@elsewhere.example")
    plan = decide([Work(other)], {}, [waiting(first, 1, queued_s=0)], set())
    [[send]] = plan.chains
    assert send.behind is None and turn(send, [], NOW, SCHEDULE) is None


# -- turn --------------------------------------------------------------------------------------------------------


def test_a_follow_up_is_parked_behind_a_notice_before_it_in_its_chain_that_will_be_retried() -> None:
    first, follow_up = a_notice("first"), a_notice("follow_up")
    [[first_send, follow_send]] = decide([Work(first), Work(follow_up)], {}, [], set()).chains
    assert turn(first_send, [], NOW, SCHEDULE) is None
    failed = judge(first_send.work, Attempt(error=RetryableDelivery("503")), NOW, SCHEDULE)
    assert failed.record.outcome == "retry"

    parked = turn(follow_send, [failed], NOW, SCHEDULE)
    assert parked is not None and parked.record.outcome == "parked"
    assert failed.record.due_at is not None and parked.record.due_at == failed.record.due_at + PARK_MARGIN
    # ... and whatever follows falls due with the follow-up, not a second after it: when the first settles, all
    # that wait behind it go in one batch (a second apart each, hundreds behind one address drain at one a second)
    third = Send(Work(a_notice("third")))
    after = turn(third, [failed, parked], NOW, SCHEDULE)
    assert after is not None and after.record.due_at == parked.record.due_at


def test_a_follow_up_goes_after_a_notice_delivered_or_dead_before_it() -> None:
    first, follow_up = a_notice("first"), a_notice("follow_up")
    delivered = judge(Work(first), Attempt(receipt="250 ok"), NOW, SCHEDULE)
    dead = judge(Work(first), Attempt(error=FinalDelivery("550")), NOW, SCHEDULE)
    assert turn(Send(Work(follow_up)), [delivered], NOW, SCHEDULE) is None
    assert turn(Send(Work(follow_up)), [dead], NOW, SCHEDULE) is None


# -- judge -------------------------------------------------------------------------------------------------------


def test_a_delivery_counts_its_attempt_and_keeps_its_receipt() -> None:
    n = a_notice("a")
    d = judge(
        Work(n, attempts=1, hop=1, retried=True), Attempt(receipt="r-1", locale="de", rendered="{}"), NOW, SCHEDULE
    )
    r = d.record
    assert (r.outcome, r.attempts, r.hop, r.detail, r.locale, r.at) == ("delivered", 2, 1, "r-1", "de", NOW)
    assert d.wait_topic_s is None and not d.waits and not d.alert_oncall


def test_a_notice_deferred_past_the_batch_budget_waits_a_first_step_with_no_attempt_counted() -> None:
    n = a_notice("a")
    d = judge(Work(n, attempts=2, hop=2, retried=True), Attempt(deferred=True), NOW, SCHEDULE)
    r = d.record
    assert (r.outcome, r.detail, r.attempts, r.hop) == ("parked", DEFERRED, 2, 3)
    assert r.due_at == NOW + timedelta(seconds=SCHEDULE.delays_s[0]) + PARK_MARGIN
    assert d.wait_topic_s == SCHEDULE.topic_for(SCHEDULE.delays_s[0] + PARK_MARGIN.total_seconds()) and d.waits


def test_a_failing_notice_follows_the_retry_schedule_then_is_dead_and_on_call_is_told() -> None:
    work = Work(a_notice("a"))
    seen: list[tuple[str, int, int | None, float | None]] = []
    for _ in range(SCHEDULE.max_attempts):
        d = judge(work, Attempt(error=RetryableDelivery("503 Service Unavailable")), NOW, SCHEDULE)
        r = d.record
        wait = (r.due_at - NOW).total_seconds() if r.due_at else None
        seen.append((r.outcome, r.attempts, d.wait_topic_s, wait))
        work = Work(work.notice, r.attempts, r.hop, retried=True)
    assert seen == [("retry", 1, 1, 1.0), ("retry", 2, 2, 2.0), ("retry", 3, 8, 8.0), ("dead", 4, None, None)]
    assert d.alert_oncall and d.record.detail == "503 Service Unavailable"


def test_a_retry_after_longer_than_the_step_waits_on_a_longer_topic() -> None:
    d = judge(Work(a_notice("a")), Attempt(error=RetryableDelivery("429", retry_after_s=5)), NOW, SCHEDULE)
    assert d.record.outcome == "retry" and d.record.due_at == NOW + timedelta(seconds=5)
    assert d.wait_topic_s == 2  # the longest step not above 5 s


def test_a_final_answer_is_dead_at_once() -> None:
    d = judge(Work(a_notice("a")), Attempt(error=FinalDelivery("410 Gone")), NOW, SCHEDULE)
    assert (d.record.outcome, d.record.attempts, d.alert_oncall) == ("dead", 1, True)


def test_a_dead_on_call_notice_raises_no_on_call_alert() -> None:
    """An alert about an alert that could not be delivered would never end."""
    oncall = a_notice("alert", audience=Audience.ONCALL)
    d = judge(Work(oncall), Attempt(error=FinalDelivery("550")), NOW, SCHEDULE)
    assert d.record.outcome == "dead" and not d.alert_oncall


def test_what_waits_is_what_was_retried_or_parked() -> None:
    n = Work(a_notice("a"))
    outcomes: list[Decision] = [
        judge(n, Attempt(receipt="r"), NOW, SCHEDULE),
        judge(n, Attempt(error=RetryableDelivery("503")), NOW, SCHEDULE),
        judge(n, Attempt(deferred=True), NOW, SCHEDULE),
        judge(n, Attempt(error=FinalDelivery("550")), NOW, SCHEDULE),
    ]
    assert [d.waits for d in outcomes] == [False, True, True, False]
