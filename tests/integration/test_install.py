"""breachwire built as a wheel and installed (not editable), then run away from the source tree: it finds its
templates, rules and example data map as package data, and its commands print what the checkout's print.

The wheel is built from a copy of the sources with this venv's setuptools (offline), and installed without its
dependencies into a scratch venv that reads them from this venv's site-packages.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["schemas", "runtime", "producers", "consumers", "breachwire"]
SOURCES = [*PACKAGES, "templates", "rules", "examples", "pyproject.toml", "README.md"]

# Same output installed as in the checkout: the samples' times are fixed.
COMMANDS = [
    ["rules", "table"],
    ["notices", "preview", "--audience", "controller", "--channel", "email"],
    ["notices", "preview", "--audience", "authority", "--channel", "webhook", "--locale", "sk"],
]


@dataclass(frozen=True)
class Installed:
    python: Path
    command: Path
    site_packages: Path
    elsewhere: Path  # the working directory: neither the checkout nor inside it

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.command), *args],
            cwd=self.elsewhere,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def python_c(self, code: str) -> str:
        done = subprocess.run(
            [str(self.python), "-c", code],
            cwd=self.elsewhere,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def _clean_env() -> dict[str, str]:
    """No path into the checkout, and no settings: the defaults are what is under test."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("BREACHWIRE_")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("install")
    source, dist, target, elsewhere = base / "source", base / "dist", base / "venv", base / "elsewhere"
    source.mkdir()
    elsewhere.mkdir()
    for name in SOURCES:  # a copy: building in place would leave build/ and *.egg-info in the checkout
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
        cwd=base,
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = dist.glob("breachwire-*.whl")

    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        cwd=base,
        check=True,
        capture_output=True,
        timeout=300,
    )
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The dependencies from this venv: a plain path line, so its own .pth files (an editable install of some
    # checkout among them) are not run.
    (site_packages / "_breachwire_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return Installed(python, target / "bin" / "breachwire", site_packages, elsewhere)


def test_every_module_of_the_source_tree_is_installed(installed: Installed) -> None:
    sources = {
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    missing = sorted(name for name in sources if not (installed.site_packages / name).is_file())
    assert not missing, "not in the wheel (pyproject.toml [tool.setuptools] packages): " + ", ".join(missing)


def test_the_installed_package_is_the_one_imported_and_finds_its_folders(installed: Installed) -> None:
    shown = json.loads(
        installed.python_c(
            "import json, runtime\n"
            "from runtime import resources\n"
            "from runtime.settings import load_settings\n"
            "s = load_settings()\n"
            "print(json.dumps({'runtime': runtime.__file__, 'checkout': str(resources.checkout()),\n"
            "    'folders': [str(p) for p in (s.templates_dir, s.rules_dir, s.release_policy, s.datamap_dir)],\n"
            "    'state_dir': str(s.state_dir)}))"
        )
    )
    bundled = installed.site_packages / "runtime" / "bundled"
    assert Path(shown["runtime"]).parent == installed.site_packages / "runtime"
    assert shown["checkout"] == "None"
    assert [Path(p) for p in shown["folders"]] == [
        bundled / "templates",
        bundled / "rules",
        bundled / "rules" / "release.toml",
        bundled / "examples" / "datamap",
    ]
    assert all(Path(p).exists() for p in shown["folders"])
    assert Path(shown["state_dir"]) == installed.elsewhere / ".breachwire"  # not inside site-packages


def test_every_service_entry_point_imports(installed: Installed) -> None:
    installed.python_c(
        "import breachwire.cli, breachwire.services, producers.server, producers.console, "
        "consumers.assess.consumer, consumers.notify.consumer, consumers.record.consumer, consumers.clock.consumer"
    )


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_command_prints_what_it_prints_in_the_checkout(installed: Installed, args: list[str]) -> None:
    done = installed.run(*args)
    assert done.returncode == 0, done.stderr
    here = subprocess.run(
        [sys.executable, "-m", "breachwire", *args], cwd=REPO, env=_clean_env(), capture_output=True, text=True
    )
    assert here.returncode == 0, here.stderr
    assert done.stdout == here.stdout


def test_the_example_data_map_checks(installed: Installed) -> None:
    example = installed.site_packages / "runtime" / "bundled" / "examples" / "datamap"
    for args in (["datamap", "check"], ["datamap", "check", str(example)]):
        done = installed.run(*args)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{example}: ok: 10 subprocessors, 35 customers")


def test_an_import_into_the_installed_example_map_is_refused(installed: Installed) -> None:
    example = installed.site_packages / "runtime" / "bundled" / "examples" / "datamap"
    before = sorted(p.name for p in example.iterdir())
    customers = installed.elsewhere / "customers-more.jsonl"
    customers.write_text((REPO / "examples" / "datamap" / "customers.jsonl").read_text(encoding="utf-8"))
    done = installed.run("datamap", "import", str(customers))
    assert done.returncode == 2
    assert f"{example} is the example data map installed with breachwire" in done.stderr
    assert sorted(p.name for p in example.iterdir()) == before
