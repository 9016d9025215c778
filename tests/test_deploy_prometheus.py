"""deploy/prometheus/ and deploy/grafana/: checked by promtool, and against the real exporters.

Every metric an alert or a dashboard panel reads must really be exported: the test runs
`connector serve` (with PROMETHEUS_MULTIPROC_DIR, as the systemd unit does) and `connector
worker` with its metrics port, sends real traffic through them (signed webhooks, deliveries
that succeed, are retried and are refused), scrapes both, and recognises metric families
that have no samples yet by their ``# HELP``/``# TYPE`` lines. The rules are unit-tested with
``promtool test rules``; every alert must have a case there that fires, and a runbook section.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from connector.sandbox.http_target import HttpTargetStandIn
from tests.external_tools import require_tool
from tests.processes import ROOT, connector_env, free_port, start_connector, stop, wait_for, wait_http
from tests.promql_names import MetricUse, metric_uses
from tests.support import DOCS_ORDER, SECRET, SHOP, fixture_bytes, live_order, webhook_headers

PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "connector.json"
RUNBOOK = ROOT / "docs" / "operations.md"
JOBS = ("connector-web", "connector-worker")
# What Grafana substitutes in queries, with values that keep them valid PromQL for promtool.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool", "prometheus", "the alert rules are checked with promtool")


def promtool_run(promtool: str, *args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) for every query of every panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


@pytest.mark.slow
def test_alert_rules_and_example_config_pass_promtool(promtool):
    rules = promtool_run(promtool, "check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in rules.stdout
    config = promtool_run(promtool, "check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    jobs = [job["job_name"] for job in yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]]
    assert sorted(jobs) == sorted(JOBS)


@pytest.mark.slow
def test_alert_rules_unit_tests_pass_and_cover_every_alert(promtool):
    result = promtool_run(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    cases = [case for test in yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
             for case in test["alert_rule_test"]]
    for rule in alert_rules():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']}: no test case where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']}: no test case where it stays quiet"


@pytest.mark.slow
def test_a_broken_expectation_fails_promtool(promtool, tmp_path):
    """The unit tests can fail: the same file with one expected value changed does."""
    (tmp_path / "alerts.yml").write_text((PROMETHEUS / "alerts.yml").read_text())
    broken = (PROMETHEUS / "alerts_test.yml").read_text().replace("33.33% of delivery", "3.33% of delivery")
    (tmp_path / "alerts_test.yml").write_text(broken)
    assert promtool_run(promtool, "test", "rules", "alerts_test.yml", cwd=tmp_path).returncode != 0


def test_every_alert_links_to_its_runbook_section():
    headings = {_anchor(line.lstrip("#")) for line in RUNBOOK.read_text().splitlines() if line.startswith("#")}
    for rule in alert_rules():
        link = rule["annotations"]["runbook"]
        assert link == f"docs/operations.md#{rule['alert'].lower()}", link
        assert rule["alert"].lower() in headings, f"docs/operations.md has no section {rule['alert']}"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.slow
def test_dashboard_is_an_importable_grafana_dashboard(promtool, tmp_path):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 36
    assert [v["name"] for v in dashboard["templating"]["list"] if v["type"] == "datasource"] == ["datasource"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    # Every query is valid PromQL: promtool parses them as recording rules.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": grafana_to_promql(expr)} for n, (_, expr) in enumerate(dashboard_queries())
    ]}]}
    (tmp_path / "dashboard_rules.yml").write_text(yaml.safe_dump(rules))
    result = promtool_run(promtool, "check", "rules", "dashboard_rules.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metric_names_are_read_from_expressions():
    """The extraction the next test relies on: it finds misspelt names and scoped jobs."""
    uses = metric_uses('sum by (outcome) (rate(conector_webhooks_total{job="connector-web", outcome="stored"}[5m])) / up')
    assert [(u.name, u.job, u.labels) for u in uses] == [
        ("conector_webhooks_total", "connector-web", {"outcome"}), ("up", None, {"outcome"})]
    assert [u.name for u in metric_uses("max(connector_dead_letters) > max(connector_dead_letters offset 30m)")] == [
        "connector_dead_letters", "connector_dead_letters"]


# --- against the real exporters ----------------------------------------------------------------

def parse_exposition(text: str) -> dict[str, set[str]]:
    """Metric name → label names seen in its samples; families without samples map to set()."""
    families: dict[str, set[str]] = {}
    kinds: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            parts = line.split()
            families.setdefault(parts[2], set())
            if parts[1] == "TYPE":
                kinds[parts[2]] = parts[3]
        elif line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            name = name.split()[0]
            labels = set(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', rest)) if rest else set()
            families.setdefault(name, set()).update(labels)
    for name, kind in kinds.items():  # a histogram's series names, even before its first sample
        if kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                families.setdefault(name + suffix, set()).update({"le"} if suffix == "_bucket" else set())
    return families


@pytest.fixture(scope="module")
def scrapes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, set[str]]]]:
    """Both processes' /metrics after real traffic: job name → parsed exposition."""
    directory = tmp_path_factory.mktemp("metrics")
    (directory / "multiproc").mkdir()
    (directory / "config.toml").write_text(f'[shops."{SHOP}"]\n')
    web_port, worker_port = free_port(), free_port()
    with HttpTargetStandIn() as target:
        env = connector_env(shopify_api_secret=SECRET, database_path=directory / "c.db", target_kind="http", target_all_shops=1,
                            target_base_url=target.url, worker_metrics_port=worker_port, worker_poll_interval_s=0.1,
                            retry_first_delay_s=0.01, retry_in_process_attempts=2)
        # As the systemd units do: gunicorn's workers share a multiprocess directory, a worker does not.
        web_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(directory / "multiproc")}
        web = start_connector(["serve", "--bind", f"127.0.0.1:{web_port}"], web_env, directory, directory / "web.log")
        worker = None
        try:
            wait_http(f"http://127.0.0.1:{web_port}/healthz")
            url = f"http://127.0.0.1:{web_port}/webhooks/shopify"
            target.fail_next(1, status=503)  # one retried attempt
            target.fail_next(1, status=400)  # …then one refused for good: a dead letter
            for order_id in (820982911946154508, 820982911946154509, 820982911946154510):
                body = live_order(DOCS_ORDER, id=order_id)
                assert requests.post(url, data=body, headers=webhook_headers(body)).status_code == 200
            forged = fixture_bytes(DOCS_ORDER)
            assert requests.post(url, data=forged, headers=webhook_headers(forged, secret="wrong")).status_code == 401
            worker = start_connector(["worker"], env, directory, directory / "worker.log")
            wait_http(f"http://127.0.0.1:{worker_port}/metrics")
            assert wait_for(lambda: len(target.requests) >= 4, timeout=30), (directory / "worker.log").read_text()
            yield {
                "connector-web": parse_exposition(requests.get(f"http://127.0.0.1:{web_port}/metrics").text),
                "connector-worker": parse_exposition(requests.get(f"http://127.0.0.1:{worker_port}/metrics").text),
            }
        finally:
            if worker is not None:
                stop(worker)
            stop(web)


