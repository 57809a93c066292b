from pathlib import Path

import pytest

from runtime.datamap import DataMapError, load_customers, load_datamap
from runtime.settings import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples" / "datamap"


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
    assert "a.grants[0].subcontractor: unknown subprocessor 'nobody'" in str(info.value)
