"""Webhook delivery claims on SQLite and PostgreSQL alike (the `ledger` fixture runs each test on both): what a
batch of claims, accepts and releases written together answers."""

from datetime import UTC, datetime, timedelta

from runtime.store import Ledger
from runtime.store.intake import PENDING, DeliveryClaim

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
ANSWER = '{"incident_id":"inc_1"}'
STALE_AFTER = timedelta(seconds=15)


def claim(ledger: Ledger, *claims: DeliveryClaim, at: datetime = T0) -> list[str | None]:
    return ledger.intake.write(list(claims), [], [], at, at - STALE_AFTER)


def a_claim(delivery_id: str, answer: str = ANSWER, source: str = "linode-eu") -> DeliveryClaim:
    return DeliveryClaim(source, delivery_id, answer)


def test_a_new_delivery_is_claimed_and_then_held_until_accepted(ledger: Ledger) -> None:
    assert claim(ledger, a_claim("msg_1")) == [None]
    assert claim(ledger, a_claim("msg_1"), at=T0 + timedelta(seconds=1)) == [PENDING]
    ledger.intake.write([], [("linode-eu", "msg_1")], [], T0, T0)
    assert claim(ledger, a_claim("msg_1", answer="ignored"), at=T0 + timedelta(seconds=2)) == [ANSWER]


def test_the_same_webhook_id_of_another_sender_is_another_delivery(ledger: Ledger) -> None:
    assert claim(ledger, a_claim("msg_1"), a_claim("msg_1", source="acme-infra")) == [None, None]


def test_a_batch_answers_each_claim_in_order(ledger: Ledger) -> None:
    assert claim(ledger, a_claim("msg_old")) == [None]
    ledger.intake.write([], [("linode-eu", "msg_old")], [], T0, T0)
    assert claim(ledger, a_claim("msg_held")) == [None]
    answers = claim(ledger, a_claim("msg_new"), a_claim("msg_old"), a_claim("msg_held"), a_claim("msg_new"))
    # the second msg_new of the batch finds the first one's claim, as it would in the next batch
    assert answers == [None, ANSWER, PENDING, PENDING]


def test_accepts_and_releases_are_written_before_the_claims_of_the_same_batch(ledger: Ledger) -> None:
    assert claim(ledger, a_claim("msg_accepted"), a_claim("msg_refused")) == [None, None]
    answers = ledger.intake.write(
        [a_claim("msg_accepted"), a_claim("msg_refused")],
        [("linode-eu", "msg_accepted")],
        [("linode-eu", "msg_refused")],
        T0,
        T0 - STALE_AFTER,
    )
    assert answers == [ANSWER, None]  # a released claim is published by the next try


def test_a_release_leaves_an_accepted_delivery_alone(ledger: Ledger) -> None:
    assert claim(ledger, a_claim("msg_1")) == [None]
    ledger.intake.write([], [("linode-eu", "msg_1")], [], T0, T0)
    ledger.intake.write([], [], [("linode-eu", "msg_1")], T0, T0)
    assert claim(ledger, a_claim("msg_1")) == [ANSWER]


def test_a_claim_left_by_a_crashed_intake_goes_stale_and_is_taken_over(ledger: Ledger) -> None:
    assert claim(ledger, a_claim("msg_1", answer="first")) == [None]
    assert claim(ledger, a_claim("msg_1"), at=T0 + STALE_AFTER) == [PENDING]  # not older than the bound yet
    later = T0 + STALE_AFTER + timedelta(seconds=1)
    assert claim(ledger, a_claim("msg_1", answer="second"), at=later) == [None]
    assert claim(ledger, a_claim("msg_1"), at=later + timedelta(seconds=1)) == [PENDING]  # the new claim is fresh
    ledger.intake.write([], [("linode-eu", "msg_1")], [], later, later)
    assert claim(ledger, a_claim("msg_1"), at=later) == ["second"]  # the answer of whoever published it
