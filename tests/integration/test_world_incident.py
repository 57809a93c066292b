"""One incident, customers in ten countries and six US states, on the real broker: every controller notice carries
exactly its controller's own laws, each clock with the rules' citation and the due time the rules give."""

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from support import a_report, read_topic, wait_until

from consumers.assess.consumer import build
from consumers.assess.rules import RuleBook
from consumers.notify.render import Renderer
from producers.publish import ReportPublisher
from runtime import resources
from runtime.datamap import load_datamap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.topics import topics_for
from schemas import Audience, IncidentAssessed, NoticeRequested, Source

pytestmark = pytest.mark.integration

# (id, hosting region, country, state, timezone, locale): ten countries, six states
PLACES = [
    ("de-shop", "eu", "DE", None, "Europe/Berlin", "en"),
    ("sk-books", "eu", "SK", None, "Europe/Bratislava", "sk"),
    ("gb-insure", "uk", "GB", None, "Europe/London", "en"),
    ("sg-clinic", "sg", "SG", None, "Asia/Singapore", "en"),
    ("ph-bpo", "sg", "PH", None, "Asia/Manila", "fil"),
    ("jp-games", "sg", "JP", None, "Asia/Tokyo", "en"),
    ("br-retail", "us", "BR", None, "America/Sao_Paulo", "en"),
    ("au-health", "sg", "AU", None, "Australia/Sydney", "en"),
    ("qc-media", "us", "CA", "QC", "America/Toronto", "en"),
    ("za-telco", "eu", "ZA", None, "Africa/Johannesburg", "en"),
    ("ca-saas", "us", "US", "CA", "America/Los_Angeles", "en"),
    ("tx-energy", "us", "US", "TX", "America/Chicago", "en"),
    ("ny-brokers", "us", "US", "NY", "America/New_York", "en"),
    ("fl-travel", "us", "US", "FL", "America/New_York", "en"),
    ("wa-health", "us", "US", "WA", "America/Los_Angeles", "en"),
    ("ma-energy", "us", "US", "MA", "America/New_York", "en"),
]


def world_map(directory: Path) -> Path:
    directory.mkdir()
    subprocessors = (resources.example_datamap() / "subprocessors.toml").read_text(encoding="utf-8")
    (directory / "subprocessors.toml").write_text(subprocessors, encoding="utf-8")
    lines = []
    for customer_id, region, country, state, zone, locale in PLACES:
        record = {
            "id": customer_id,
            "name": customer_id.replace("-", " ").title(),
            "region": region,
            "country": country,
            "timezone": zone,
            "locale": locale,
            "features": ["helpdesk", "call-center"],
            "data_subjects": 800,
            "privacy_email": f"privacy@{customer_id}.example",
            "admin_emails": [f"admin@{customer_id}.example"],
        }
        if state:
            record["state"] = state
        lines.append(json.dumps(record))
    (directory / "customers.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def test_every_controller_notice_carries_its_own_laws_with_the_rules_citations_and_clocks(
    settings: Settings, rules: RuleBook, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"datamap_dir": world_map(tmp_path / "world")})
    datamap = load_datamap(settings.datamap_dir)
    topics = topics_for(settings.kafka)
    report = a_report(regions=[], data_categories=[], approx_data_subjects=800)
    determined = report.aware_at + timedelta(days=2)
    # Singapore's clock runs from the determination: recorded for it, so it no longer waits; Texas's is not
    report = report.model_copy(update={"determinations": {"sg-pdpa": determined}})
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics, 10.0)
    try:
        publisher.publish("twilio", Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", report)
    finally:
        publisher.close()

    loop = build(settings, datamap)
    wait_until(lambda: loop.run_once() > 0, 30, "the report to be assessed", step_s=0)
    assessed = [IncidentAssessed.model_validate_json(r.value) for r in read_topic(settings, topics.assessed, 16)]
    assert {a.customer_id for a in assessed} == {p[0] for p in PLACES}
    expected = sum(len(a.notice_ids) for a in assessed)
    notices = [NoticeRequested.model_validate_json(r.value) for r in read_topic(settings, topics.notices, expected)]
    controller = {n.recipient_id: n for n in notices if n.audience is Audience.CONTROLLER}
    assert set(controller) == {p[0] for p in PLACES}

    countries = {datamap.customers[c].country for c in controller}
    states = {datamap.customers[c].state for c in controller if datamap.customers[c].country == "US"}
    assert len(countries - {"US"}) == 10 and len(states) == 6

    for customer_id, notice in controller.items():
        customer = datamap.customers[customer_id]
        own = rules.for_customer(customer.region, customer.country, customer.state, customer.covered_entity)
        assert own, f"{customer_id} has no jurisdiction"
        # the controller's own clocks: every non-controller obligation of its own laws, and nothing else
        wanted = {(j.id, o.id) for j in own for o in j.obligations if o.audience != "controller"}
        assert {(d.jurisdiction, d.obligation) for d in notice.deadlines} == wanted, customer_id
        for deadline in notice.deadlines:
            obligation = rules[deadline.jurisdiction].obligation(deadline.obligation)
            determination = report.determinations.get(deadline.jurisdiction)
            assert deadline.citation == obligation.citation
            assert deadline.audience == obligation.audience
            assert deadline.due_at == obligation.due_at(report.aware_at, determination), deadline
            assert deadline.waiting_for == obligation.waits_for(determination)

    def laws(customer_id: str) -> set[str]:
        return {d.jurisdiction for d in controller[customer_id].deadlines}

    assert "eu-gdpr" in laws("de-shop") and "us-ca" not in laws("de-shop")
    assert laws("ca-saas") == {"us-ca"}  # a California controller is told of California's law, not GDPR's
    assert "us-tx" in laws("tx-energy") and "eu-gdpr" not in laws("tx-energy")
    assert {"ca-pipeda", "ca-qc-law25"} <= laws("qc-media")
    assert "br-lgpd" in laws("br-retail")
    sg = [d for d in controller["sg-clinic"].deadlines if d.jurisdiction == "sg-pdpa"]
    assert sg and all(d.waiting_for is None for d in sg)
    tx = [d for d in controller["tx-energy"].deadlines if d.jurisdiction == "us-tx" and d.audience == "data_subjects"]
    assert tx and all(d.waiting_for == "determination" for d in tx)

    # and the words follow: each email cites its controller's laws, never another's
    renderer = Renderer(settings.templates_dir, rules)
    california = renderer.render(controller["ca-saas"]).text
    assert "1798.82" in california and "GDPR" not in california and "supervisory authority" not in california
    assert "California Attorney General" in california
    german = renderer.render(controller["de-shop"]).text
    assert "Art. 33" in german and "1798.82" not in german
    texas = renderer.render(controller["tx-energy"]).text
    assert "determin" in texas and "GDPR" not in texas
