"""`make serve` (scripts/serve): gunicorn and daphne side by side, as production runs
them, sharing events through Redis; stopping it stops both."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from taskmanager.settings import BASE_DIR
from tests.e2e.servers import (
    BIN,
    Server,
    free_port,
    manage,
    production_env,
    register_and_login,
    wait_until_healthy,
)

REDIS_URL = os.environ.get("REDIS_URL", "")


def port_is_free(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/monitoring/health/", timeout=1)
    except requests.ConnectionError:
        return True
    return False


@pytest.mark.skipif(not REDIS_URL, reason="make serve needs REDIS_URL")
def test_serve_runs_http_and_websocket_apart_and_stops_both(tmp_path: Path):
    port, ws_port = free_port(), free_port()
    env = production_env(
        tmp_path, REDIS_URL=REDIS_URL, HOST="127.0.0.1", PORT=str(port), WS_PORT=str(ws_port)
    )
    env["BIN"] = str(BIN)
    manage("migrate", "--noinput", env=env)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BASE_DIR / "scripts" / "serve")], cwd=BASE_DIR, env=env, stdout=log, stderr=log
        )
    try:
        web = Server(f"http://127.0.0.1:{port}", process, log_path)
        ws = Server(f"http://127.0.0.1:{ws_port}", process, log_path)
        wait_until_healthy(web)
        wait_until_healthy(ws)
        user = register_and_login(web)

        live = requests.get(f"{web.base_url}/live/", allow_redirects=False, timeout=10)
        with connect(
            f"{ws.ws_url}/ws/tasks/",
            additional_headers={"Authorization": f"Bearer {user['access']}"},
            open_timeout=10,
        ) as socket:
            assert json.loads(socket.recv(timeout=10))["type"] == "ready"
            created = requests.post(
                f"{web.base_url}/api/v1/tasks/",
                json={"title": "through gunicorn"},
                headers={"Authorization": f"Bearer {user['access']}"},
                timeout=10,
            )
            assert created.status_code == 201, created.text
            event = json.loads(socket.recv(timeout=10))
        # The socket is daphne's alone: gunicorn does not speak WebSocket.
        on_web = requests.get(f"{web.base_url}/ws/tasks/", timeout=10)
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=20)

    assert event["type"] == "task.created"
    assert event["task"]["id"] == created.json()["id"]
    assert live.status_code == 302  # to the login page; the page itself is tested elsewhere
    assert on_web.status_code == 404
    assert exit_code in (0, 143, -signal.SIGTERM)
    assert port_is_free(port)
    assert port_is_free(ws_port)
