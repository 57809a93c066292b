import json
import logging
import threading
from collections.abc import Iterator

import pytest
import structlog
from structlog.contextvars import bound_contextvars

from runtime.logging import REDACTED, configure
from runtime.settings import LogSettings


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """configure() sets process-wide state: the tests after these (and after a failing one) find it as it was."""
    loggers = [
        logging.getLogger(n) for n in ("kafka", "kafka.coordinator", "uvicorn", "uvicorn.error", "uvicorn.access")
    ]
    saved = [(x.level, list(x.handlers), x.propagate) for x in loggers]
    yield
    structlog.reset_defaults()
    for logger, (level, handlers, propagate) in zip(loggers, saved, strict=True):
        logger.setLevel(level)  # (setLevel, not the attribute: it clears the loggers' cached levels)
        logger.handlers[:] = handlers
        logger.propagate = propagate


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


def last_line(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    line: dict[str, object] = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    return line


@pytest.mark.parametrize(
    "leaked",
    [
        "dpo@acme.example",
        "+421 2 1234 5678",
        "+15550001234",
        "whsec_bGlub2RlLWV1LWRlbW8tc2VjcmV0LTIwMjY=",
        "bw_Q2hhbmdlLW1lLWFsaWNlLXRva2Vu",
        "Bearer abc.def-ghi",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_sensitive_values_are_redacted_wherever_they_stand(capsys: pytest.CaptureFixture[str], leaked: str) -> None:
    configure(LogSettings(format="json"), "test")
    log = structlog.get_logger("t")
    log.warning(
        f"could not deliver to {leaked}",
        error=f"550 mailbox {leaked} unknown",
        nested={"deeper": [{"note": f"see {leaked}"}], "items": (leaked,)},
    )
    line = last_line(capsys)
    assert leaked not in json.dumps(line)
    assert line["error"] == f"550 mailbox {REDACTED} unknown"


def test_ids_times_and_counts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    configure(LogSettings(format="json"), "test")
    structlog.get_logger("t").info(
        "sent", notice_id="ntc_3f2a9c", at="2026-12-03T10:00:00+00:00", attempts=3, receipt="HTTP 200"
    )
    line = last_line(capsys)
    assert (line["notice_id"], line["at"], line["attempts"], line["receipt"]) == (
        "ntc_3f2a9c",
        "2026-12-03T10:00:00+00:00",
        3,
        "HTTP 200",
    )


def test_a_traceback_is_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure(LogSettings(format="json"), "test")
    try:
        raise ValueError("no route to dpo@acme.example")
    except ValueError:
        structlog.get_logger("t").exception("failed")
    line = last_line(capsys)
    assert "dpo@acme.example" not in json.dumps(line)
    assert "ValueError" in str(line["exception"])


def bare_root(monkeypatch: pytest.MonkeyPatch) -> logging.Logger:
    """The root logger as in a service's process: no handler on it yet. (Called in the test itself: pytest adds
    its own handlers for the call, after the fixtures.)"""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    return root


def test_standard_library_and_uvicorn_lines_are_json_and_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bare_root(monkeypatch)
    configure(LogSettings(format="json"), "intake")
    logging.getLogger("uvicorn.error").error("client %s sent garbage", "dpo@acme.example")
    line = last_line(capsys)
    assert line["event"] == f"client {REDACTED} sent garbage"
    assert line["logger"] == "uvicorn.error"
    assert line["level"] == "error"
    assert line["service"] == "intake"
    logging.getLogger("some.library").warning("token whsec_c2VjcmV0c2VjcmV0c2VjcmV0 rotated")
    line = last_line(capsys)
    assert "whsec_" not in json.dumps(line)


def test_every_line_names_the_service_whichever_thread_logs_it_and_a_worker_names_itself(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = bare_root(monkeypatch)
    configure(LogSettings(format="json"), "record")
    # the Kafka client logs its group events from a thread of its own; its other chatter stays out
    thread = threading.Thread(target=lambda: logging.getLogger("kafka.coordinator").info("Successfully joined group"))
    thread.start()
    thread.join()
    logging.getLogger("kafka.conn").info("connecting")
    # (only this test's lines: a Kafka client an earlier test left behind may log an error meanwhile)
    lines = [json.loads(x) for x in capsys.readouterr().err.strip().splitlines()]
    ours = [
        (x["event"], x["logger"], x["service"])
        for x in lines
        if x["event"] in ("Successfully joined group", "connecting")
    ]
    assert ours == [("Successfully joined group", "kafka.coordinator", "record")]
    # a worker forked from a set-up process sets logging up again under its own name
    configure(LogSettings(format="json"), "notify.1")
    logging.getLogger("uvicorn.error").warning("worker line")
    structlog.get_logger("t").info("structlog line")
    lines = [json.loads(x) for x in capsys.readouterr().err.strip().splitlines()]
    ours = [(x["event"], x["service"]) for x in lines if x["event"] in ("worker line", "structlog line")]
    assert ours == [("worker line", "notify.1"), ("structlog line", "notify.1")]
    assert len(root.handlers) == 1
