"""deploy/ and docker-compose.yml: every service has a health check and waits for what it
needs, Prometheus scrapes both entry points, and the Grafana dashboard asks only for
series that taskmanager/metrics.py exports, with a panel for each one the issue names."""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import yaml
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    generate_latest,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from monitoring import state
from taskmanager import metrics
from taskmanager.settings import BASE_DIR

COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROMETHEUS = yaml.safe_load((BASE_DIR / "deploy" / "prometheus.yml").read_text())
DASHBOARD = json.loads((BASE_DIR / "deploy" / "grafana" / "taskmanager.json").read_text())
GRAFANA_PROVISIONING = BASE_DIR / "deploy" / "grafana" / "provisioning"

# Started once and exits: waited for with service_completed_successfully instead.
ONE_SHOT = {"migrate"}

# Labels Prometheus adds to every series (job, instance) or this deploy's scrape config
# does (service); the metrics' own come from their exposition.
SCRAPE_LABELS = {"job", "instance", "service"}

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
PROMQL_WORDS |= {"and", "or", "unless", "offset", "inf", "nan"}


# --- docker-compose.yml ------------------------------------------------------------


def depends_on(service: str) -> dict[str, str]:
    return {
        name: spec["condition"] for name, spec in SERVICES[service].get("depends_on", {}).items()
    }


def test_every_long_running_service_has_a_health_check():
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} has its healthcheck disabled"
        assert check.get("test"), f"{name} has a healthcheck without a test"


def test_the_one_shot_migration_runs_once_after_a_healthy_database():
    migrate = SERVICES["migrate"]

    assert migrate["restart"] == "no"
    assert migrate["command"][-3:] == ["manage.py", "migrate", "--noinput"]
    assert depends_on("migrate")["db"] == "service_healthy"


@pytest.mark.parametrize("service", ["web", "ws", "scheduler"])
def test_app_services_wait_for_a_healthy_database_and_a_finished_migration(service):
    conditions = depends_on(service)

    assert conditions["db"] == "service_healthy"
    assert conditions["migrate"] == "service_completed_successfully"


@pytest.mark.parametrize("service", ["web", "ws"])
def test_web_and_ws_also_wait_for_a_healthy_redis(service):
    assert depends_on(service)["redis"] == "service_healthy"


def test_services_wait_for_the_one_shot_only_to_complete():
    # service_healthy on a service without a health check would never be met.
    for name in SERVICES:
        for other, condition in depends_on(name).items():
            if other in ONE_SHOT:
                assert condition == "service_completed_successfully", (name, other)
            else:
                assert condition == "service_healthy", (name, other)


def test_nginx_waits_for_healthy_web_and_ws():
    assert depends_on("nginx") == {"web": "service_healthy", "ws": "service_healthy"}


def _bound_port(command: list[str]) -> str:
    joined = " ".join(command)
    # gunicorn's --bind, daphne's -p, the worker's metrics port.
    found = re.search(r"--bind[= ]\S*:(\d+)|-p (\d+)|--metrics-port[= ](\d+)", joined)
    assert found, joined
    return next(group for group in found.groups() if group)


@pytest.mark.parametrize("service", ["web", "ws"])
def test_web_and_ws_health_checks_probe_the_port_their_server_listens_on(service):
    port = _bound_port(SERVICES[service]["command"])

    assert SERVICES[service]["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "monitoring.healthcheck",
        port,
    ]


def test_the_monitoring_services_start_only_with_their_profile():
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["monitoring"], name
    for name, service in SERVICES.items():
        if name not in ("prometheus", "grafana"):
            assert "profiles" not in service, f"{name} would not start by default"


def test_files_mounted_from_the_repository_exist():
    mounts = [
        volume.split(":")[0]
        for service in SERVICES.values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]

    assert "./deploy/prometheus.yml" in mounts
    for source in mounts:
        assert (BASE_DIR / source).exists(), source


def test_prometheus_and_health_checks_use_host_names_django_allows():
    # A scrape's Host header is its target; the health checks send theirs.
    allowed = SERVICES["web"]["environment"]["ALLOWED_HOSTS"].split(",")

    for target in ("web", "ws"):
        assert target in allowed


# --- Dockerfile ----------------------------------------------------------------------


