"""``breachwire datamap import|check`` and ``breachwire assess --dry-run``, as a user runs them."""

import json
import shutil
from pathlib import Path

import pytest

from breachwire.cli import main
from runtime import resources

EXAMPLES = resources.example_datamap()


@pytest.fixture
def map_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "datamap"
    shutil.copytree(EXAMPLES, directory)
    return directory


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_check_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datamap", "check", str(EXAMPLES)]) == 0
    out = capsys.readouterr().out
    assert ": ok: 10 subprocessors, 35 customers" in out


def test_check_names_file_line_and_field(map_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (map_dir / "customers-bad.csv").write_text("id,name,region,country,privacy_email\nx,X,eu,Germany,p@x.example\n")
    assert main(["datamap", "check", str(map_dir)]) == 1
    assert f"{map_dir / 'customers-bad.csv'}:2: country: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("csv", "where"),
    [
        pytest.param(
            "id,name,region,country,privacy_email,sms\nn1,N1,eu,DE,p@n1.example,\nn2,N2,eu,DE,p@n2.example,555\n",
            ":3: sms: ",
            id="bad cell",
        ),
        pytest.param(
            "id,name,region,country,privacy_email\nacme-eu,Acme again,eu,DE,p@a.example\n",
            "duplicate id 'acme-eu' (also in",
            id="id already in the map",
        ),
        pytest.param(
            "id,name,region,country,privacy_email,grants\nn1,N1,eu,DE,p@n1.example,nobody|2026-01-01T00:00:00Z|\n",
            "new.csv:2: grants[0].subcontractor: unknown subprocessor 'nobody'",
            id="grant to an unknown subprocessor",
        ),
        pytest.param(
            "id,name,region,country,privacy_email,authority_filing\nn1,N1,eu,DE,p@n1.example,maybe\n",
            ":2: authority_filing: ",
            id="bad yes/no",
        ),
    ],
)
def test_an_import_with_errors_changes_nothing(
    map_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], csv: str, where: str
) -> None:
    source = tmp_path / "new.csv"
    source.write_text(csv)
    before = snapshot(map_dir)
    assert main(["datamap", "import", str(source), "--datamap", str(map_dir)]) == 1
    err = capsys.readouterr().err
    assert "nothing changed" in err and where in err
    assert "tmp" not in err.replace(str(tmp_path), "")  # names the user's files, not scratch copies
    assert snapshot(map_dir) == before


