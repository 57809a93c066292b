"""2,000 webhook notices, the notifier killed with SIGKILL among them and started again: every notice delivered,
and a notice the receiver saw twice carried the same webhook-id both times."""

import time
from collections import Counter

import pytest
from support import count_by_state, produce_webhook_notices, wait_until

from breachwire.dev.sinks import Answer, WebhookSink
from breachwire.stack import Stack
from runtime.settings import Settings, settings_env
from runtime.store import Ledger

pytestmark = pytest.mark.integration

COUNT = 2000


def test_sigkill_among_2000_webhook_notices_loses_none(wired_settings: Settings, webhook_sink: WebhookSink) -> None:
    settings = wired_settings
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(delay_s=0.02)  # keeps deliveries in flight
    expected = produce_webhook_notices(settings, COUNT)

    stack = Stack(settings_env(settings), services=["notify"], log_dir=settings.state_dir / "logs")
    stack.start()
    ledger = Ledger.connect(settings.ledger.url)
    try:
        wait_until(lambda: len(webhook_sink.received) >= 300, 120, "the first deliveries")
        stack.kill("notify")
        assert len(webhook_sink.webhook_ids()) < COUNT, "the kill came too late to test anything"
        time.sleep(0.5)
        stack.start("notify")
        wait_until(lambda: count_by_state(ledger).get("delivered") == COUNT, 300, f"{COUNT} delivered notices")
    finally:
        stack.stop()

    assert count_by_state(ledger) == {"delivered": COUNT}
    received = Counter(h.webhook_id for h in webhook_sink.received)
    assert set(received) == expected  # every notice arrived, under its own id
    assert webhook_sink.rejected == 0  # every attempt, first or repeated, was signed for its id
    ledger.close()
