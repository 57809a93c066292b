"""``breachwire run SERVICE`` as a container runs it, on a data map that does not load: the services that read
customers say which file and line and exit; the intake, which reads none, starts and takes reports."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support import LINODE_EU_SECRET, a_report

from breachwire.dev.broker import free_port_run
from breachwire.stack import Stack, wait_for_http
from consumers.notify.webhook import sign_headers
from runtime import resources
from runtime.settings import Settings, settings_env

pytestmark = pytest.mark.integration


@pytest.fixture
def broken_map(tmp_path: Path) -> Path:
    directory = tmp_path / "datamap"
    shutil.copytree(resources.example_datamap(), directory)
    (directory / "customers-broken.jsonl").write_text('{"id": "half\n')
    return directory


def test_a_service_whose_data_map_does_not_load_names_the_line_and_exits(settings: Settings, broken_map: Path) -> None:
    env = {**os.environ, **settings_env(settings), "BREACHWIRE_DATAMAP_DIR": str(broken_map)}
    done = subprocess.run(
        [sys.executable, "-m", "breachwire", "run", "assess"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert f"{broken_map / 'customers-broken.jsonl'}:1:" in done.stderr
    assert "breachwire run: the data map does not load" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_intake_starts_on_a_map_whose_customers_do_not_load(settings: Settings, broken_map: Path) -> None:
    port = free_port_run(1)
    env = {**settings_env(settings), "BREACHWIRE_DATAMAP_DIR": str(broken_map), "BREACHWIRE_INTAKE__PORT": str(port)}
    stack = Stack(env, services=["intake"], log_dir=settings.state_dir / "logs")
    stack.start()
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", 60, stack)
        body = a_report().model_dump_json().encode()
        headers = {"content-type": "application/json", **sign_headers(LINODE_EU_SECRET, "msg_broken_map", body)}
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/subprocessors/linode-eu/reports", content=body, headers=headers
        )
        assert answer.status_code == 202, answer.text
    finally:
        stack.stop()