def test_an_import_adds_customers(map_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "new.csv"
    source.write_text(
        "id,name,region,country,privacy_email,features,sms,authority_filing\n"
        "n1,N1,eu,DE,p@n1.example,call-center;chat,+15550009999,yes\n"
    )
    assert main(["datamap", "import", str(source), "--datamap", str(map_dir)]) == 0
    assert (map_dir / "customers-new.csv").read_text() == source.read_text()
    out = capsys.readouterr().out
    assert "imported 1 customers" in out
    assert "running assess, notify and record services load the map again within 30 s; restart the console" in out
    assert main(["datamap", "check", str(map_dir)]) == 0
    assert "36 customers" in capsys.readouterr().out


def test_an_import_named_as_a_file_of_the_map_replaces_nothing_unless_told(
    map_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an export of the same customers, one of them gone: as "customers.jsonl" it lands on the map's own file
    kept = (map_dir / "customers.jsonl").read_text(encoding="utf-8").splitlines()[1:]
    source = tmp_path / "customers.jsonl"
    source.write_text("\n".join(kept) + "\n", encoding="utf-8")
    before = snapshot(map_dir)

    assert main(["datamap", "import", str(source), "--datamap", str(map_dir)]) == 1
    err = capsys.readouterr().err
    assert "nothing changed" in err and f"already has {map_dir / 'customers.jsonl'}" in err and "--replace" in err
    assert snapshot(map_dir) == before

    assert main(["datamap", "import", str(source), "--datamap", str(map_dir), "--replace"]) == 0
    out = capsys.readouterr().out
    assert "imported 34 customers" in out and "(34 in the map)" in out
    assert "replaced the earlier customers.jsonl: 1 of its 35 customers left the map: acme-eu" in out
    assert (map_dir / "customers.jsonl").read_text(encoding="utf-8") == source.read_text(encoding="utf-8")


def test_assess_dry_run_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps(
            {
                "reference": "TW-1",
                "status": "confirmed",
                "title": "Twilio: call recordings exposed",
                "aware_at": "2026-03-27T22:00:00Z",
            }
        )
    )
    args = ["assess", "--dry-run", str(report), "--subprocessor", "twilio", "--datamap", str(EXAMPLES)]
    assert main([*args, "--at", "2026-03-28T00:00:00Z"]) == 0
    result = json.loads(capsys.readouterr().out)
    acme = next(c for c in result["customers"] if c["id"] == "acme-eu")
    assert {c["id"] for c in result["customers"]} >= {"acme-eu", "kosice-energy", "cebu-bpo"}
    assert "bratislava-books" not in {c["id"] for c in result["customers"]}  # no call center
    assert acme["jurisdictions"] == ["eu-gdpr"] and acme["audiences"] == ["controller", "customer"]
    authority = next(d for d in acme["deadlines"] if d["audience"] == "authority")
    # 72 hours across the change to summer time: UTC unchanged, Berlin shows +02:00
    assert authority["due_at"] == "2026-03-30T22:00:00+00:00"
    assert authority["due_local"] == "2026-03-31T00:00:00+02:00"
    assert authority["hours_left"] == 70.0


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("{not json", [], "not JSON"),
        ('{"reference": "x", "status": "confirmed", "title": "t"}', [], "needs --subprocessor"),
        (
            '{"reference": "x", "status": "maybe", "title": "t", "aware_at": "2026-01-01T00:00:00Z"}',
            ["--subprocessor", "twilio"],
            ": status: ",
        ),
    ],
)
def test_assess_dry_run_refuses_a_bad_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, extra: list[str], message: str
) -> None:
    report = tmp_path / "report.json"
    report.write_text(content)
    assert main(["assess", "--dry-run", str(report), *extra]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and str(report) in captured.err and captured.out == ""


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare report, --subprocessor", "incidents.reported"])
def test_assess_dry_run_refuses_an_unknown_subprocessor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wrapped: bool
) -> None:
    bare = {"reference": "x", "status": "confirmed", "title": "t", "aware_at": "2026-01-01T00:00:00Z"}
    message = {
        "incident_id": "inc_x",
        "subprocessor_id": "twillio",
        "source": "oncall",
        "delivery_id": "d",
        "received_at": "2026-01-01T00:00:00Z",
        "report": bare,
    }
    report = tmp_path / "report.json"
    report.write_text(json.dumps(message if wrapped else bare))
    extra = [] if wrapped else ["--subprocessor", "twillio"]
    assert main(["assess", "--dry-run", str(report), "--datamap", str(EXAMPLES), *extra]) == 2
    captured = capsys.readouterr()
    assert "unknown subprocessor 'twillio'" in captured.err and "twilio" in captured.err
    assert (f"{report}: subprocessor_id" if wrapped else "--subprocessor:") in captured.err
    assert captured.out == ""


def test_check_names_a_customer_whose_state_has_no_rules_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(resources.rules_dir(), rules)
    (rules / "us-ca.toml").unlink()
    assert main(["datamap", "check", str(EXAMPLES), "--rules", str(rules)]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "US-CA" in line]
    # sf-software and la-clinic, by line; HIPAA (la-clinic is a covered entity) is not California's law
    assert [line.split(": ")[0].rsplit(":", 1)[1] for line in lines] == ["19", "20"]
    assert all(f"{EXAMPLES / 'customers.jsonl'}:" in line and ": state: no rules file in " in line for line in lines)


def test_assess_dry_run_refuses_a_name_the_map_does_not_know(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    bare = {"reference": "x", "status": "confirmed", "title": "t", "aware_at": "2026-01-01T00:00:00Z"}
    report.write_text(json.dumps({**bare, "regions": ["eu", "europe"]}))
    args = ["assess", "--dry-run", str(report), "--subprocessor", "aws", "--datamap", str(EXAMPLES)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert f"{report}: regions[1]: unknown region 'europe'; the data map knows eu, sg, uk, us" in captured.err
    assert captured.out == ""


def test_a_command_on_a_map_that_does_not_load_names_the_problem_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BREACHWIRE_DATAMAP_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("BREACHWIRE_SIGNING__NOTICE_KEY", "ab" * 32)
    assert main(["up"]) == 1  # it loads the map before it starts anything
    assert (
        capsys.readouterr().err
        == f"{tmp_path / 'nowhere'}: no such data map folder\nbreachwire up: the data map does not load\n"
    )
