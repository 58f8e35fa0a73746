"""The logs of real gunicorn and daphne processes: JSON lines only, request ids from
the client on the HTTP access line and the WebSocket connection's records, and no
password or token anywhere. (daphne 4 drops the headers of a WebSocket accept, so
the handshake's response does not carry the id; nginx adds it in the stack.)"""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import connect

from tests.e2e.servers import PASSWORD, migrate, production_env, register_and_login, serve


def json_lines(log: str) -> list[dict[str, Any]]:
    """Every line of the log, parsed; fails on the first line that is not JSON."""
    records = []
    for number, line in enumerate(log.splitlines(), 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"line {number} is not JSON: {line!r}")
    return records


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_servers_write_json_lines_with_request_ids_and_no_secrets(tmp_path: Path):
    env = production_env(tmp_path, LOG_LEVEL="DEBUG")
    migrate(env)

    with serve("gunicorn", env, tmp_path) as web, serve("daphne", env, tmp_path) as ws:
        user = register_and_login(web)
        listed = requests.get(
            f"{web.base_url}/api/v1/tasks/?search=hidden-term",
            headers={"Authorization": f"Bearer {user['access']}", "X-Request-ID": "e2e-http-1"},
            timeout=10,
        )
        refreshed = requests.post(
            f"{web.base_url}/api/v1/auth/refresh/", json={"refresh": user["refresh"]}, timeout=10
        )
        with connect(
            f"{ws.ws_url}/ws/tasks/?token={user['access']}",
            additional_headers={"X-Request-ID": "e2e-ws-1"},
            open_timeout=10,
        ) as socket:
            assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        wait_for(lambda: "websocket closed" in ws.log())

    assert listed.status_code == 200
    assert listed.headers["X-Request-ID"] == "e2e-http-1"
    assert refreshed.status_code == 200
    web_records, ws_records = json_lines(web.log()), json_lines(ws.log())
    (access,) = [r for r in web_records if r.get("request_id") == "e2e-http-1"]
    assert access["logger"] == "taskmanager.access"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/api/v1/tasks/", 200)
    assert access["user_id"] == user["id"]
    assert access["duration_ms"] >= 0
    socket_records = {r["message"]: r for r in ws_records if r.get("request_id") == "e2e-ws-1"}
    assert socket_records["websocket authenticated"]["user_id"] == user["id"]
    assert socket_records["websocket closed"]["code"] in (1000, 1005)
    written = web.log() + ws.log()
    for secret in (PASSWORD, user["access"], user["refresh"], refreshed.json()["refresh"]):
        assert secret not in written
    assert "hidden-term" not in written
