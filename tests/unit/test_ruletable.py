"""``breachwire rules table``: the rule book in words, one row per jurisdiction and obligation."""

import json
from pathlib import Path

import pytest

from breachwire.cli import main
from consumers.assess.rules import RuleBook, load_rules
from consumers.assess.ruletable import Row, markdown, rows

# A made-up jurisdiction with one obligation of each clock kind and trigger, and thresholds in every form.
BOOK = """
id = "xx-test"
name = "Test Data Act | 2026"
timezone = "America/Sao_Paulo"
sources = ["https://example.org/act"]
checked = 2026-12-01
holidays = "BR"

[applies_to]
countries = ["BR"]

[[obligations]]
id = "controller"
audience = "controller"
citation = "s1"
[obligations.clock]
kind = "without_undue_delay"
target_hours = 24
basis = "contract"

[[obligations]]
id = "regulator"
audience = "authority"
citation = "s2(1)"
[obligations.authority]
name = "Test Data Protection Authority"
channel = "online_form"
url = "https://example.org/report"
[obligations.clock]
kind = "working_days"
days = 3
[obligations.threshold]
min_affected = 500
none_of = ["encrypted"]

[[obligations]]
id = "residents"
audience = "data_subjects"
citation = "s3"
[obligations.clock]
kind = "calendar_days"
days = 30
after = "determination"
determination_within_days = 30
[obligations.threshold]
any_of = ["significant_harm"]
or_min_affected = 1000
none_of = ["encrypted", "harm_unlikely"]

[[obligations]]
id = "agencies"
audience = "consumer_reporting_agencies"
citation = "s4"
[obligations.clock]
kind = "calendar_days"
days = 0
after = "data_subjects_notice"
[obligations.threshold]
min_affected = 1000

[[obligations]]
id = "media"
audience = "media"
citation = "s5"
[obligations.clock]
kind = "hours"
hours = 72
[obligations.threshold]
all_of = ["sensitive_data", "unauthorised_acquisition"]
min_affected = 501

[[obligations]]
id = "annual-log"
audience = "authority"
citation = "s6"
[obligations.authority]
name = "Test Data Protection Authority"
channel = "portal"
url = "https://example.org/log"
[obligations.clock]
kind = "after_year_end"
days = 60
[obligations.threshold]
max_affected = 499
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "xx-test.toml").write_text(BOOK, encoding="utf-8")
    return directory


@pytest.fixture
def book(rules_dir: Path) -> RuleBook:
    return load_rules(rules_dir)


def test_one_row_per_obligation_in_words(book: RuleBook) -> None:
    by_id = {r.obligation: r for r in rows(book)}
    assert list(by_id) == ["controller", "regulator", "residents", "agencies", "media", "annual-log"]
    assert by_id["controller"] == Row(
        jurisdiction_id="xx-test",
        jurisdiction="Test Data Act | 2026",
        obligation="controller",
        audience="controller",
        deadline="without undue delay (target 24 h, contract)",
        trigger="awareness",
        thresholds="every breach",
        authority="",
        citation="s1",
        checked="2026-12-01",
    )
    regulator = by_id["regulator"]
    assert (regulator.deadline, regulator.thresholds) == ("3 working days", "500+ affected; unless encrypted")
    assert regulator.authority == "Test Data Protection Authority"
    residents = by_id["residents"]
    assert residents.deadline == "30 calendar days"
    assert residents.trigger == "determination (made within 30 days of awareness)"
    assert residents.thresholds == "significant harm or 1,000+ affected; unless encrypted or harm unlikely"
    agencies = by_id["agencies"]
    assert (agencies.audience, agencies.deadline) == ("consumer reporting agencies", "the same calendar day")
    assert agencies.trigger == "notice to data subjects"
    media = by_id["media"]
    assert media.deadline == "72 hours"
    assert media.thresholds == "501+ affected; sensitive data and unauthorised acquisition"
    log = by_id["annual-log"]
    assert (log.deadline, log.thresholds) == ("60 days after year end", "at most 499 affected")


def test_jurisdictions_come_in_id_order() -> None:
    table = rows(load_rules(Path(__file__).resolve().parents[2] / "rules"))
    ids = [r.jurisdiction_id for r in table]
    assert ids == sorted(ids)
    assert all(r.checked for r in table)
    # every authority row names its authority
    assert all(r.authority for r in table if r.audience == "authority")


def test_markdown_keeps_one_line_per_row_and_escapes_pipes(book: RuleBook) -> None:
    text = markdown(rows(book))
    lines = text.splitlines()
    assert len(lines) == 2 + 6
    assert lines[0].startswith("| Jurisdiction | Audience | Deadline | Trigger | Thresholds | Authority |")
    assert "`xx-test` Test Data Act \\| 2026" in lines[2]
    assert all(line.count(" | ") == 7 for line in lines[2:])


def test_the_command_prints_markdown_and_json(rules_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "table", "--rules", str(rules_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# The rule book") and "make rules-table" in out
    assert "| 3 working days |" in out
    assert main(["rules", "table", "--format", "json", "--rules", str(rules_dir)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["obligation"] for d in data][:2] == ["controller", "regulator"]
    assert data[1]["authority"] == "Test Data Protection Authority" and data[1]["checked"] == "2026-12-01"


def test_a_broken_rules_file_is_named(rules_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (rules_dir / "xx-test.toml").write_text(BOOK.replace("days = 3\n", 'days = "3"\n'), encoding="utf-8")
    assert main(["rules", "table", "--rules", str(rules_dir)]) == 2
    captured = capsys.readouterr()
    assert "xx-test.toml" in captured.err and "obligations[1].clock" in captured.err and captured.out == ""
