"""Settings, built once at the entry point and passed down; nothing below reads the environment.

Every field can be set by an environment variable ``BREACHWIRE_<FIELD>`` (nested with ``__``, e.g.
``BREACHWIRE_KAFKA__BOOTSTRAP_SERVERS``) or by a TOML file named by ``--config`` or ``BREACHWIRE_CONFIG``.
"""

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_core import to_jsonable_python
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from runtime import resources

# Local state (the local broker's data, the SQLite ledger, audit checkpoints): in the checkout when run from one,
# else in the working directory.
STATE_DIR = (resources.checkout() or Path.cwd()) / ".breachwire"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "breachwire"
    topic_prefix: str = Field(default="", description="Prepended to every topic name (tests use one per test).")
    group_prefix: str = Field(default="breachwire", description="Consumer groups are <prefix>.<consumer>.")
    partitions: dict[str, int] = Field(
        default_factory=lambda: {
            "incidents.reported": 3,
            "incidents.assessed": 3,
            "notices.requested": 6,
            "notices.alerts": 6,
            "notices.retry": 6,
            "notices.sent": 3,
            "notices.dead": 1,
            "messages.invalid": 1,
        },
        description="Partition count per topic (retry topics share the notices.retry entry).",
    )
    create_topics: bool = True
    ack_timeout_s: float = Field(default=10.0, description="How long a producer waits for acks=all.")
    poll_timeout_ms: int = 500
    rejoin_after_s: float = Field(
        default=330.0,
        description="A consumer whose group membership has not settled for this long leaves its group and joins "
        "again. Longer than any rebalance may take (Kafka's max.poll.interval, 300 s, plus a session timeout).",
    )
    recall_timeout_s: float = Field(
        default=60.0,
        description="How long assess may read an incident's earlier assessments back after a restart.",
    )
    security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="SASL_SSL: TLS to the broker, and a SCRAM sign-in over it."
    )
    sasl_mechanism: Literal["SCRAM-SHA-512"] = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    ssl_cafile: Path | None = Field(
        default=None, description="CA certificate(s) the broker's certificate is checked against; else the system's."
    )
    check_hostname: bool = Field(default=True, description="The broker's certificate must name the host dialled.")
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="Replicas of each topic created; unset: the cluster's broker count, at most 3.",
    )

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> "KafkaSettings":
        if self.security_protocol == "SASL_SSL" and (not self.username or self.password is None):
            raise ValueError("kafka.security_protocol SASL_SSL needs kafka.username and kafka.password")
        return self


class BrokerSettings(BaseModel):
    """The local single-node broker that ``breachwire kafka up`` runs from Maven Central's jars."""

    version: str = "4.3.1"
    cache_dir: Path = Path("~/.cache/breachwire").expanduser()
    data_dir: Path = STATE_DIR / "kafka"
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    auth: bool = Field(
        default=False,
        description="Serve clients over SASL_SSL (SCRAM-SHA-512), on the auth ports and data folder below.",
    )
    auth_port: int = 9094
    auth_controller_port: int = 9095
    auth_data_dir: Path = STATE_DIR / "kafka-auth"
    heap: str = "512m"
    start_timeout_s: float = 90.0
    brokers: int = Field(
        default=1,
        ge=1,
        le=9,
        description="Nodes of the local cluster (KRaft, each broker and controller): node N serves clients on "
        "port + 2(N-1) and its controller on controller_port + 2(N-1), its data in cluster_data_dir/node-N.",
    )
    cluster_data_dir: Path = STATE_DIR / "kafka-cluster"


class LedgerSettings(BaseModel):
    url: str = f"sqlite:///{STATE_DIR / 'ledger.db'}"
    unreachable_wait_s: float = Field(
        default=60.0,
        ge=0,
        le=60,
        description=(
            "How long notify and record wait out an unreachable ledger (PostgreSQL restarting) before they exit to"
            " be restarted. A notifier records a batch after sending it: waiting keeps its sends from going out"
            " twice. At most 60 s: a batch stays within Kafka's max.poll.interval.ms."
        ),
    )