def _check(use: MetricUse, scrapes: dict[str, dict[str, set[str]]], where: str) -> list[str]:
    if use.name == "up":  # Prometheus' own, per scrape job
        return [] if use.job in (None, *JOBS) else [f"{where}: up for unknown job {use.job!r}"]
    jobs = [use.job] if use.job else list(JOBS)
    exporting = [job for job in jobs if use.name in scrapes.get(job, {})]
    if not exporting:
        return [f"{where}: {use.name} is not exported by {' or '.join(jobs)}"]
    problems = []
    for job in exporting:
        seen = scrapes[job][use.name]
        if seen and not use.labels <= seen:
            problems.append(f"{where}: {use.name} from {job} has no label(s) {sorted(use.labels - seen)}")
    return problems


@pytest.mark.slow
def test_traffic_produced_samples(scrapes):
    """The scrape is of a connector that did something, not of empty families only."""
    assert {"outcome", "reason"} <= scrapes["connector-web"]["connector_webhooks_total"]
    assert "outcome" in scrapes["connector-worker"]["connector_delivery_attempts_total"]
    assert "le" in scrapes["connector-worker"]["connector_delivery_seconds_bucket"]
    assert "process_resident_memory_bytes" in scrapes["connector-worker"]


@pytest.mark.slow
def test_every_metric_an_alert_or_panel_reads_is_exported(scrapes):
    problems = []
    for rule in alert_rules():
        for use in metric_uses(rule["expr"]):
            problems += _check(use, scrapes, f"alert {rule['alert']}")
    for title, expr in dashboard_queries():
        for use in metric_uses(grafana_to_promql(expr)):
            problems += _check(use, scrapes, f"panel {title!r}")
    assert problems == []
    # ...and the check sees a wrong name or label:
    assert _check(MetricUse("connector_webhook_total"), scrapes, "x")
    assert _check(MetricUse("connector_webhooks_total", "connector-web", {"shop"}), scrapes, "x")
