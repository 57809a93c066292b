"""Notice signatures: every field that matters is covered, rotation works, a stored copy still verifies."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from breachwire.dev.samples import notice_from_report, sample_report
from consumers.assess.rules import load_rules
from runtime import resources
from runtime.datamap import load_datamap
from runtime.notice_signing import NoticeSigner, SignatureError
from runtime.settings import Settings, SigningSettings, settings_env
from schemas import Audience, Channel, Deadline, IncidentFacts, NoticeKind, NoticeRequested, Release, ReportStatus

KEY = SecretStr("k" * 32)
OLD = SecretStr("o" * 32)
SIGNER = NoticeSigner([KEY])


@pytest.fixture(scope="module")
def notice() -> NoticeRequested:
    datamap = load_datamap(resources.example_datamap())
    rules = load_rules(resources.rules_dir())
    customer = datamap.customers["acme-eu"]
    made = notice_from_report(
        sample_report(), datamap, Audience.CONTROLLER, Channel.WEBHOOK, rules=rules, customer=customer
    )
    assert made.deadlines, "the sample must state deadlines for the test to cover them"
    return made.model_copy(update={"release": Release.APPROVE, "references": ["ntc_earlier"]})


def test_a_signed_notice_verifies_and_survives_its_json(notice: NoticeRequested) -> None:
    signed = SIGNER.sign(notice)
    assert signed.signature.startswith("v1=")
    SIGNER.verify(signed)
    # The ledger keeps a notice as JSON, and approve / release / replay republish it from there.
    SIGNER.verify(NoticeRequested.model_validate_json(signed.model_dump_json()))


CHANGES: dict[str, Any] = {
    "notice_id": "ntc_other",
    "incident_id": "inc_other",
    "revision": "confirmed.9",
    "recipient_id": "someone-else",
    "audience": Audience.CUSTOMER,
    "channel": Channel.EMAIL,
    "address": "https://attacker.example/hook",
    "release": Release.AUTO,
    "locale": "de",
    "kind": NoticeKind.CLOSING,
    "references": [],
}
FACT_CHANGES: dict[str, Any] = {
    "title": "nothing to see",
    "description": "a different story",
    "approx_data_subjects": 1,
    "data_categories": [],
    "contact_email": "attacker@example.com",
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_changing_a_field_that_matters_breaks_the_signature(notice: NoticeRequested, field: str) -> None:
    signed = SIGNER.sign(notice)
    assert getattr(signed, field) != CHANGES[field]
    with pytest.raises(SignatureError, match="does not verify"):
        SIGNER.verify(signed.model_copy(update={field: CHANGES[field]}))


@pytest.mark.parametrize("field", sorted(FACT_CHANGES))
def test_changing_a_fact_breaks_the_signature(notice: NoticeRequested, field: str) -> None:
    signed = SIGNER.sign(notice)
    facts = signed.incident.model_copy(update={field: FACT_CHANGES[field]})
    with pytest.raises(SignatureError):
        SIGNER.verify(signed.model_copy(update={"incident": facts}))


def test_changing_a_deadline_breaks_the_signature(notice: NoticeRequested) -> None:
    signed = SIGNER.sign(notice)
    later = signed.deadlines[0].model_copy(update={"due_at": datetime(2099, 1, 1, tzinfo=UTC)})
    with pytest.raises(SignatureError):
        SIGNER.verify(signed.model_copy(update={"deadlines": [later, *signed.deadlines[1:]]}))
    with pytest.raises(SignatureError):
        SIGNER.verify(signed.model_copy(update={"deadlines": []}))
    extra = Deadline(jurisdiction="x", audience="authority", due_at=None)
    with pytest.raises(SignatureError):
        SIGNER.verify(signed.model_copy(update={"deadlines": [*signed.deadlines, extra]}))


def test_a_missing_or_foreign_signature_does_not_verify(notice: NoticeRequested) -> None:
    with pytest.raises(SignatureError, match="has none"):
        SIGNER.verify(notice)
    foreign = NoticeSigner([SecretStr("x" * 32)]).sign(notice)
    with pytest.raises(SignatureError, match="does not verify"):
        SIGNER.verify(foreign)
    with pytest.raises(SignatureError):
        SIGNER.verify(notice.model_copy(update={"signature": "v1=" + "0" * 64}))
    with pytest.raises(SignatureError):
        SIGNER.verify(notice.model_copy(update={"signature": SIGNER.signature(notice)[3:]}))


def test_rotation_signs_with_the_first_key_and_verifies_with_any(notice: NoticeRequested) -> None:
    old_signer, rotating = NoticeSigner([OLD]), NoticeSigner([KEY, OLD])
    from_before = old_signer.sign(notice)
    rotating.verify(from_before)  # still in flight when the key changed
    signed_now = rotating.sign(notice)
    assert signed_now.signature == SIGNER.sign(notice).signature
    with pytest.raises(SignatureError):
        old_signer.verify(signed_now)
    with pytest.raises(SignatureError):
        SIGNER.verify(from_before)  # once the old key is dropped


@pytest.mark.parametrize("keys", [[], [SecretStr("")], [SecretStr("short")], [KEY, SecretStr("")]])
def test_an_empty_or_short_key_is_refused(keys: list[SecretStr]) -> None:
    with pytest.raises(ValueError, match=r"signing\.notice_key"):
        NoticeSigner(keys)


def test_keys_come_from_settings_and_the_environment_a_child_gets() -> None:
    settings = Settings(signing=SigningSettings(notice_key=KEY, verify_keys=[OLD]))
    env = settings_env(settings)
    assert env["BREACHWIRE_SIGNING__NOTICE_KEY"] == KEY.get_secret_value()
    assert OLD.get_secret_value() in env["BREACHWIRE_SIGNING__VERIFY_KEYS"]
    assert not settings.signing.is_demo and Settings().signing.is_demo


def test_the_signed_bytes_are_the_v1_format_notices_in_flight_were_signed_in() -> None:
    # Pinned: notices stored in the ledger or queued on Kafka were signed in this format, and must still verify
    # after any rewrite of the signing code (non-ASCII text, a clock not started and an unknown one included).
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    facts = IncidentFacts(
        incident_id="inc_0123456789abcdef01234567",
        subprocessor_id="linode-eu",
        subprocessor_name="Linode EU",
        status=ReportStatus.CONFIRMED,
        sequence=2,
        title="Volumes copied \u2014 Zürich",
        description="A token leaked.",
        aware_at=at,
        regions=["eu"],
        data_categories=["contact"],
        approx_data_subjects=1200,
    )
    clocks = [
        Deadline(
            jurisdiction="eu",
            audience="authority",
            due_at=at,
            citation="Art. 33(1)",
            obligation="supervisory-authority",
        ),
        Deadline(jurisdiction="de", audience="data_subjects", due_at=None, notifiable=None),
    ]
    notice = NoticeRequested(
        notice_id="ntc_0123456789abcdef01234567",
        incident_id=facts.incident_id,
        revision="confirmed.2",
        recipient_id="acme-eu",
        recipient_name="ACME",
        audience=Audience.CONTROLLER,
        channel=Channel.WEBHOOK,
        kind=NoticeKind.FULL,
        address="https://hooks.acme.example/ü",
        locale="de",
        timezone="Europe/Berlin",
        requested_at=at,
        release=Release.HELD,
        references=["ntc_earlier"],
        incident=facts,
        deadlines=clocks,
    )
    assert SIGNER.signature(notice) == "v1=f6dd9bf32f3750e865315220afed477e26785a49e01228e1e2511caf446e60c1"
