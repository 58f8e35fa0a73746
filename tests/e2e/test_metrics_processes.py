"""Metrics with several gunicorn workers: each request is counted once, whichever
worker answered it and whichever answers the scrape."""

from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.servers import production_env, serve

REQUESTS = 40


def health_count(base_url: str) -> float:
    text = requests.get(f"{base_url}/monitoring/metrics/", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "taskmanager_http_requests_total"
        and sample.labels.get("view") == "monitoring:health"
    )


def test_two_workers_report_every_request_once(tmp_path: Path):
    env = production_env(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    with serve("gunicorn", env, tmp_path) as server:
        start = health_count(server.base_url)
        # New connections each time: requests spread over both workers.
        for _ in range(REQUESTS):
            assert requests.get(f"{server.base_url}/monitoring/health/", timeout=10).ok
        counts = {health_count(server.base_url) - start for _ in range(6)}

    assert counts == {REQUESTS}
