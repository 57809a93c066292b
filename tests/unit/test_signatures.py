"""The intake's Standard Webhooks check: what verifies, what does not, and secrets that could never be safe."""

import base64
import json
import time
from pathlib import Path

import pytest

from producers.intake.signatures import Verified, WebhookSignatureError, sign, verify
from runtime.datamap import DataMapError, load_datamap

SECRET = "whsec_" + base64.b64encode(b"intake-signature-test-secret-01").decode()
OTHER = "whsec_" + base64.b64encode(b"intake-signature-test-secret-02").decode()
NOW = int(time.time())  # the package checks the timestamp against the clock too
BODY = b'{"reference": "R-1"}'


@pytest.fixture(autouse=True)
def _now_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    # the package checks timestamps against the clock itself: NOW must be read when the test runs, not when the
    # module was imported (a long test run would leave it minutes behind)
    monkeypatch.setitem(globals(), "NOW", int(time.time()))


def headers(**changes: str) -> dict[str, str]:
    signed = sign(SECRET, "msg_1", BODY, NOW)
    signed.update(changes)
    return signed


def test_a_signature_verifies_with_the_secret_that_made_it() -> None:
    assert verify([OTHER, SECRET], BODY, headers(), NOW, 300) == Verified("msg_1", NOW, 1)


def test_the_wrong_secret_or_a_changed_body_does_not_verify() -> None:
    with pytest.raises(WebhookSignatureError, match="does not verify"):
        verify([OTHER], BODY, headers(), NOW, 300)
    with pytest.raises(WebhookSignatureError, match="does not verify"):
        verify([SECRET], BODY + b" ", headers(), NOW, 300)


@pytest.mark.parametrize("empty", ["", "whsec_", "whsec_!!!!", "whsec_===="])
def test_a_signature_made_with_an_empty_key_never_verifies(empty: str) -> None:
    import hashlib
    import hmac

    forged = base64.b64encode(hmac.new(b"", b"msg_1.%d." % NOW + BODY, hashlib.sha256).digest()).decode()
    with pytest.raises(WebhookSignatureError):
        verify([empty], BODY, headers(**{"webhook-signature": f"v1,{forged}"}), NOW, 300)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"webhook-timestamp": "١٢٣٤٥"}, "ASCII digits"),  # Arabic-Indic digits: int() would take them
        ({"webhook-timestamp": "1e9"}, "ASCII digits"),
        ({"webhook-timestamp": str(NOW - 301)}, "seconds off"),
        ({"webhook-id": "msg_\u00e9"}, "printable ASCII"),
        ({"webhook-id": "x" * 129}, "at most 128"),
        ({"webhook-signature": "v1"}, "no v1"),
        ({"webhook-signature": "v2,abc v1,!!!"}, "no v1"),
    ],
)
def test_bad_headers_are_refused_with_a_reason(changes: dict[str, str], message: str) -> None:
    with pytest.raises(WebhookSignatureError, match=message):
        verify([SECRET], BODY, headers(**changes), NOW, 300)


def test_a_malformed_entry_does_not_hide_a_good_one() -> None:
    good = headers()["webhook-signature"]
    verified = verify([SECRET], BODY, headers(**{"webhook-signature": f"v1 v1,%%% {good}"}), NOW, 300)
    assert verified.delivery_id == "msg_1"


def test_a_body_that_is_not_utf8_is_refused_not_crashed_on() -> None:
    with pytest.raises(WebhookSignatureError, match="UTF-8"):
        verify([SECRET], b"\xff\xfe", headers(), NOW, 300)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "decodes to 0 bytes"),
        ("whsec_", "decodes to 0 bytes"),
        ("whsec_!!!!", "not whsec_ followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "decodes to 65 bytes"),
    ],
)
def test_the_data_map_refuses_secrets_anyone_could_sign_with(tmp_path: Path, secret: str, message: str) -> None:
    (tmp_path / "subprocessors.toml").write_text(
        "[[subprocessors]]\n"
        'id = "linode-eu"\nname = "Linode"\nkind = "infrastructure"\nregions = ["eu"]\n'
        f"webhook_secrets = [{json.dumps(secret)}]\n",
        encoding="utf-8",
    )
    (tmp_path / "customers.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DataMapError) as info:
        load_datamap(tmp_path)
    text = str(info.value)
    assert "subprocessors.toml" in text and "webhook_secrets" in text and message in text
    assert secret.removeprefix("whsec_") not in text or not secret.removeprefix("whsec_")
