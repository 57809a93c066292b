"""Settings, built once at the entry point and passed down; nothing below reads the environment.

Every field can be set by an environment variable ``BREACHWIRE_<FIELD>`` (nested with ``__``, e.g.
``BREACHWIRE_KAFKA__BOOTSTRAP_SERVERS``) or by a TOML file named by ``--config`` or ``BREACHWIRE_CONFIG``.
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = PROJECT_ROOT / ".breachwire"


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


class BrokerSettings(BaseModel):
    """The local single-node broker that ``breachwire kafka up`` runs from Maven Central's jars."""

    version: str = "4.3.1"
    cache_dir: Path = Path("~/.cache/breachwire").expanduser()
    data_dir: Path = STATE_DIR / "kafka"
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"
    start_timeout_s: float = 90.0


class LedgerSettings(BaseModel):
    url: str = f"sqlite:///{STATE_DIR / 'ledger.db'}"


class IntakeSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 256 * 1024


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 1025
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "breachwire <notices@breachwire.invalid>"
    timeout_s: float = 30.0


class WebhookSettings(BaseModel):
    timeout_s: float = 10.0
    user_agent: str = "breachwire/0.1"


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
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    datamap_dir: Path = PROJECT_ROOT / "examples" / "datamap"
    rules_dir: Path = PROJECT_ROOT / "rules"
    templates_dir: Path = PROJECT_ROOT / "templates"
    state_dir: Path = STATE_DIR

    @model_validator(mode="after")
    def _bootstrap_follows_local_broker(self) -> "Settings":
        """Unless set, clients talk to the local broker wherever its settings put it."""
        if "bootstrap_servers" not in self.kafka.model_fields_set:
            self.kafka.bootstrap_servers = f"{self.broker.host}:{self.broker.port}"
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


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Settings from (highest first) ``overrides``, the environment, then ``config_file`` if given."""
    if config_file is None:
        return Settings(**overrides)  # type: ignore[arg-type]
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file}: no such settings file")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=config_file)

    return FileSettings(**overrides)  # type: ignore[arg-type]
