import shutil
from pathlib import Path

import pytest

from consumers.assess.coverage import coverage_check, place_laws
from consumers.assess.rules import RuleBook
from runtime import resources
from runtime.datamap import CustomerCheck, DataMapError, load_customers, load_datamap, load_subprocessor_map
from schemas import Report

EXAMPLES = resources.example_datamap()


def test_the_example_map_loads_with_every_kind_of_subprocessor() -> None:
    datamap = load_datamap(EXAMPLES)
    kinds = {s.kind.value for s in datamap.subprocessors.values()}
    assert kinds == {"infrastructure", "service", "subcontractor"}
    assert {"linode-eu", "linode-uk", "linode-us", "linode-sg", "aws", "websupport", "twilio"} <= set(
        datamap.subprocessors
    )
    assert {c.region for c in datamap.customers.values()} == {"eu", "uk", "us", "sg"}
    assert len(datamap.customers) >= 30


def test_a_bad_jsonl_line_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "customers.jsonl"
    path.write_text(
        '{"id": "a", "name": "A", "region": "eu", "country": "DE", "privacy_email": "p@a.example"}\n'
        '{"id": "b", "name": "B", "region": "eu", "country": "Germany", "privacy_email": "p@b.example"}\n'
        "not json\n"
    )
    with pytest.raises(DataMapError) as info:
        load_customers(path)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{path}:2: country: ")
    assert lines[1].startswith(f"{path}:3: not JSON")


def test_a_bad_csv_cell_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "id,name,region,country,timezone,privacy_email,features\n"
        "a,A,eu,DE,Europe/Berlin,p@a.example,helpdesk;chat\n"
        "b,B,eu,DE,Mars/Olympus,p@b.example,helpdesk\n"
    )
    with pytest.raises(DataMapError) as info:
        load_customers(path)
    assert str(info.value).startswith(f"{path}:3: timezone: ")
    assert "Mars/Olympus" in str(info.value)


def test_csv_lists_are_split(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "id,name,region,country,privacy_email,features,grants\n"
        "a,A,eu,DE,p@a.example,helpdesk;chat,support-24x7|2026-01-01T00:00:00Z|\n"
    )
    [customer] = load_customers(path)
    assert customer.features == ["helpdesk", "chat"]
    assert customer.grants[0].subcontractor == "support-24x7"
    assert customer.grants[0].valid_until is None


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "customers.jsonl"
    path.write_text(
        '{"id": "a", "name": "A", "region": "eu", "country": "DE", "privacy_email": "p@a.example"}\n'
        '{"id": "a", "name": "A2", "region": "eu", "country": "DE", "privacy_email": "p@a.example"}\n'
    )
    with pytest.raises(DataMapError) as info:
        load_customers(path)
    assert str(info.value) == f"{path}:2: id: duplicate id 'a' (first on line 1)"


def test_grants_to_unknown_subprocessors_are_refused(tmp_path: Path) -> None:
    (tmp_path / "subprocessors.toml").write_text((EXAMPLES / "subprocessors.toml").read_text())
    (tmp_path / "customers.jsonl").write_text(
        '{"id": "a", "name": "A", "region": "eu", "country": "DE", "privacy_email": "p@a.example",'
        ' "grants": [{"subcontractor": "nobody", "valid_from": "2026-01-01T00:00:00Z"}]}\n'
    )
    with pytest.raises(DataMapError) as info:
        load_datamap(tmp_path)
    assert (
        str(info.value) == f"{tmp_path / 'customers.jsonl'}:1: grants[0].subcontractor: unknown subprocessor 'nobody'"
    )


# ---------------------------------------------------------------------------------------------------------------
# Never silent: each customer agrees with the subprocessors and the rule book, every problem by file, line, field

BASE = '"name": "N", "privacy_email": "p@n.example"'


def a_map(tmp_path: Path, *lines: str) -> Path:
    (tmp_path / "subprocessors.toml").write_text((EXAMPLES / "subprocessors.toml").read_text())
    (tmp_path / "customers.jsonl").write_text(
        '{"id": "ok", "region": "eu", "country": "DE", ' + BASE + "}\n" + "".join(line + "\n" for line in lines)
    )
    return tmp_path


