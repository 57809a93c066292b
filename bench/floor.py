"""The floor under bench-incident's figures: what delivering the incident's notices costs this machine with
nothing but a bare client and the receivers, measured in the same run.

A sample of the incident's own notices (up to ``SAMPLE`` webhooks and as many emails) is rendered and sent by
bare clients, in this process, to receivers of their own (the same kinds as the run's, on the same ports, before
the run's start), with ``bench.notify``'s bare clients: webhooks by httpx over the notifier's connection pools,
emails by smtplib over ``notify.smtp_connections`` reused connections, as the bytes the notifier's fast path
writes (the stock message where it declines). No Kafka, no ledger, no retries, no audit chain.

Their CPU a message (this process's, rendering and signing included, plus the receiver's) times the incident's
notices by channel, over the machine's cores, is the floor: the fewest seconds any sender on this machine could
deliver them in, with these receivers on it too. SMS are left out (a tenth of the notices, through an HTTP
stand-in), so it is a lower bound. A goal under the floor is out of this machine's reach whatever the pipeline
does; the pipeline's seconds over the floor is what it costs.
"""

import json
import os
import random
import shutil
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

from bench.notify import bare_webhooks, send_8bit
from bench.stack import start_receiver, tree_cpu

SAMPLE = 2000  # notices a channel


def _email_bytes(settings: Any, renderer: Any, notice: Any) -> bytes:
    from consumers.notify.email.fast_message import fast_message
    from consumers.notify.email.message import build_message

    rendered = renderer.render(notice)
    date = formatdate()
    fast = fast_message(settings.smtp.sender, notice.address, notice.notice_id, rendered, date)
    if fast is not None:
        return fast.data
    return bytes(build_message(settings.smtp.sender, notice.address, notice.notice_id, rendered, date))


def _bare_emails(notices: list[Any], renderer: Any, settings: Any) -> None:
    send_8bit([(n.address, _email_bytes(settings, renderer, n)) for n in notices], settings)


def measure(
    notices: list[Any], settings: Any, ports: dict[str, int], delay: float, work: Path
) -> dict[str, dict[str, float]]:
    """channel → the sample's size, bare messages/s, and CPU ms a message of the sender and of the receiver."""
    from consumers.assess.rules import load_rules
    from consumers.notify.render import Renderer
    from runtime.datamap import load_datamap

    renderer = Renderer(settings.templates_dir, load_rules(settings.rules_dir))
    datamap = load_datamap(settings.datamap_dir)
    rng = random.Random(7)
    figures: dict[str, dict[str, float]] = {}
    for channel in ("webhook", "email"):
        of_channel = [n for n in notices if n.channel.value == channel]
        sample = rng.sample(of_channel, min(SAMPLE, len(of_channel)))
        if not sample:
            continue
        kind = "webhook" if channel == "webhook" else "smtp"
        folder = work / f"floor-{kind}"
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "webhook":
            secrets = {f"/hooks/{n.address.rsplit('/', 1)[1]}": _secret(datamap, n) for n in sample}
            (folder / "secrets.json").write_text(json.dumps(secrets))
        child = start_receiver(kind, folder, ports[kind], delay)
        try:
            received_before, cpu_before, wall_before = tree_cpu(child.pid), time.process_time(), time.perf_counter()
            if kind == "webhook":
                bare_webhooks(sample, datamap, renderer, settings.notify.concurrency)
            else:
                _bare_emails(sample, renderer, settings)
            wall = time.perf_counter() - wall_before
            sender_cpu = time.process_time() - cpu_before
            receiver_cpu = tree_cpu(child.pid) - received_before
        finally:
            child.terminate()
            child.wait(timeout=60)
            shutil.rmtree(folder, ignore_errors=True)
        figures[channel] = {
            "sample": len(sample),
            "per_s": round(len(sample) / wall, 1),
            "sender_cpu_ms": round(1000 * sender_cpu / len(sample), 3),
            "receiver_cpu_ms": round(1000 * receiver_cpu / len(sample), 3),
        }
    return figures


def _secret(datamap: Any, notice: Any) -> str:
    return str(datamap.customers[notice.recipient_id].webhook_secret.get_secret_value())


def floor_s(counts: dict[str, int], figures: dict[str, dict[str, float]]) -> float:
    """Seconds the machine's cores need at least for ``counts`` (channel → notices) at the bare CPU a message."""
    cpu_ms = sum(
        n * (figures[ch]["sender_cpu_ms"] + figures[ch]["receiver_cpu_ms"]) for ch, n in counts.items() if ch in figures
    )
    return round(cpu_ms / 1000 / (os.cpu_count() or 1), 1)
