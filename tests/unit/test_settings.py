"""Settings handed to a child process through its environment come back the same."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from runtime.settings import load_settings, settings_env


def test_every_setting_comes_back_from_its_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings(
        kafka={"topic_prefix": "t-1.", "partitions": {"notices.requested": 3}},
        ledger={"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        smtp={"port": 2525, "starttls": True, "password": SecretStr("s3cret")},
        notify={"retry_delays_s": (1, 2), "allow_targets": ["127.0.0.0/8"], "workers": 3},
        oncall={"reminder_fractions": (0.5,)},
        monitors={"alertmanager_token": SecretStr("token")},
        datamap_dir=tmp_path,
    )
    env = settings_env(settings)
    assert env["BREACHWIRE_SMTP__PASSWORD"] == "s3cret"
    assert "BREACHWIRE_SMTP__USERNAME" not in env  # None: left unset
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    assert load_settings() == settings
