"""The notify consumer: reads ``notices.requested``, delivers, records, writes ``notices.sent``.

Steps per notice, in order:
  1. skip   — the ledger already holds it as delivered or dead: a redelivered message changes nothing;
  2. hold   — a notice that needs a human approval waits in the ledger;
  3. render — the templates, in the recipient's locale;
  4. send   — by the notice's channel;
  5. record — the outcome in the ledger (the single truth), then ``notices.sent`` or ``notices.dead``;
and the loop commits offsets only after all of that, for the whole batch.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import structlog
from kafka import KafkaProducer
from structlog.contextvars import bound_contextvars

from consumers.notify.email import SmtpSender
from consumers.notify.errors import DeliveryError, FinalDelivery
from consumers.notify.render import Rendered, Renderer
from consumers.notify.webhook import WebhookSender
from runtime.consumer import ConsumerLoop, Received
from runtime.datamap import DataMap
from runtime.kafka import make_consumer, make_producer, send
from runtime.ledger import Ledger, NoticeState
from runtime.settings import Settings
from runtime.topics import Topics, topics_for
from schemas import Channel, NoticeDead, NoticeRequested, NoticeSent

log = structlog.get_logger(__name__)

DONE = frozenset({NoticeState.DELIVERED, NoticeState.DEAD})


class Notify:
    def __init__(
        self,
        ledger: Ledger,
        datamap: DataMap,
        renderer: Renderer,
        email: SmtpSender,
        webhook: WebhookSender,
        producer: KafkaProducer,
        topics: Topics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ledger = ledger
        self._datamap = datamap
        self._renderer = renderer
        self._email = email
        self._webhook = webhook
        self._producer = producer
        self._topics = topics
        self._clock = clock

    def __call__(self, batch: Sequence[Received[NoticeRequested]]) -> None:
        for received in batch:
            notice = received.message
            with bound_contextvars(incident_id=notice.incident_id, notice_id=notice.notice_id):
                self.notify(notice)

    def notify(self, notice: NoticeRequested) -> None:
        state = self._ledger.notice_state(notice.notice_id)
        if state in DONE:
            log.info("notice already settled", state=state)
            return
        if state is None:
            self._ledger.record_requested([notice])
        if notice.requires_approval:
            log.info("notice awaits approval")
            return
        attempts = 1
        try:
            rendered = self._renderer.render(notice)
            receipt = self._send(notice, rendered)
        except DeliveryError as exc:
            self._dead(notice, attempts, str(exc))
            return
        self._ledger.mark_delivered(
            notice.notice_id,
            attempts=attempts,
            receipt=receipt,
            locale=rendered.locale,
            rendered=rendered.as_evidence(),
            at=self._clock(),
        )
        send(
            self._producer,
            self._topics.sent,
            notice.notice_id,
            NoticeSent(
                notice_id=notice.notice_id,
                incident_id=notice.incident_id,
                recipient_id=notice.recipient_id,
                audience=notice.audience,
                channel=notice.channel,
                locale=rendered.locale,
                attempts=attempts,
                sent_at=self._clock(),
                receipt=receipt,
            ),
        )
        log.info("notice delivered", channel=notice.channel.value, receipt=receipt)

    def _send(self, notice: NoticeRequested, rendered: Rendered) -> str:
        if notice.channel is Channel.EMAIL:
            return self._email.send(notice.address, notice.notice_id, rendered)
        if notice.channel is Channel.WEBHOOK:
            customer = self._datamap.customers.get(notice.recipient_id)
            if customer is None or customer.webhook_secret is None:
                raise FinalDelivery("no webhook secret for this recipient in the data map")
            return self._webhook.send(
                notice.address,
                customer.webhook_secret.get_secret_value(),
                notice.notice_id,
                rendered.json_body,
            )
        raise FinalDelivery(f"channel {notice.channel.value} is not available")

    def _dead(self, notice: NoticeRequested, attempts: int, reason: str) -> None:
        log.warning("notice dead", reason=reason)
        self._ledger.mark_failed(notice.notice_id, attempts=attempts, error=reason, final=True)
        send(
            self._producer,
            self._topics.dead,
            notice.notice_id,
            NoticeDead(
                notice_id=notice.notice_id,
                incident_id=notice.incident_id,
                recipient_id=notice.recipient_id,
                audience=notice.audience,
                channel=notice.channel,
                attempts=attempts,
                failed_at=self._clock(),
                reason=reason,
                request=notice,
            ),
        )


def build(settings: Settings, datamap: DataMap, ledger: Ledger) -> ConsumerLoop[NoticeRequested]:
    topics = topics_for(settings.kafka)
    producer = make_producer(settings.kafka)
    consumer = make_consumer(settings.kafka, "notify", [topics.requested], max_poll_records=50)
    handler = Notify(
        ledger,
        datamap,
        Renderer(settings.templates_dir),
        SmtpSender(settings.smtp),
        WebhookSender(settings.webhook),
        producer,
        topics,
    )
    return ConsumerLoop(
        "notify",
        consumer,
        producer,
        topics.invalid,
        NoticeRequested,
        handler,
        poll_timeout_ms=settings.kafka.poll_timeout_ms,
        ack_timeout_s=settings.kafka.ack_timeout_s,
    )
