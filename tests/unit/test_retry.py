"""The retry rules: which failures are retried, when, on which topic; and which webhook targets are refused."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from consumers.notify.errors import FinalDelivery, RetryableDelivery, classify_http, classify_smtp, retry_after_seconds
from consumers.notify.guard import TargetGuard
from consumers.notify.retry import RetrySchedule
from runtime.settings import NotifySettings

DEFAULT = NotifySettings().retry_delays_s


def test_the_default_schedule_is_the_one_the_issue_names() -> None:
    assert DEFAULT == (5, 30, 120, 600, 3600, 21600)
    assert NotifySettings().allow_targets == []  # nothing private is admitted unless configured


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_http_answers_are_retried(status: int) -> None:
    assert isinstance(classify_http(status, "x"), RetryableDelivery)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_4xx_answers_are_final(status: int) -> None:
    assert isinstance(classify_http(status, "x"), FinalDelivery)


def test_smtp_4xx_is_transient_and_5xx_permanent() -> None:
    assert isinstance(classify_smtp(451, "busy"), RetryableDelivery)
    assert isinstance(classify_smtp(550, "no such user"), FinalDelivery)


def test_each_wait_follows_the_schedule_within_the_jitter() -> None:
    schedule = RetrySchedule(DEFAULT, jitter=0.2, rng=random.Random(7))
    for attempts, step in enumerate(DEFAULT, start=1):
        for _ in range(50):
            wait = schedule.after_failure(attempts)
            assert wait is not None
            assert step * 0.8 <= wait.seconds <= step * 1.2
            assert wait.topic_delay_s == step


def test_the_waits_are_spread_not_identical() -> None:
    schedule = RetrySchedule(DEFAULT, jitter=0.2, rng=random.Random(1))
    waits = {round(schedule.after_failure(1).seconds, 3) for _ in range(20)}  # type: ignore[union-attr]
    assert len(waits) > 10


def test_after_the_last_delay_the_notice_is_dead() -> None:
    schedule = RetrySchedule(DEFAULT)
    assert schedule.max_attempts == 7
    assert schedule.after_failure(6) is not None
    assert schedule.after_failure(7) is None


def test_retry_after_is_honoured_and_moves_the_notice_to_a_longer_topic() -> None:
    schedule = RetrySchedule(DEFAULT, jitter=0.2)
    wait = schedule.after_failure(1, retry_after_s=300)
    assert wait is not None and wait.seconds >= 300
    assert wait.topic_delay_s == 120  # the longest delay not above the wait


def test_a_retry_after_shorter_than_the_step_does_not_hurry_the_retry() -> None:
    wait = RetrySchedule(DEFAULT).after_failure(2, retry_after_s=1)
    assert wait is not None and wait.seconds == 30


def test_an_enormous_retry_after_is_capped_at_the_longest_delay() -> None:
    wait = RetrySchedule(DEFAULT).after_failure(1, retry_after_s=10 * 86400)
    assert wait is not None and wait.seconds == 21600


def test_retry_after_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(format_datetime(now + timedelta(minutes=2), usegmt=True), now=now) == 120
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata: link-local
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
    ],
)
def test_the_guard_refuses_private_loopback_and_link_local_targets(url: str) -> None:
    with pytest.raises(FinalDelivery):
        asyncio.run(TargetGuard().check(url))


def test_the_guard_admits_public_addresses_and_what_the_allowlist_names() -> None:
    asyncio.run(TargetGuard().check("https://93.184.215.14/hook"))
    asyncio.run(TargetGuard(["127.0.0.0/8"]).check("http://127.0.0.1:8765/hooks/acme-eu"))
    asyncio.run(TargetGuard(["internal.example"]).check("http://internal.example/hook"))
    with pytest.raises(FinalDelivery):
        asyncio.run(TargetGuard(["127.0.0.0/8"]).check("http://10.0.0.1/hook"))


@pytest.mark.parametrize(
    ("workers", "concurrency", "per_host", "smtp"), [(1, 64, 16, 4), (2, 32, 8, 2), (3, 22, 6, 2), (8, 8, 2, 1)]
)
def test_workers_share_the_overall_limits(workers: int, concurrency: int, per_host: int, smtp: int) -> None:
    share = NotifySettings(workers=workers, concurrency=64, per_host=16, smtp_connections=4).share()

    assert (share.concurrency, share.per_host, share.smtp_connections) == (concurrency, per_host, smtp)
    assert share.retry_delays_s == NotifySettings().retry_delays_s  # the rest as it was