def problems(directory: Path, check: CustomerCheck | None = None) -> list[str]:
    with pytest.raises(DataMapError) as info:
        load_datamap(directory, check)
    return str(info.value).splitlines()


@pytest.mark.parametrize(
    ("line", "where", "message"),
    [
        pytest.param(
            '{"id": "x", "region": "eu", "country": "DE", "features": ["chat", "fax"], ' + BASE + "}",
            "features[1]",
            "no subprocessor provides feature 'fax' (provided: call-center, chat, helpdesk, knowledge-base)",
            id="a feature no subprocessor provides",
        ),
        pytest.param(
            '{"id": "x", "region": "mars", "country": "DE", ' + BASE + "}",
            "region",
            "no infrastructure subprocessor hosts region 'mars' (hosted: eu, sg, uk, us)",
            id="a region no infrastructure hosts",
        ),
        pytest.param(
            '{"id": "x", "region": "us", "country": "US", ' + BASE + "}",
            "state",
            "a US customer needs its state",
            id="a US customer without a state",
        ),
        pytest.param(
            '{"id": "x", "region": "eu", "country": "DE", ' + BASE + ', "grants": [{"subcontractor": "support-24x7", '
            '"valid_from": "2026-01-01T00:00:00Z"}, '
            '{"subcontractor": "twilio", "valid_from": "2026-01-01T00:00:00Z"}]}',
            "grants[1].subcontractor",
            "'twilio' is a service subprocessor: access is granted to subcontractors",
            id="a grant to a subprocessor that is not a subcontractor",
        ),
        pytest.param(
            '{"id": "x", "region": "eu", "country": "DE", ' + BASE + ', "grants": [{"subcontractor": "support-24x7", '
            '"valid_from": "2026-06-01T00:00:00Z", "valid_until": "2026-05-01T00:00:00Z"}]}',
            "grants[0].valid_until",
            "the grant ends (2026-05-01T00:00:00+00:00) before it starts (2026-06-01T00:00:00+00:00)",
            id="a grant that ends before it starts",
        ),
        pytest.param(
            '{"id": "x", "region": "eu", "country": "DE", "no_applicable_law": true, ' + BASE + "}",
            "no_applicable_law",
            "needs no_applicable_law_reason",
            id="no applicable law without a reason",
        ),
    ],
)
def test_a_customer_the_map_cannot_serve_is_named_by_file_line_and_field(
    tmp_path: Path, line: str, where: str, message: str
) -> None:
    directory = a_map(tmp_path, line)
    [problem] = problems(directory)
    assert problem.startswith(f"{directory / 'customers.jsonl'}:2: {where}: ")
    assert message in problem


@pytest.mark.parametrize(
    ("place", "where", "message"),
    [
        pytest.param('"region": "us", "country": "US", "state": "XY"', "state", "covers US-XY", id="a US state"),
        pytest.param('"region": "sg", "country": "AQ"', "country", "covers AQ", id="a country"),
        pytest.param(
            '"region": "eu", "country": "US", "state": "XY"', "state", "covers US-XY", id="hosted under the GDPR"
        ),
        pytest.param(
            '"region": "us", "country": "US", "state": "XY", "covered_entity": true',
            "state",
            "covers US-XY",
            id="HIPAA alone is not the state's law",
        ),
    ],
)
def test_a_customer_no_rules_file_covers_is_an_error(
    tmp_path: Path, rules: RuleBook, place: str, where: str, message: str
) -> None:
    directory = a_map(tmp_path, '{"id": "x", ' + place + ", " + BASE + "}")
    [problem] = problems(directory, coverage_check(rules, "rules/"))
    assert problem.startswith(f"{directory / 'customers.jsonl'}:2: {where}: no rules file in rules/ {message}")
    assert "no_applicable_law" in problem


