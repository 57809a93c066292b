"""How a client connects follows the settings alone: one place turns them into kafka-python's arguments."""

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from runtime.kafka import connection
from runtime.settings import KafkaSettings, load_settings, settings_env


def test_a_plaintext_client_sends_no_credentials() -> None:
    config = connection(KafkaSettings(bootstrap_servers="kafka:9092", username="x", password=SecretStr("y")))
    assert config == {"bootstrap_servers": "kafka:9092", "client_id": "breachwire", "security_protocol": "PLAINTEXT"}


def test_a_sasl_ssl_client_signs_in_with_scram_and_checks_the_brokers_certificate(tmp_path: Path) -> None:
    kafka = KafkaSettings(
        bootstrap_servers="kafka:9092",
        security_protocol="SASL_SSL",
        username="breachwire",
        password=SecretStr("s3cret"),
        ssl_cafile=tmp_path / "ca.pem",
    )
    config = connection(kafka)
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("breachwire", "s3cret")
    assert config["ssl_cafile"] == str(tmp_path / "ca.pem")
    assert config["ssl_check_hostname"] is True


@pytest.mark.parametrize("missing", ["username", "password"])
def test_sasl_ssl_without_credentials_is_an_error_naming_them(missing: str) -> None:
    fields: dict[str, object] = {"security_protocol": "SASL_SSL", "username": "u", "password": SecretStr("p")}
    del fields[missing]
    with pytest.raises(ValidationError, match=r"kafka\.username and kafka\.password"):
        KafkaSettings.model_validate(fields)


def test_only_plaintext_and_sasl_ssl_are_offered() -> None:
    with pytest.raises(ValidationError, match="security_protocol"):
        KafkaSettings.model_validate({"security_protocol": "SASL_PLAINTEXT", "username": "u", "password": "p"})


def test_the_sign_in_comes_back_from_a_services_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings(
        kafka={
            "bootstrap_servers": "kafka:9092",
            "security_protocol": "SASL_SSL",
            "username": "breachwire",
            "password": SecretStr("s3cret"),
            "ssl_cafile": tmp_path / "ca.pem",
        }
    )
    env = settings_env(settings)
    assert env["BREACHWIRE_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["BREACHWIRE_KAFKA__PASSWORD"] == "s3cret"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert load_settings().kafka == settings.kafka


def test_clients_follow_the_local_auth_broker_unless_told_otherwise() -> None:
    assert load_settings().kafka.bootstrap_servers == "127.0.0.1:9092"
    assert load_settings(broker={"auth": True}).kafka.bootstrap_servers == "127.0.0.1:9094"
