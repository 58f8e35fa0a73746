"""Throw-away Redis and PostgreSQL instances for fault tests.

Each runs on a free port with its own directory, and can be stopped and started
again on the same port; the machine's shared services are never touched.
PostgreSQL refuses to run as root, so as root its commands run as the `postgres`
OS user, in a directory that user owns.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.servers import free_port


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def postgres_bin_dir() -> Path | None:
    """The newest PostgreSQL installation with initdb and pg_ctl (Debian's layout
    first, then the PATH)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def postgres_unavailable_reason() -> str | None:
    """Why a throw-away cluster cannot be made here, or None."""
    if postgres_bin_dir() is None:
        return "needs PostgreSQL's initdb and pg_ctl (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root needs a `postgres` OS user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root needs `runuser` to run PostgreSQL as `postgres`"
    return None


def _wait_for_port(port: int, timeout: float, is_up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                up = True
        except OSError:
            up = False
        if up == is_up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} is {'not ' if is_up else ''}accepting connections")


class RedisInstance:
    """`redis-server` without persistence, as a child process of the tests."""

    def __init__(self, binary: str, directory: Path, port: int | None = None) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.log_path = directory / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        assert self.process is None, "already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.directory),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while not self._pong():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGKILL: a crash, not a shutdown; the port is closed when this returns."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None
        _wait_for_port(self.port, 5, is_up=False)

    def pause(self) -> None:
        """SIGSTOP: a Redis that hangs. Connections are still accepted (by the
        kernel) but nothing is answered, as with an overloaded or wedged server."""
        assert self.process is not None, "not running"
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextmanager
def redis_instance(directory: Path) -> Iterator[RedisInstance]:
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    instance = RedisInstance(binary, directory)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


class PostgresCluster:
    """A cluster made by initdb in a temporary directory, trust authentication,
    listening on 127.0.0.1:`port` and a Unix socket in its own directory."""

    def __init__(self, bin_dir: Path, directory: Path, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.directory = directory
        self.data = directory / "data"
        self.log_path = directory / "postgres.log"
        self.port = port or free_port()

    @property
    def url(self) -> str:
        """The `postgres` database as the `postgres` superuser (no password: trust)."""
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            # A throw-away cluster: no fsync while it is made.
            "--no-sync",
        )

    def start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.directory}",
                "-c listen_addresses=127.0.0.1",
                # Durability is not what these tests are about; speed is.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects every client and shuts down cleanly; `immediate` is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")
        _wait_for_port(self.port, 5, is_up=False)

    def is_running(self) -> bool:
        result = self._run("pg_ctl", "-D", str(self.data), "status", check=False)
        return result.returncode == 0

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command,
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                f"{self.log()}"
            )
        return result


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A new cluster, started; stopped and removed afterwards, whatever happened.

    Its directory is made under the system's temporary directory (pytest's own are
    private to root, and the server may have to run as `postgres`)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's initdb and pg_ctl are not installed")
    directory = Path(tempfile.mkdtemp(prefix="tm-faults-pg-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(directory, user.pw_uid, user.pw_gid)
        cluster = PostgresCluster(bin_dir, directory)
        cluster.initdb()
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.is_running():
                cluster.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
