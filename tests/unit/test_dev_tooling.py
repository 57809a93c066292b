"""The stand-ins, samples, demo and broker runner live in ``breachwire.dev``: no service may import them."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What `breachwire run SERVICE` imports (breachwire/services.py): the command line, then each service's modules.
ENTRY_POINTS = [
    "breachwire.cli",
    "breachwire.services",
    "producers.server",  # intake: the subprocessor webhooks, the Alertmanager adapter, the on-call API
    "producers.oncall.api",
    "producers.console",
    "consumers.assess.consumer",
    "consumers.notify.consumer",
    "consumers.record.consumer",
    "consumers.clock.consumer",
]

# Imports each entry point in turn and names the dev modules that appeared with it.
PROBE = """
import importlib, json, sys
found = {}
for name in sys.argv[1:]:
    before = set(sys.modules)
    importlib.import_module(name)
    new = sorted(m for m in set(sys.modules) - before if m == "breachwire.dev" or m.startswith("breachwire.dev."))
    if new:
        found[name] = new
print(json.dumps(found))
"""


def test_no_service_imports_the_dev_tooling() -> None:
    # a fresh interpreter: this test session has long since imported the stand-ins through conftest
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *ENTRY_POINTS], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {}


def test_the_probe_sees_a_dev_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "breachwire.dev.samples"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"breachwire.dev.samples": ["breachwire.dev", "breachwire.dev.samples"]}
