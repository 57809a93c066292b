"""A command whose ledger cannot be opened says which ledger and why, without its password, and exits 1."""

from pathlib import Path

import pytest

from breachwire.cli import main
from breachwire.dev.broker import free_port_run


@pytest.mark.parametrize(
    ("url", "shown", "why"),
    [
        pytest.param(
            "postgresql+psycopg://breachwire:s3cret-pw@127.0.0.1:{port}/ledger",
            "postgresql+psycopg://breachwire:***@127.0.0.1:{port}/ledger",
            "Connection refused",
            id="nothing listening",
        ),
        pytest.param(
            "nonsense://user:s3cret-pw@host/db", "nonsense://user:***@host/db", "Can't load plugin", id="scheme"
        ),
        pytest.param("s3cret-pw", "an unreadable URL", "Could not parse", id="not a URL"),
    ],
)
def test_a_ledger_that_cannot_be_opened_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, shown: str, why: str
) -> None:
    port = free_port_run(1)  # nothing listens there
    monkeypatch.setenv("BREACHWIRE_LEDGER__URL", url.format(port=port))
    assert main(["dlq", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"breachwire dlq: the ledger at {shown.format(port=port)} cannot be opened: ")
    assert why in err and "ledger.url" in err and "Traceback" not in err
    assert "s3cret-pw" not in err


def test_a_sqlite_ledger_in_a_folder_that_cannot_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("BREACHWIRE_LEDGER__URL", f"sqlite:///{tmp_path / 'file' / 'ledger.db'}")
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"breachwire audit: the ledger at sqlite:///{tmp_path / 'file' / 'ledger.db'} cannot be opened"
    )
