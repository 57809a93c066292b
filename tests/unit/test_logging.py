import json

import pytest
import structlog
from structlog.contextvars import bound_contextvars

from runtime.logging import REDACTED, configure
from runtime.settings import LogSettings


def test_secrets_and_personal_data_never_reach_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    configure(LogSettings(format="json"), "test")
    log = structlog.get_logger("t")
    with bound_contextvars(incident_id="inc_1", notice_id="ntc_1"):
        log.info(
            "sending",
            webhook_secret="whsec_abc",
            email="dpo@acme.example",
            headers={"Authorization": "Bearer xyz", "webhook-id": "ntc_1"},
            recipients=[{"phone": "+15550001"}],
        )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    text = json.dumps(line)
    for leaked in ("whsec_abc", "dpo@acme.example", "Bearer xyz", "+15550001"):
        assert leaked not in text
    assert line["webhook_secret"] == REDACTED
    assert line["headers"]["webhook-id"] == "ntc_1"
    # every line carries the ids of what it concerns
    assert line["incident_id"] == "inc_1"
    assert line["notice_id"] == "ntc_1"
    structlog.reset_defaults()
