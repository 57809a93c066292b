"""deploy/prometheus: promtool accepts the configuration and its rules, each alert fires on the series it is
for and stays quiet on its neighbours' (alerts.test.yml), and every metric the alerts read is one breachwire
exports; the metrics themselves pass promtool's lint."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.core import Metric

from runtime.consumer import LoopStats
from runtime.metrics import LedgerCollector, ServiceMetrics
from runtime.store import Ledger

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
RULES = yaml.safe_load((DEPLOY / "alerts.yml").read_text(encoding="utf-8"))

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="no promtool on PATH (it comes with Debian's prometheus package; CI installs it)",
)


def promtool(*args: str, given: str | None = None) -> subprocess.CompletedProcess[str]:
    """promtool run in deploy/prometheus (``given``: its standard input)."""
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=DEPLOY, input=given, capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
def test_promtool_accepts_the_configuration_and_its_rules() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 13 rules found" in checked.stdout


@needs_promtool
def test_each_alert_fires_on_its_series_and_only_there() -> None:
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested() -> None:
    alerts = {rule["alert"] for group in RULES["groups"] for rule in group["rules"]}
    cases = yaml.safe_load((DEPLOY / "alerts.test.yml").read_text(encoding="utf-8"))
    fired = {test["alertname"] for case in cases["tests"] for test in case["alert_rule_test"] if test.get("exp_alerts")}
    assert len(alerts) == 13
    assert fired == alerts


def every_metric(ledger: Ledger) -> ServiceMetrics:
    """A registry with every metric a breachwire service exports, its collectors included."""
    metrics = ServiceMetrics()
    _ = metrics.intake, metrics.notify
    metrics.watch_loops([_Loop()])
    metrics.watch_ledger_state(LedgerCollector(ledger.engine, (0.5, 0.8), every_s=0))
    metrics.watch_ledger(ledger.engine)
    return metrics


def exported_series(ledger: Ledger) -> set[str]:
    """The series names the services can export."""
    families: list[Metric] = list(every_metric(ledger).registry.collect())
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names = {f.name + suffix for f in families for suffix in suffixes.get(f.type, ("",))}
    return names | {s.name for f in families for s in f.samples}


class _Loop:
    name = "notify"
    stats = LoopStats(running=True, lag={("notices.requested", 0): 1})


@needs_promtool
def test_the_metrics_pass_promtools_lint(ledger: Ledger) -> None:
    """Names, types and help as Prometheus's conventions want them (``promtool check metrics``)."""
    exposition = every_metric(ledger).exposition().decode()
    assert "breachwire_consumer_lag{" in exposition and "# TYPE breachwire_clocks_past gauge" in exposition
    linted = promtool("check", "metrics", given=exposition)
    assert linted.returncode == 0 and not linted.stdout.strip(), linted.stdout + linted.stderr


def test_every_metric_the_alerts_read_is_one_breachwire_exports(ledger: Ledger) -> None:
    expressions = " ".join(rule["expr"] for group in RULES["groups"] for rule in group["rules"])
    read = set(re.findall(r"\bbreachwire_[a-z_]+", expressions))
    assert len(read) >= 9
    exported = exported_series(ledger)
    assert read <= exported, read - exported