# Only for a local run on the embedded defaults: compose and any deployment set their own key (no default there).
DEMO_AUDIT_KEY = "breachwire-demo-audit-key-not-for-production"


class AuditSettings(BaseModel):
    key: SecretStr = Field(
        default=SecretStr(DEMO_AUDIT_KEY),
        description="HMAC key of the audit chain; kept outside the database, so a database writer cannot re-MAC it.",
    )
    checkpoints_file: Path | None = Field(
        default=None, description="Where audit checkpoints are appended; unset: <state_dir>/audit-checkpoints.jsonl."
    )


class IntakeSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 256 * 1024
    timestamp_tolerance_s: int = Field(
        default=300, description="webhook-timestamp may be this far off (Standard Webhooks: 5 min)."
    )
    rate_limit_per_minute: int = Field(default=600, ge=1, description="Reports per minute per subprocessor.")
    rate_limit_burst: int = Field(default=60, ge=1, description="Reports a subprocessor may send at once.")
    rate_limits: dict[str, int] = Field(
        default_factory=dict, description="Per-subprocessor reports per minute, overriding rate_limit_per_minute."
    )
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After of a 503 (Kafka did not acknowledge).")
    workers: int = Field(
        default=1,
        ge=1,
        description="Intake processes sharing the port (and the rate limits); each also answers on "
        "metrics.intake_port plus its number, to be scraped and probed on its own.",
    )


class AlertmanagerMapping(BaseModel):
    """How an Alertmanager alert's labels and annotations become report fields."""

    subprocessor_label: str = Field(default="subprocessor", description="Label naming the subprocessor id.")
    default_subprocessor: str | None = Field(default=None, description="Used when the alert has no such label.")
    reference_label: str | None = Field(
        default=None, description="Label used as the report's reference; the alert's fingerprint when unset."
    )
    title_annotation: str = "summary"
    description_annotation: str = "description"
    region_label: str = "region"
    feature_label: str = "feature"
    data_categories_label: str = "data_categories"
    customer_accounts_label: str = "customer_accounts"


class MonitorsSettings(BaseModel):
    alertmanager_token: SecretStr | None = Field(
        default=None, description="Bearer token Alertmanager sends; the endpoint refuses everything when unset."
    )
    alertmanager: AlertmanagerMapping = Field(default_factory=AlertmanagerMapping)


class OncallSettings(BaseModel):
    email: str = Field(default="oncall@processor.example", description="Where clock reminders and escalations go.")
    name: str = "Incident response on-call"
    locale: str = "en"
    timezone: str = "UTC"
    reminder_fractions: tuple[float, ...] = Field(
        default=(0.5, 0.8), description="Remind on-call when this share of a legal clock has run."
    )
    hold_escalation_fraction: float = Field(
        default=0.8, gt=0, le=1, description="Escalate held notices when this share of the controller clock has run."
    )
    token_expiry_days: int = Field(default=30, ge=1, description="How long a new on-call token lasts by default.")
    signin_failures_per_minute: int = Field(
        default=10, ge=1, description="Failed sign-ins allowed per client address per minute (after a burst)."
    )
    signin_failure_burst: int = Field(
        default=10, ge=1, description="Failed sign-ins a client address may make at once."
    )
    signin_failures_overall_per_minute: int = Field(
        default=60, ge=1, description="Failed sign-ins allowed per minute from all addresses together."
    )
    signin_failure_overall_burst: int = Field(default=100, ge=1, description="Failed sign-ins overall at once.")


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 1025
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "breachwire <notices@breachwire.invalid>"
    timeout_s: float = 30.0


class WebhookSettings(BaseModel):
    timeout_s: float = Field(default=10.0, gt=0, description="Longest wait for any one read or write.")
    deadline_s: float = Field(default=30.0, gt=0, description="Longest one attempt may take, answer included.")
    user_agent: str = "breachwire/0.1"


