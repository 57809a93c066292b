"""The notifier as two worker processes (``notify.workers``): one consumer group that shares the partitions,
every notice delivered, and no worker left running when its parent is gone."""

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from support import alive, children, count_by_state, produce_webhook_notices, wait_until

from breachwire.dev.sinks import Answer, WebhookSink
from breachwire.stack import Stack
from runtime.kafka import group_members, make_admin
from runtime.settings import Settings, settings_env
from runtime.store import Ledger

pytestmark = pytest.mark.integration

COUNT = 2000


def notify_members(settings: Settings) -> int:
    admin = make_admin(settings.kafka, client_id="test")
    try:
        return group_members(admin, f"{settings.kafka.group_prefix}.notify")
    finally:
        admin.close()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")
def test_two_workers_share_the_notices_and_stop_with_their_parent(
    wired_settings: Settings, webhook_sink: WebhookSink
) -> None:
    settings = wired_settings
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(delay_s=0.1)  # ~640 notices/s at most
    expected = produce_webhook_notices(settings, COUNT)
    env = {**settings_env(settings), "BREACHWIRE_NOTIFY__WORKERS": "2"}
    stack = Stack(env, services=["notify"], log_dir=settings.state_dir / "logs")
    stack.start()
    ledger = Ledger.connect(settings.ledger.url)
    try:
        parent = stack.processes["notify"].pid
        wait_until(lambda: len(children(parent)) == 2, 30, "two worker processes")
        workers = children(parent)
        wait_until(lambda: len(webhook_sink.received) >= 100, 120, "the first deliveries")

        stack.kill("notify")  # SIGKILL: the parent cannot pass anything on
        wait_until(lambda: not any(alive(w) for w in workers), 15, "the workers to stop without their parent")
        assert len(webhook_sink.webhook_ids()) < COUNT, "the kill came too late to test anything"

        stack.start("notify")
        wait_until(lambda: notify_members(settings) == 2, 60, "both workers in the consumer group")
        wait_until(lambda: count_by_state(ledger).get("delivered") == COUNT, 300, f"{COUNT} delivered notices")
        workers = children(stack.processes["notify"].pid)
        assert len(workers) == 2
    finally:
        stack.stop()

    assert stack.processes["notify"].returncode == 0  # SIGTERM: the workers finished and the parent exited clean
    time.sleep(0.2)
    assert not any(alive(w) for w in workers)
    received = Counter(h.webhook_id for h in webhook_sink.received)
    assert set(received) == expected
    assert webhook_sink.rejected == 0
    assert count_by_state(ledger) == {"delivered": COUNT}
    ledger.close()


def test_a_worker_that_dies_takes_the_service_down(wired_settings: Settings) -> None:
    """A supervisor restarts a service that exits; a service that lives on with a dead worker would sit
    on that worker's partitions until the group noticed, and nothing would restart it."""
    env = {**settings_env(wired_settings), "BREACHWIRE_NOTIFY__WORKERS": "2"}
    stack = Stack(env, services=["notify"], log_dir=wired_settings.state_dir / "logs")
    stack.start()
    try:
        parent = stack.processes["notify"].pid
        wait_until(lambda: len(children(parent)) == 2, 30, "two worker processes")
        os.kill(children(parent)[0], signal.SIGKILL)
        wait_until(lambda: "notify" in stack.exited(), 60, "the service to exit")
        assert stack.exited()["notify"] != 0
    finally:
        stack.stop()
