"""Start and stop real server processes for end-to-end tests."""

import atexit
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import environ
import psycopg
import pytest
import requests
from psycopg import sql

from taskmanager.settings import BASE_DIR

BIN = Path(sys.executable).parent
PASSWORD = "Wind-Copper-Lantern-42"

# Several server processes share state only through PostgreSQL and Redis.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
needs_postgres_and_redis = pytest.mark.skipif(
    not (DATABASE_URL.startswith("postgres") and REDIS_URL),
    reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1)


def manage(*args: str, env: Mapping[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=dict(env),
        check=True,
        capture_output=True,
        timeout=300,
    )


def migrate(env: Mapping[str, str]) -> None:
    """`manage.py migrate` for the new, empty database of `env`: a copy of one this
    process migrated once (the same tables and rows in a fraction of the time), or
    migrated in place where no copy can be made (a database with tables already,
    another PostgreSQL server than the suite's)."""
    url = env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        target = Path(url.removeprefix("sqlite:///"))
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_template("sqlite", env), target)
            return
    elif DATABASE_URL.startswith("postgres") and _server_of(url) == _server_of(DATABASE_URL):
        name = url.rsplit("/", 1)[1]
        with connect(url, autocommit=True) as admin:
            tables = admin.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
        if tables == (0,):
            template = _template("postgres", env)
            with connect(DATABASE_URL, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
                admin.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                )
            return
    manage("migrate", "--noinput", env=env)


# This process's migrated databases, by kind: a SQLite file, a PostgreSQL database.
_templates: dict[str, str] = {}


def _template(kind: str, env: Mapping[str, str]) -> str:
    if kind not in _templates:
        if kind == "sqlite":
            directory = Path(tempfile.mkdtemp(prefix="e2e-template-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            template = str(directory / "db.sqlite3")
            manage("migrate", "--noinput", env={**env, "DATABASE_URL": f"sqlite:///{template}"})
            # Everything in the file itself (WAL mode): a copy of it is the whole database.
            with closing(sqlite3.connect(template)) as database:
                database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            template = f"e2e_template_{uuid.uuid4().hex[:12]}"
            with connect(DATABASE_URL, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
            atexit.register(_drop_database, template)
            url = DATABASE_URL.rsplit("/", 1)[0] + "/" + template
            manage("migrate", "--noinput", env={**env, "DATABASE_URL": url})
        _templates[kind] = template
    return _templates[kind]


def _drop_database(name: str) -> None:
    with connect(DATABASE_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _server_of(url: str) -> tuple[Any, ...]:
    config = environ.Env.db_url_config(url)
    return (config["HOST"] or "127.0.0.1", int(config["PORT"] or 5432), config["USER"])


def connect(
    url: str, *, dbname: str | None = None, autocommit: bool = False
) -> psycopg.Connection[Any]:
    """A connection to the database of `url`, or to `dbname` on its server."""
    config = environ.Env.db_url_config(url)
    return psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=int(config["PORT"] or 5432),
        user=config["USER"],
        password=config["PASSWORD"] or None,
        dbname=dbname or config["NAME"],
        autocommit=autocommit,
    )


@contextmanager
def serve(
    kind: str, env: Mapping[str, str], log_dir: Path, port: int | None = None, workers: int = 2
) -> Iterator[Server]:
    """Run `gunicorn` (wsgi.py), daphne (asgi.py, through realtime.server) or the
    production socket process (`uvicorn-socket`: realtime.socket_server, `workers`
    processes on the port) as production does; wait until ready."""
    port = port or free_port()
    if kind == "gunicorn":
        command = [
            str(BIN / "gunicorn"),
            "taskmanager.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ]
    elif kind in ("daphne", "daphne-socket"):
        # "daphne" serves the whole application from one process, as `make run`;
        # "daphne-socket" is the production socket process (/ws/ and /monitoring/ only).
        app = "socket_application" if kind == "daphne-socket" else "application"
        command = [
            str(BIN / "python"),
            "-m",
            "realtime.server",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            # As in production: the application writes the (JSON) access lines.
            "--access-log=/dev/null",
            f"taskmanager.asgi:{app}",
        ]
    elif kind == "uvicorn-socket":
        command = [
            str(BIN / "python"),
            "-m",
            "realtime.socket_server",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--workers",
            str(workers),
        ]
    else:
        raise ValueError(kind)
    log_path = log_dir / f"{kind}-{port}-{uuid.uuid4().hex[:6]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=dict(env), stdout=log, stderr=log)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        # uvicorn's workers start one after the other, each setting Django up.
        wait_until_healthy(server, timeout=60 if kind == "uvicorn-socket" else 30)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_healthy(server: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            if requests.get(f"{server.base_url}/monitoring/health/", timeout=3).ok:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not become healthy:\n{server.log()}")


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production process: DEBUG off, its own var/ and static."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "taskmanager.settings",
            "DEBUG": "false",
            "VAR_DIR": str(tmp_path / "var"),
            "STATIC_ROOT": str(tmp_path / "static"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "SECRET_KEY": env.get("SECRET_KEY") or "e2e-" + "s" * 60,
            # Servers of different tests may share one Redis: keys and groups apart.
            "CACHE_KEY_PREFIX": f"e2e-{uuid.uuid4().hex}",
            "CHANNEL_LAYER_PREFIX": f"e2e-{uuid.uuid4().hex}",
        }
    )
    env.update(extra)
    return env


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """A new, empty database on the server of `url` (dropped afterwards); its URL."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    with connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield url.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def migrated_env(tmp_path: Path, **extra: str) -> Iterator[dict[str, str]]:
    """`production_env` on a throw-away, migrated database: PostgreSQL when the suite
    runs on it, else SQLite; `extra` on top."""
    database = (
        postgres_database(DATABASE_URL)
        if DATABASE_URL.startswith("postgres")
        else nullcontext(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    )
    with database as database_url:
        env = production_env(tmp_path, DATABASE_URL=database_url, **extra)
        migrate(env)
        yield env


def connections_to(database_url: str) -> int:
    """How many server connections are open to the database of `database_url`."""
    name = environ.Env.db_url_config(database_url)["NAME"]
    with connect(database_url, dbname="postgres") as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
        ).fetchone()
    return int(row[0]) if row else 0


def register_and_login(server: Server, username: str | None = None) -> dict[str, Any]:
    username = username or f"user{uuid.uuid4().hex[:10]}"
    credentials = {"username": username, "password": PASSWORD}
    registered = requests.post(
        f"{server.base_url}/api/v1/auth/register/",
        json={**credentials, "email": f"{username}@example.com"},
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    login = requests.post(f"{server.base_url}/api/v1/auth/login/", json=credentials, timeout=10)
    assert login.status_code == 200, login.text
    return {**login.json(), "id": registered.json()["id"], "username": username}


def shared_project(server: Server, owner: dict[str, Any], *members: dict[str, Any]) -> int:
    """A project of `owner` (its admin) with `members` added as members, through the
    API; its id."""
    headers = {"Authorization": f"Bearer {owner['access']}"}
    created = requests.post(
        f"{server.base_url}/api/v1/projects/", json={"name": "Shared"}, headers=headers, timeout=10
    )
    assert created.status_code == 201, created.text
    project = int(created.json()["id"])
    for member in members:
        added = requests.post(
            f"{server.base_url}/api/v1/projects/{project}/members/",
            json={"username": member["username"]},
            headers=headers,
            timeout=10,
        )
        assert added.status_code == 201, added.text
    return project