def test_a_customer_the_map_says_no_law_reaches_passes_and_says_why(tmp_path: Path, rules: RuleBook) -> None:
    reason = "Research station; no breach-notification law applies (counsel, 2026-11-02)"
    line = '{"id": "x", "region": "sg", "country": "AQ", "no_applicable_law": true, '
    directory = a_map(tmp_path, line + f'"no_applicable_law_reason": "{reason}", ' + BASE + "}")
    datamap = load_datamap(directory, coverage_check(rules))
    assert datamap.customers["x"].no_applicable_law_reason == reason


def test_saying_no_law_applies_where_a_rules_file_covers_is_an_error(tmp_path: Path, rules: RuleBook) -> None:
    line = '{"id": "x", "region": "eu", "country": "DE", "no_applicable_law": true, "no_applicable_law_reason": "r", '
    directory = a_map(tmp_path, line + BASE + "}")
    [problem] = problems(directory, coverage_check(rules))
    assert (
        problem == f"{directory / 'customers.jsonl'}:2: no_applicable_law: eu-gdpr covers DE: remove no_applicable_law"
    )


def test_csv_says_no_law_applies_with_yes(tmp_path: Path, rules: RuleBook) -> None:
    (tmp_path / "subprocessors.toml").write_text((EXAMPLES / "subprocessors.toml").read_text())
    (tmp_path / "customers.csv").write_text(
        "id,name,region,country,privacy_email,no_applicable_law,no_applicable_law_reason\n"
        "x,X,sg,AQ,p@x.example,yes,No breach law reaches this research station\n"
    )
    assert load_datamap(tmp_path, coverage_check(rules)).customers["x"].no_applicable_law


def test_every_example_customer_has_a_jurisdiction_of_its_own(rules: RuleBook) -> None:
    """Fails when a customer of the example map would get no jurisdiction (a rules file missing or renamed)."""
    datamap = load_datamap(EXAMPLES)
    without = [
        f"{c.id} ({c.country}{'-' + c.state if c.state else ''})"
        for c in datamap.customers.values()
        if not c.no_applicable_law and not place_laws(rules, c.country, c.state)
    ]
    assert without == []
    for c in datamap.customers.values():
        assert rules.for_customer(c.region, c.country, c.state, c.covered_entity), c.id


def test_the_vocabulary_is_what_the_map_names() -> None:
    vocabulary = load_datamap(EXAMPLES).vocabulary
    assert vocabulary.regions == {"eu", "uk", "us", "sg"}
    assert vocabulary.features == {"helpdesk", "chat", "knowledge-base", "call-center"}
    assert "call_recordings" in vocabulary.data_categories and "quality-unit-ukraine" in vocabulary.subprocessors
    report = Report.model_validate(
        {
            "reference": "R",
            "status": "suspected",
            "title": "t",
            "aware_at": "2026-01-01T00:00:00Z",
            "regions": ["eu", "eux"],
            "features": ["chat"],
            "data_categories": ["tickets", "passwords"],
        }
    )
    assert [str(u) for u in vocabulary.unknown_in(report, "report")] == [
        "report.regions[1]: unknown region 'eux'; the data map knows eu, sg, uk, us",
        "report.data_categories[1]: unknown data category 'passwords'; the data map knows "
        + ", ".join(sorted(vocabulary.data_categories)),
    ]


def test_the_subprocessors_alone_know_the_names_the_whole_map_knows() -> None:
    # the intake loads no customer: a report it refuses or lets in is the same as on the whole map
    alone, whole = load_subprocessor_map(EXAMPLES), load_datamap(EXAMPLES)
    assert alone.vocabulary == whole.vocabulary
    assert alone.subprocessors == whole.subprocessors and not alone.customers


def test_the_subprocessors_alone_load_while_a_customers_file_is_broken(tmp_path: Path) -> None:
    directory = tmp_path / "datamap"
    shutil.copytree(EXAMPLES, directory)
    (directory / "customers-broken.jsonl").write_text('{"id": "half\n')
    with pytest.raises(DataMapError, match=r"customers-broken\.jsonl:1"):
        load_datamap(directory)
    assert "linode-eu" in load_subprocessor_map(directory).subprocessors  # reports still get in, and wait in Kafka
    with pytest.raises(DataMapError, match="no such data map folder"):
        load_subprocessor_map(tmp_path / "nowhere")
