"""The intake as two worker processes (``intake.workers``) on one port: connections spread over both, the rate
limit is one for the subprocessor whichever worker answers, each worker answers its probes on a port of its own,
and no worker outlives its parent."""

from pathlib import Path

import httpx
import pytest
from support import LINODE_EU_SECRET, a_report, alive, children, read_topic, scrape, value, wait_until

from breachwire.dev.broker import free_port_run
from breachwire.stack import Stack, wait_for_http
from consumers.notify.webhook import sign_headers
from runtime.settings import Settings, settings_env
from runtime.topics import topics_for

pytestmark = pytest.mark.integration

BURST = 12
SENT = 30


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")
def test_two_intake_workers_share_the_port_and_the_rate_limit(settings: Settings) -> None:
    base = free_port_run(3)
    env = {
        **settings_env(settings),
        "BREACHWIRE_INTAKE__WORKERS": "2",
        "BREACHWIRE_INTAKE__PORT": str(base),
        "BREACHWIRE_METRICS__INTAKE_PORT": str(base + 1),
        # a burst and nearly no refill: exactly BURST reports get in, whichever worker takes them
        "BREACHWIRE_INTAKE__RATE_LIMIT_BURST": str(BURST),
        "BREACHWIRE_INTAKE__RATE_LIMIT_PER_MINUTE": "1",
    }
    stack = Stack(env, services=["intake"], log_dir=settings.state_dir / "logs")
    stack.start()
    try:
        parent = stack.processes["intake"].pid
        for port in (base, base + 1, base + 2):
            wait_for_http(f"http://127.0.0.1:{port}/healthz", 60, stack)
        workers = children(parent)
        assert len(workers) == 2

        statuses = []
        for number in range(SENT):  # each on a new connection, as separate senders would come
            body = a_report(reference=f"WORKERS-{number}").model_dump_json().encode()
            headers = {"content-type": "application/json", **sign_headers(LINODE_EU_SECRET, f"msg_{number}", body)}
            answer = httpx.post(
                f"http://127.0.0.1:{base}/v1/subprocessors/linode-eu/reports", content=body, headers=headers
            )
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1
        assert statuses.count(202) == BURST
        assert statuses.count(429) == SENT - BURST

        scrapes = [scrape(f"http://127.0.0.1:{port}") for port in (base + 1, base + 2)]  # each worker's own
        per_worker = [value(s, "breachwire_reports_total", source="subprocessor", outcome="accepted") for s in scrapes]
        assert sum(per_worker) == BURST
        assert all(per_worker), f"one worker took every connection: {per_worker}"
        assert len(read_topic(settings, topics_for(settings.kafka).reported, BURST)) == BURST

        stack.kill("intake")  # SIGKILL: the parent cannot pass anything on
        wait_until(lambda: not any(alive(w) for w in workers), 15, "the workers to stop without their parent")

        stack.start("intake")
        wait_for_http(f"http://127.0.0.1:{base}/healthz", 60, stack)
        workers = children(stack.processes["intake"].pid)
        assert len(workers) == 2
    finally:
        stack.stop()
    assert stack.processes["intake"].returncode == 0  # SIGTERM: the workers answered what was under way and exited
    wait_until(lambda: not any(alive(w) for w in workers), 5, "the workers to be gone")
