"""The topic table: every topic's name, key and partition count in one place.

| topic               | key          | written by            | read by          |
| ------------------- | ------------ | --------------------- | ---------------- |
| incidents.reported  | incident id  | producers             | assess, record   |
| incidents.assessed  | incident id  | assess                | record, clock    |
| notices.requested   | recipient id | assess, clock, oncall | notify, record   |
| notices.alerts      | recipient id | assess, oncall        | notify, record   |
| notices.retry.<d>   | recipient id | notify                | notify, when due |
| notices.sent        | notice id    | notify                | record, clock    |
| notices.dead        | notice id    | notify                | record, clock    |
| messages.invalid    | source topic | every consumer        | people           |
| audit.checkpoints   | audit.head   | record                | audit verify     |

Legal notices (to controllers and authorities) and on-call alerts go on ``notices.requested``; customer alerts go
on ``notices.alerts``, which the notifier reads only while ``notices.requested`` has nothing waiting: an incident's
last controller notice never waits behind its customer alerts.
"""

from dataclasses import dataclass

from runtime.settings import KafkaSettings
from schemas import Audience, NoticeRequested


def delay_label(seconds: int) -> str:
    """5 → '5s', 120 → '2m', 3600 → '1h': the suffix of a retry topic's name."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Topics:
    prefix: str = ""
    retry_delays_s: tuple[int, ...] = (5, 30, 120, 600, 3600, 21600)

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def reported(self) -> str:
        return self._name("incidents.reported")

    @property
    def assessed(self) -> str:
        return self._name("incidents.assessed")

    @property
    def requested(self) -> str:
        return self._name("notices.requested")

    @property
    def alerts(self) -> str:
        return self._name("notices.alerts")

    @property
    def notices(self) -> list[str]:
        """Both topics a requested notice may be on, legal notices' first."""
        return [self.requested, self.alerts]

    def requested_for(self, notice: NoticeRequested) -> str:
        """Where a notice is requested: customer alerts on their own topic, read after the legal notices."""
        return self.alerts if notice.audience is Audience.CUSTOMER else self.requested

    @property
    def sent(self) -> str:
        return self._name("notices.sent")

    @property
    def dead(self) -> str:
        return self._name("notices.dead")

    @property
    def invalid(self) -> str:
        return self._name("messages.invalid")

    @property
    def checkpoints(self) -> str:
        return self._name("audit.checkpoints")

    def retry(self, delay_s: int) -> str:
        return self._name(f"notices.retry.{delay_label(delay_s)}")

    @property
    def retries(self) -> list[str]:
        return [self.retry(d) for d in self.retry_delays_s]

    def partitions(self, settings: KafkaSettings) -> dict[str, int]:
        """Every topic with the partition count the settings give it."""
        counts = settings.partitions
        table = {
            self.reported: counts.get("incidents.reported", 1),
            self.assessed: counts.get("incidents.assessed", 1),
            self.requested: counts.get("notices.requested", 1),
            self.alerts: counts.get("notices.alerts", counts.get("notices.requested", 1)),
            self.sent: counts.get("notices.sent", 1),
            self.dead: counts.get("notices.dead", 1),
            self.invalid: counts.get("messages.invalid", 1),
            self.checkpoints: 1,  # one key, read in order
        }
        for name in self.retries:
            table[name] = counts.get("notices.retry", 1)
        return table


def topics_for(settings: KafkaSettings, retry_delays_s: tuple[int, ...] | None = None) -> Topics:
    if retry_delays_s is None:
        return Topics(prefix=settings.topic_prefix)
    return Topics(prefix=settings.topic_prefix, retry_delays_s=retry_delays_s)
