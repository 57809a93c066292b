"""A running service's data map, loaded again when its folder changes: a customer imported while assess runs is
reached by the next report, and a map that does not load leaves the one before in place."""

import json
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support import project_rules, wait_until
from test_assess import Recorder, an_assess, reported

from runtime import resources
from runtime.consumer import Received
from runtime.datamap import LiveDataMap, load_datamap

NEW = {
    "id": "new-eu",
    "name": "New EU GmbH",
    "region": "eu",
    "country": "DE",
    "timezone": "Europe/Berlin",
    "locale": "en",
    "privacy_email": "privacy@new-eu.example",
}


@pytest.fixture
def map_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "datamap"
    shutil.copytree(resources.example_datamap(), directory)
    return directory


def live(directory: Path, every_s: float = 0) -> LiveDataMap:
    return LiveDataMap(directory, load_datamap, every_s, load_datamap(directory))


def test_an_unchanged_folder_keeps_the_same_map(map_dir: Path) -> None:
    maps = live(map_dir)
    first = maps.current()
    assert maps.check() is False and maps.current() is first


def test_a_customers_file_added_is_in_the_next_map(map_dir: Path) -> None:
    maps = live(map_dir)
    (map_dir / "customers-new.jsonl").write_text(json.dumps(NEW) + "\n")
    with capture_logs():
        assert maps.check() is True
    assert "new-eu" in maps.current().customers
    assert maps.check() is False  # taken once


def test_a_map_that_does_not_load_leaves_the_one_before(map_dir: Path) -> None:
    maps = live(map_dir)
    before = maps.current()
    broken = map_dir / "customers-new.jsonl"
    broken.write_text('{"id": "new-eu", "name": "half')  # a file still being copied
    with capture_logs() as logs:
        assert maps.check() is False and maps.current() is before
        assert maps.check() is False  # not read again until it changes again
        broken.write_text(json.dumps(NEW) + "\n")
        assert maps.check() is True and "new-eu" in maps.current().customers
    [failed] = [entry for entry in logs if entry["log_level"] == "error"]  # (info may be below the level set)
    assert failed["event"] == "data map changed but does not load: the one before is kept"
    assert "customers-new.jsonl:1: not JSON" in failed["problems"][0]


def test_its_thread_takes_a_change_within_its_period(map_dir: Path) -> None:
    with capture_logs():
        maps = live(map_dir, every_s=0.05).start()
        try:
            (map_dir / "customers-new.jsonl").write_text(json.dumps(NEW) + "\n")
            wait_until(lambda: "new-eu" in maps.current().customers, 10, "the new map", step_s=0.02)
        finally:
            maps.close()


def test_a_customer_imported_while_assess_runs_is_reached_by_the_next_report(map_dir: Path) -> None:
    maps = live(map_dir)
    recorder = Recorder()
    assess = an_assess(maps, project_rules(), recorder)

    def batch(reference: str) -> list[str]:
        report = reported("linode-eu", reference=reference, regions=["eu"])
        recorder.messages.clear()
        assess([Received(report, "incidents.reported", 0, 0)])
        return [a.customer_id for a in recorder.assessed]

    assert "new-eu" not in batch("REF-BEFORE")
    (map_dir / "customers-new.jsonl").write_text(json.dumps(NEW) + "\n")
    with capture_logs():
        maps.check()
    assert "new-eu" in batch("REF-AFTER")