def dockerfile_instructions(name: str) -> list[str]:
    """The arguments of each instruction of that name, continuation lines joined."""
    text = (BASE_DIR / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return re.findall(rf"^{name}\s+(.*)$", joined, flags=re.MULTILINE)


def dockerfile_command() -> list[str]:
    """The image's CMD (the last one counts), which must be in exec (JSON) form."""
    return json.loads(dockerfile_instructions("CMD")[-1])


def multiprocess_dir(command: list[str], environment: dict[str, str]) -> str | None:
    """PROMETHEUS_MULTIPROC_DIR as the command's process sees it (`env NAME=value ...`
    in front of the command counts)."""
    found = environment.get("PROMETHEUS_MULTIPROC_DIR")
    if command and command[0] == "env":
        for word in command[1:]:
            name, equals, value = word.partition("=")
            if not equals:
                break
            if name == "PROMETHEUS_MULTIPROC_DIR":
                found = value
    return found


def _workers(command: list[str]) -> int:
    found = re.search(r"--workers[= ](\d+)", " ".join(command))
    assert found, command
    return int(found.group(1))


def test_the_images_default_command_sums_its_workers_metrics():
    # Without the shared directory each gunicorn worker answers a scrape with its own
    # counts: a run of the image as it is (docker run, Kubernetes) showed counters
    # jumping between workers' values, read by Prometheus as resets.
    command = dockerfile_command()

    assert _workers(command[command.index("gunicorn") :]) > 1
    assert multiprocess_dir(command, {}), command


def test_every_layout_runs_two_web_workers_per_core_of_the_2_core_target(tmp_path):
    # docs/decisions/web-workers.md: one sync worker per core left a fifth of the CPU
    # idle under creates. scripts/serve counts the cores; the image and compose are
    # written for the 2-core target.
    fake_nproc = tmp_path / "nproc"
    fake_nproc.write_text("#!/bin/sh\necho 2\n")
    fake_nproc.chmod(0o755)
    default = next(
        line
        for line in (BASE_DIR / "scripts" / "serve").read_text().splitlines()
        if line.startswith("WEB_WORKERS=")
    )
    serve = subprocess.run(
        ["bash", "-c", f'{default}\necho "$WEB_WORKERS"'],
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert int(serve.stdout) == 4
    assert _workers(dockerfile_command()) == 4
    assert _workers(SERVICES["web"]["command"]) == 4


def test_the_multiprocess_directory_is_not_set_for_the_whole_image():
    # daphne, migrate and the scheduler are single processes: in multiprocess mode they
    # would need a directory only gunicorn's start creates.
    for arguments in dockerfile_instructions("ENV"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in arguments
    assert dockerfile_instructions("ENV"), "the parser found no ENV at all"


def test_compose_sets_the_multiprocess_directory_for_gunicorn_only():
    web = SERVICES["web"]

    assert multiprocess_dir(web["command"], web["environment"])
    for name in ("ws", "scheduler", "migrate"):
        service = SERVICES[name]
        command = service["command"]
        assert not multiprocess_dir(command, service.get("environment", {})), name


# --- the web and ws health checks against the app -----------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def production_server() -> Iterator[int]:
    """The app with a production .env's settings: its own host names only and
    HTTPS redirects behind a trusted proxy. The middleware reads these settings when
    the handler is built, so the handler is built inside the override."""
    production = override_settings(
        ALLOWED_HOSTS=["tasks.example.com", "web", "ws"],
        SECURE_SSL_REDIRECT=True,
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    )
    with production:
        server = make_server(
            "127.0.0.1", 0, WSGIHandler(), server_class=WSGIServer, handler_class=_QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_port
        finally:
            server.shutdown()
            server.server_close()


def run_health_check(port: int) -> subprocess.CompletedProcess[bytes]:
    """The compose and image check (`python -m monitoring.healthcheck PORT`) with the
    environment a production .env gives the containers."""
    env = {"PATH": os.environ.get("PATH", ""), "ALLOWED_HOSTS": "tasks.example.com,web,ws"}
    return subprocess.run(
        [sys.executable, "-m", "monitoring.healthcheck", str(port)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        timeout=30,
    )


def test_the_health_check_passes_with_production_hosts_and_https_redirects(production_server):
    result = run_health_check(production_server)

    assert result.returncode == 0, result.stderr.decode()


def test_the_health_check_fails_when_nothing_answers():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    assert run_health_check(closed_port).returncode == 1


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/monitoring/health/", {}, 400),  # 127.0.0.1 is not an allowed host
        ("/monitoring/health/", {"Host": "web"}, 200),  # exempt from the https redirect
        ("/api/v1/tasks/", {"Host": "web"}, 301),  # everything else goes to https
    ],
)
def test_production_settings_refuse_unknown_hosts_and_redirect_all_but_monitoring(
    production_server, path, headers, status
):
    # Without this the test above could pass whatever the check sends.
    connection = http.client.HTTPConnection("127.0.0.1", production_server, timeout=5)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
    finally:
        connection.close()

    assert response.status == status


# --- deploy/prometheus.yml -------------------------------------------------------------


def scrape_targets() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for job in PROMETHEUS["scrape_configs"]:
        for group in job.get("static_configs", []):
            for target in group["targets"]:
                found[target] = {
                    "metrics_path": job.get("metrics_path", "/metrics"),
                    "labels": group.get("labels", {}),
                }
    return found


def test_prometheus_scrapes_both_entry_points_at_the_metrics_path():
    targets = scrape_targets()

    assert targets["web:8000"] == {
        "metrics_path": "/monitoring/metrics/",
        "labels": {"service": "web"},
    }
    assert targets["ws:8001"] == {
        "metrics_path": "/monitoring/metrics/",
        "labels": {"service": "ws"},
    }


def test_prometheus_scrapes_the_workers_own_metrics():
    assert scrape_targets()["worker:9101"] == {"metrics_path": "/", "labels": {"service": "worker"}}


def test_prometheus_scrape_targets_match_the_compose_ports():
    for target in scrape_targets():
        service, port = target.split(":")
        assert _bound_port(SERVICES[service]["command"]) == port


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard_mount():
    datasources = yaml.safe_load(
        (GRAFANA_PROVISIONING / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    providers = yaml.safe_load(
        (GRAFANA_PROVISIONING / "dashboards" / "taskmanager.yml").read_text()
    )["providers"]
    mounts = dict(volume.split(":")[:2] for volume in SERVICES["grafana"]["volumes"])

    assert [(d["type"], d["url"]) for d in datasources] == [
        ("prometheus", "http://prometheus:9090")
    ]
    assert datasources[0]["jsonData"]["timeInterval"] == PROMETHEUS["global"]["scrape_interval"]
    dashboards_dir = providers[0]["options"]["path"]
    assert mounts["./deploy/grafana/taskmanager.json"] == f"{dashboards_dir}/taskmanager.json"


# --- deploy/grafana/taskmanager.json ---------------------------------------------------


@dataclass(frozen=True)
class Query:
    """What a PromQL expression asks for, read well enough for these checks."""

    text: str
    metrics: frozenset[str]
    # Each `by (...)` clause, and every label named in a `{...}` selector.
    groupings: tuple[frozenset[str], ...]
    matchers: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> "Query":
        rest = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
        rest = re.sub(r"\$\{[^}]*\}|\$\w+", "", rest)
        matchers = frozenset(
            label
            for selector in re.findall(r"\{([^}]*)\}", rest)
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector)
        )
        groupings = tuple(
            frozenset(label.strip() for label in labels.split(",") if label.strip())
            for labels in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", rest)
        )
        rest = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", rest)
        rest = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", rest)
        names = set()
        for word in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", rest):
            follows = rest[word.end() :].lstrip()
            if follows.startswith("(") or word.group().lower() in PROMQL_WORDS:
                continue  # a function or aggregation, or a keyword
            names.add(word.group())
        return cls(text, frozenset(names), groupings, matchers)

    def groups_by(self, *labels: str) -> bool:
        return frozenset(labels) in self.groupings


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panels(panel) if "panels" in panel else ()


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    exprs = [target["expr"] for panel in panels(dashboard) for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    queries = []
    for expr in exprs:
        # label_values(metric, label): the metric is the one argument to check.
        values = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", expr)
        queries.append(Query.parse(f"sum by ({values[2]}) ({values[1]})" if values else expr))
    return queries


def exported_series() -> dict[str, frozenset[str]]:
    """Series names and their labels as prometheus_client writes them for every metric
    in taskmanager/metrics.py: a twin of each is touched in a registry of its own and
    exposed, so the suffixes (_total, _bucket, _count, _sum) are the library's."""
    registry = CollectorRegistry()
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        (family,) = metric.describe()
        # No public accessor for a metric's label names.
        labelnames = metric._labelnames
        twin = type(metric)(
            family.name, family.documentation, labelnames=labelnames, registry=registry
        )
        child = twin.labels(*labelnames) if labelnames else twin
        if isinstance(child, Histogram | Summary):
            child.observe(1)
        elif isinstance(child, Counter | Gauge):
            child.inc()
        else:
            raise AssertionError(f"teach this test to touch a {type(child).__name__}")
    series: dict[str, set[str]] = {}
    # With the gauges read from the database at each scrape (monitoring.state).
    text = generate_latest(registry) + generate_latest(state.registry())
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    # The multiprocess collector (web's gunicorn workers) writes no _created series.
    return {
        name: frozenset(labels) for name, labels in series.items() if not name.endswith("_created")
    }


def unknown_names(queries: list[Query], exported: dict[str, frozenset[str]]) -> list[str]:
    problems = []
    for query in queries:
        assert query.metrics, f"no metric found in {query.text}"
        labels = set(SCRAPE_LABELS)
        for name in query.metrics:
            if name not in exported:
                problems.append(f"{name} is not exported (in {query.text})")
            labels |= exported.get(name, frozenset())
        used = query.matchers.union(*query.groupings)
        problems += [f"label {label} is not on {sorted(query.metrics)}" for label in used - labels]
    return problems


@pytest.mark.django_db
def test_the_exported_series_include_the_suffixed_names():
    exported = exported_series()

    assert exported["taskmanager_http_requests_total"] == {"view", "method", "status"}
    assert exported["taskmanager_http_request_duration_seconds_bucket"] == {
        "view",
        "method",
        "le",
    }
    assert "taskmanager_websockets_open" in exported
    assert "taskmanager_logins" not in exported


@pytest.mark.django_db
def test_the_dashboard_uses_only_exported_series_and_labels():
    assert unknown_names(dashboard_queries(DASHBOARD), exported_series()) == []


@pytest.mark.parametrize(
    "expr",
    [
        "sum by (outcome) (rate(taskmanger_logins_total[5m]))",  # misspelt metric
        "sum by (outcome) (rate(taskmanager_logins[5m]))",  # suffix left off
        "sum(rate(taskmanager_http_request_duration_seconds[5m]))",  # histogram base name
        "sum by (scop) (rate(taskmanager_throttled_requests_total[5m]))",  # misspelt label
        'sum(rate(taskmanager_logins_total{result="ok"}[5m]))',  # another metric's label
    ],
)
@pytest.mark.django_db
def test_a_wrong_name_in_a_panel_would_be_caught(expr):
    dashboard = {"panels": [{"targets": [{"expr": expr}]}], "templating": {"list": []}}

    assert unknown_names(dashboard_queries(dashboard), exported_series())


def test_each_series_the_issue_names_has_a_panel():
    queries = dashboard_queries(DASHBOARD)

    def has(predicate) -> bool:
        return any(predicate(query) for query in queries)

    requests = "taskmanager_http_requests_total"
    buckets = "taskmanager_http_request_duration_seconds_bucket"
    wanted = {
        "request rate by view and status": lambda q: (
            requests in q.metrics and q.groups_by("view", "status") and "rate(" in q.text
        ),
        "5xx error rate": lambda q: requests in q.metrics and 'status=~"5.."' in q.text,
        **{
            f"p{round(quantile * 100)} latency": (
                lambda q, quantile=quantile: (
                    buckets in q.metrics
                    and q.text.startswith(f"histogram_quantile({quantile},")
                    and q.groups_by("le")
                    and "rate(" in q.text
                )
            )
            for quantile in (0.5, 0.95, 0.99)
        },
        "throttled requests by scope": lambda q: (
            "taskmanager_throttled_requests_total" in q.metrics and q.groups_by("scope")
        ),
        "logins by outcome": lambda q: (
            "taskmanager_logins_total" in q.metrics and q.groups_by("outcome")
        ),
        # Issue 25: webhook deliveries and failures, the queue, the worker's heartbeat.
        "webhook attempts by outcome": lambda q: (
            "taskmanager_webhook_attempts_total" in q.metrics
            and q.groups_by("outcome")
            and "rate(" in q.text
        ),
        "webhook queue depth": lambda q: "taskmanager_webhook_queue_depth" in q.metrics,
        "worker heartbeat": lambda q: "taskmanager_worker_heartbeat_age_seconds" in q.metrics,
        "task cache hit ratio by kind": lambda q: (
            "taskmanager_task_cache_total" in q.metrics
            and q.groups_by("kind")
            and 'result="hit"' in q.text
            and " / " in q.text
        ),
        "open WebSockets": lambda q: "taskmanager_websockets_open" in q.metrics,
        "task events sent by kind": lambda q: (
            "taskmanager_task_events_sent_total" in q.metrics and q.groups_by("kind")
        ),
        "event send failures": lambda q: "taskmanager_task_event_send_failures_total" in q.metrics,
        "channel-layer drops": lambda q: "taskmanager_channel_layer_dropped_total" in q.metrics,
    }

    assert [series for series, predicate in wanted.items() if not has(predicate)] == []


def test_dashboard_panels_read_from_the_data_source_variable():
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"

    graphs = [panel for panel in panels(DASHBOARD) if panel["type"] != "row"]
    assert len({panel["id"] for panel in panels(DASHBOARD)}) == len(list(panels(DASHBOARD)))
    for panel in graphs:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_the_dashboard_has_a_fixed_uid_and_a_current_schema():
    # Provisioning matches dashboards by uid: a changing one would leave copies behind.
    assert DASHBOARD["uid"] == "taskmanager"
    assert DASHBOARD["id"] is None
    assert 36 <= DASHBOARD["schemaVersion"] <= 41
