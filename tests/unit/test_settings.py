"""Settings handed to a child process through its environment come back the same; the shipped folders are the
defaults, and a setting overrides them."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from runtime import resources
from runtime.settings import load_settings, settings_env

REPO = Path(__file__).resolve().parents[2]


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


def test_a_checkout_reads_its_own_folders() -> None:
    # run in place, the checkout's top-level folders (an installed wheel: tests/integration/test_install.py)
    assert resources.checkout() == REPO
    settings = load_settings()
    assert settings.templates_dir == REPO / "templates"
    assert settings.rules_dir == REPO / "rules"
    assert settings.release_policy == REPO / "rules" / "release.toml"
    assert settings.datamap_dir == REPO / "examples" / "datamap"


def test_a_setting_overrides_a_shipped_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BREACHWIRE_TEMPLATES_DIR", str(tmp_path / "templates"))
    settings = load_settings(rules_dir=tmp_path / "rules")
    assert (settings.templates_dir, settings.rules_dir) == (tmp_path / "templates", tmp_path / "rules")
    assert settings.datamap_dir == REPO / "examples" / "datamap"


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        pytest.param(
            "[kafka]\nbootstrap_servers = \n", {}, "{file}: Invalid value (at line 2, column 21)", id="syntax"
        ),
        pytest.param(
            '[intake]\nport = "eighty"\n', {}, "{file}: intake.port: Input should be a valid integer", id="type"
        ),
        pytest.param("[kafkaa]\nx = 1\n", {}, "{file}: kafkaa: Extra inputs are not permitted", id="unknown"),
        pytest.param(
            "[intake]\nport = 8080\n",
            {"BREACHWIRE_INTAKE__PORT": "abc"},
            "BREACHWIRE_INTAKE__PORT: intake.port: Input should be a valid integer",
            id="environment",
        ),
    ],
)
def test_bad_settings_name_where_they_came_from(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    toml: str,
    env: dict[str, str],
    expected: str,
) -> None:
    from breachwire.cli import main

    config = tmp_path / "breachwire.toml"
    config.write_text(toml)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["--config", str(config), "rules", "table"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("breachwire: bad settings: " + expected.format(file=config))
    assert "Traceback" not in err and "errors.pydantic.dev" not in err


def test_a_bad_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from breachwire.cli import main

    # (a value may be a password set in the wrong variable)
    monkeypatch.setenv("BREACHWIRE_SMTP__PORT", "hunter2-is-not-a-port")
    assert main(["rules", "table"]) == 2
    err = capsys.readouterr().err
    assert "BREACHWIRE_SMTP__PORT: smtp.port:" in err and "hunter2" not in err