class TwilioSettings(BaseModel):
    """SMS through Twilio's Messages API; tests point ``base_url`` at a local server speaking that API."""

    base_url: str = "https://api.twilio.com"
    account_sid: str = "AC00000000000000000000000000000000"
    auth_token: SecretStr = SecretStr("")
    from_number: str | None = Field(default=None, description="E.164 sender number (or use a messaging service).")
    messaging_service_sid: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, description="Longest wait for any one read or write.")
    deadline_s: float = Field(default=30.0, gt=0, description="Longest one attempt may take, answer included.")


class NotifySettings(BaseModel):
    """How the notifier retries and how much it does at once."""

    retry_delays_s: tuple[int, ...] = Field(
        default=(5, 30, 120, 600, 3600, 21600),
        min_length=1,
        description="Wait before each retry; one retry topic per delay; dead after the last.",
    )
    jitter: float = Field(default=0.2, ge=0, lt=1, description="Each wait is spread by ± this share.")
    concurrency: int = Field(default=64, ge=1, description="Deliveries in flight at once, overall.")
    per_host: int = Field(default=16, ge=1, description="Deliveries in flight at once to one host.")
    smtp_connections: int = Field(
        default=8,
        ge=1,
        description=(
            "SMTP connections kept open and reused. Each carries one message at a time, four round trips to the"
            " server each, so a relay further away than this machine wants more."
        ),
    )
    batch_size: int = Field(
        default=2000,
        ge=1,
        description=(
            "Notices read from Kafka per poll. A batch ends with its last sends finishing and its outcomes being"
            " published and recorded, while its connections wait: fewer, larger batches keep them busier."
        ),
    )
    batch_budget_s: float = Field(
        default=120.0,
        gt=0,
        le=240,
        description=(
            "Sends a batch may start until this long after it began; the rest wait on the first retry topic,"
            " not counted as attempts. Keeps a slow endpoint from holding a partition, and a batch (with the"
            " sends still in flight, at most their timeout) within Kafka's 5-minute max.poll.interval.ms."
        ),
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="Notifier processes, one consumer group; the limits above are shared out among them.",
    )
    allow_targets: list[str] = Field(
        default_factory=list,
        description="Webhook hosts or CIDRs admitted although private, loopback or link-local (tests: 127.0.0.0/8).",
    )
    require_https: bool = Field(
        default=True,
        description="Refuse http:// webhook targets: a notice and its signature are not for the network to read.",
    )

    def share(self) -> "NotifySettings":
        """One worker's part of the overall limits (rounded up, at least one each)."""

        def part(total: int) -> int:
            return max(1, -(-total // self.workers))

        return self.model_copy(
            update={
                "concurrency": part(self.concurrency),
                "per_host": part(self.per_host),
                "smtp_connections": part(self.smtp_connections),
            }
        )


class ConsoleSettings(BaseModel):
    """The on-call web console (``breachwire run console``)."""

    host: str = "127.0.0.1"
    port: int = 8090
    session_ttl_s: int = Field(default=8 * 3600, ge=60, description="A sign-in lasts this long, then signs in again.")
    idle_timeout_s: int = Field(default=3600, ge=60, description="A session unused this long has expired.")
    secure_cookies: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto: Secure cookies when served over https or behind a proxy saying so."
    )
    page_size: int = Field(default=50, ge=5, le=500, description="Customers, clocks or notices per page.")


# Good for the embedded demo and tests only: `breachwire up` refuses it, compose takes the key from .env.
DEMO_NOTICE_KEY = "breachwire-demo-notice-key-not-secret"


class SigningSettings(BaseModel):
    notice_key: SecretStr = Field(
        default=SecretStr(DEMO_NOTICE_KEY), description="Signs every notice put on notices.requested."
    )
    verify_keys: list[SecretStr] = Field(
        default_factory=list, description="Earlier notice keys still accepted while a rotation finishes."
    )

    @property
    def is_demo(self) -> bool:
        return self.notice_key.get_secret_value() == DEMO_NOTICE_KEY


class MetricsSettings(BaseModel):
    """Where the consumers serve /metrics, /healthz and /readyz (intake and console serve them on their own
    ports); port 0: any free one."""

    enabled: bool = True
    host: str = "127.0.0.1"
    assess_port: int = Field(default=9101, ge=0, le=65535)
    record_port: int = Field(default=9102, ge=0, le=65535)
    clock_port: int = Field(default=9103, ge=0, le=65535)
    notify_port: int = Field(default=9110, ge=0, le=65535, description="Notifier worker i serves on this plus i.")
    intake_port: int = Field(
        default=9120, ge=0, le=65535, description="With intake.workers > 1: intake worker i also serves on this plus i."
    )
    ready_timeout_s: float = Field(default=2.0, gt=0, description="/readyz: longest wait for Kafka and the ledger.")
    stall_s: float = Field(
        default=300.0, gt=0, description="/healthz: a consumer loop that has not polled for this long is not alive."
    )
    ledger_every_s: float = Field(
        default=15.0, ge=0, description="The clock service counts notices and clocks in the ledger at most this often."
    )

    def port(self, service: str, worker: int = 0) -> int:
        port: int = getattr(self, f"{service}_port")
        return port + worker if port else 0


class LogSettings(BaseModel):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BREACHWIRE_", env_nested_delimiter="__", extra="forbid", toml_file=None
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    monitors: MonitorsSettings = Field(default_factory=MonitorsSettings)
    oncall: OncallSettings = Field(default_factory=OncallSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    # the folders breachwire ships (runtime/resources.py), unless set
    datamap_dir: Path = resources.example_datamap()
    datamap_reload_s: float = Field(
        default=30.0,
        ge=0,
        description="How often assess, notify and record look for a changed data map and load it again (0: never).",
    )
    rules_dir: Path = resources.rules_dir()
    release_policy: Path = Field(
        default=resources.release_policy(),
        description="Which notices go out at once, wait for an on-call release, or need an approval.",
    )
    templates_dir: Path = resources.templates_dir()
    state_dir: Path = STATE_DIR

    @property
    def audit_checkpoints(self) -> Path:
        return self.audit.checkpoints_file or self.state_dir / "audit-checkpoints.jsonl"

    @model_validator(mode="after")
    def _bootstrap_follows_local_broker(self) -> "Settings":
        """Unless set, clients talk to the local broker wherever its settings put it."""
        if "bootstrap_servers" not in self.kafka.model_fields_set:
            port = self.broker.auth_port if self.broker.auth else self.broker.port
            self.kafka.bootstrap_servers = f"{self.broker.host}:{port}"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def settings_env(settings: BaseModel, prefix: str = "BREACHWIRE_") -> dict[str, str]:
    """Every setting as the environment variable that sets it (secrets in clear): a service started as a child
    process with these runs on the same settings. A field left at None is left out, as unset."""
    env: dict[str, str] = {}
    for name, value in settings:
        key = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            env.update(settings_env(value, f"{key}__"))
        elif isinstance(value, SecretStr):
            env[key] = value.get_secret_value()
        elif isinstance(value, list) and value and all(isinstance(v, SecretStr) for v in value):
            env[key] = json.dumps([v.get_secret_value() for v in value])
        elif isinstance(value, str | int | float | Path):  # (bool is an int: "True", which pydantic reads)
            env[key] = str(value)
        elif value is not None:  # lists, tuples, dicts: JSON, as pydantic-settings reads complex fields
            env[key] = json.dumps(to_jsonable_python(value))
    return env


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Settings from (highest first) ``overrides``, the environment, then ``config_file`` if given."""
    if config_file is None:
        return Settings(**overrides)  # type: ignore[arg-type]
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file}: no such settings file")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=config_file)

    return FileSettings(**overrides)  # type: ignore[arg-type]
