"""Instructions a request through the whole stack (Django's test client, as in
bench/in_process.py), counted by valgrind's callgrind (`Ir`). Unlike time, the count
does not drift with the machine's speed or load: two commits compare run after run
(repeatable within about 0.1 %).

    .venv/bin/python bench/instructions.py [--requests 100] [--scenarios create,patch,list] [TREE]

TREE (default this checkout) is another checkout of the project (`git archive <commit>
| tar -x -C dir`, with `.venv` linked to this one's). Each scenario runs in a fresh
process of this file, from TREE (its code, this checkout's python), under callgrind
with the instrumentation off while it logs in, creates 30 tasks, warms up with 50
requests and freezes what is loaded as the servers do; `callgrind_control` turns it on
for the N requests only. `create` is `POST /api/v1/tasks/` (bench/wrk/create.lua's
body), `patch` a PATCH of the status with If-Match, on those 30 tasks in turn, `list`
the task list of 30 from its cache (`GET /api/v1/tasks/`, a page of 20). A
throw-away database on BENCH_PG_SERVER, migrated by TREE's manage.py, and Redis key
prefixes on BENCH_REDIS_URL (as bench/run.py), removed at the end; PYTHONHASHSEED=0 for
both trees. About 35 s a scenario at 100 requests.
"""

import argparse
import gc
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("create", "patch", "list")
PASSWORD = "Correct-horse-battery-9"  # noqa: S105 (a throw-away account)
CREATE_BODY = (
    '{"title":"bench 1","description":"Created by bench/wrk/create.lua.","priority":"high"}'
)
TASKS = 30
WARMUP = 50
# Timeouts, for a child that hangs (one that dies is seen at once). Under valgrind a
# child is ready in under half a minute (imports, login, the tasks, the warm-up) and
# makes a request in about 0.2 s.
START_SECONDS = 300
SECONDS_A_REQUEST = 2
# The child gives up when the parent has not answered for this long.
CHILD_WAIT_SECONDS = 300


def wait_for(path: Path, limit: float, interval: float, alive: Callable[[], bool]) -> bool:
    """Whether `path` appeared within `limit` seconds, while `alive()`."""
    deadline = time.monotonic() + limit
    while not path.exists():
        if not alive() or time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def announce(path: Path, text: str = "") -> None:
    # Whole or absent: the other side may read it as soon as it exists.
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(path)


# The child: under callgrind, from TREE.


def child(scenario: str, requests: int, sync: Path, tree: Path) -> None:
    # TREE's code, not this checkout's: sys.path[0] is this file's folder (the parent
    # has set the working directory).
    sys.path[0] = str(tree)
    import django

    django.setup()

    from django.test import Client

    from accounts.models import User

    name = f"bench{uuid.uuid4().hex[:8]}"
    User.objects.create_user(username=name, email=f"{name}@example.com", password=PASSWORD)
    client = Client()
    login = client.post(
        "/api/v1/auth/login/",
        {"username": name, "password": PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 200, login.content
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {login.json()['access']}"}

    def create(i: int) -> int:
        response = client.generic(
            "POST", "/api/v1/tasks/", CREATE_BODY, content_type="application/json", **auth
        )
        assert response.status_code == 201, response.content
        return int(response.json()["id"])

    ids = [create(i) for i in range(TASKS)]
    versions = dict.fromkeys(ids, 1)

    def patch(i: int) -> None:
        task = ids[i % len(ids)]
        response = client.patch(
            f"/api/v1/tasks/{task}/",
            {"status": "in_progress" if versions[task] % 2 else "pending"},
            content_type="application/json",
            HTTP_IF_MATCH=f'"{task}-{versions[task]}"',
            **auth,
        )
        assert response.status_code == 200, response.content
        versions[task] = response.json()["version"]

    def cached_list(i: int) -> None:
        response = client.get("/api/v1/tasks/", **auth)
        assert response.status_code == 200, response.content

    request: Callable[[int], object] = {
        "create": create,
        "patch": patch,
        "list": cached_list,
    }[scenario]
    for i in range(WARMUP):
        request(i)
    gc.collect()
    gc.freeze()

    announce(sync / "ready", str(os.getpid()))
    if not wait_for(sync / "go", CHILD_WAIT_SECONDS, 0.05, lambda: True):
        sys.exit("bench/instructions.py: no go from the parent")
    for i in range(requests):
        request(i)
    announce(sync / "done")
    # Counted until the parent turns the instrumentation off: a few polls at most.
    if not wait_for(sync / "quit", CHILD_WAIT_SECONDS, 0.2, lambda: True):
        sys.exit("bench/instructions.py: no quit from the parent")


# The parent.


def callgrind_control(sync: Path, pid: int, *args: str) -> None:
    command = ["callgrind_control", f"--vgdb-prefix={sync / 'vgdb'}", *args, str(pid)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    # It exits 0 whatever happened; "OK." is its word for success.
    if done.returncode != 0 or "OK." not in done.stdout:
        raise RuntimeError(f"{' '.join(command)}: {done.stdout}{done.stderr}")


def count(scenario: str, requests: int, tree: Path, env: dict[str, str]) -> int:
    """Instructions (Ir) of `requests` requests of `scenario` in a fresh child."""
    with tempfile.TemporaryDirectory(prefix="bench-ir-") as folder:
        sync = Path(folder)
        output = sync / "child.log"
        command = [
            "valgrind",
            "--quiet",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={sync / 'callgrind.out'}",
            # Its pipes in the temporary folder, gone with it even after a kill.
            f"--vgdb-prefix={sync / 'vgdb'}",
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            scenario,
            "--requests",
            str(requests),
            "--sync",
            str(sync),
            str(tree),
        ]
        # An empty static folder, the same for every tree (whitenoise warns of none).
        (sync / "static").mkdir()
        env = {**env, "STATIC_ROOT": str(sync / "static")}
        with output.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT
            )

        def alive() -> bool:
            return process.poll() is None

        def failed(what: str) -> RuntimeError:
            state = "running" if alive() else f"exited with {process.returncode}"
            tail = "\n".join(output.read_text(errors="replace").splitlines()[-30:])
            return RuntimeError(f"{scenario}: {what} (the child {state}); its output:\n{tail}")

        try:
            if not wait_for(sync / "ready", START_SECONDS, 0.1, alive):
                raise failed("not ready")
            pid = int((sync / "ready").read_text())
            callgrind_control(sync, pid, "--instr=on")
            announce(sync / "go")
            limit = 60 + SECONDS_A_REQUEST * requests
            if not wait_for(sync / "done", limit, 0.1, alive):
                raise failed(f"not done within {limit} s")
            callgrind_control(sync, pid, "--instr=off")
            announce(sync / "quit")
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                raise failed("did not exit") from None
            if process.returncode != 0:
                raise failed("failed")
        finally:
            if alive():
                process.kill()
                process.wait()
        # One file at the exit (more if something asked for a dump), the instructions
        # counted since the last dump on its `totals:` line (`summary:` is not that).
        total = 0
        for path in sync.glob("callgrind.out*"):
            for line in path.read_text().splitlines():
                if line.startswith("totals:"):
                    total += int(line.split()[1])
        if total == 0:
            raise failed("no instructions counted")
        # Nothing, at LOG_LEVEL=WARNING and valgrind --quiet: what is there (a fault of
        # Redis, say) may have changed what was counted.
        if said := output.read_text(errors="replace").strip():
            print(f"{scenario}: the child wrote:\n{said}", file=sys.stderr)
        return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree", type=Path, nargs="?", default=ROOT)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    # The child's, under callgrind: its scenario and the folder of the signal files.
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--sync", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    tree = args.tree.resolve()
    if args.child:
        child(args.child, args.requests, args.sync, tree)
        return
    names = args.scenarios.split(",")
    if unknown := [name for name in names if name not in SCENARIOS]:
        parser.error(f"unknown scenarios {', '.join(unknown)}: one of {', '.join(SCENARIOS)}")
    if args.requests < 1:
        parser.error("--requests: at least 1")
    if not (tree / "manage.py").is_file():
        parser.error(f"{tree} is not a checkout of the project (no manage.py)")

    # Here, not at the top: the child imports nothing but TREE's code.
    sys.path.insert(0, str(ROOT))
    from bench import run

    run_id = secrets.token_hex(4)
    with (
        run.bench_database(f"bench_ir_{run_id}") as database_url,
        run.redis_prefix(f"bench-ir-{run_id}") as prefix,
        tempfile.TemporaryDirectory(prefix="bench-ir-") as folder,
    ):
        # make bench's settings for the application, then the test client's host and
        # what keeps the counts repeatable.
        env = run.app_env(database_url, prefix, Path(folder), "WARNING")
        env.update(
            {
                "SECRET_KEY": "bench-instructions-not-a-secret-0123456789abcdefghij",
                "ALLOWED_HOSTS": "testserver",
                # With a random seed per process the counts vary by some 0.3 % (dicts
                # and sets laid out differently); with this one by some 0.03 %.
                "PYTHONHASHSEED": "0",
            }
        )
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate in {tree}:\n{migrate.stdout}{migrate.stderr}")
        for name in names:
            total = count(name, args.requests, tree, env)
            print(
                f"{name}: {round(total / args.requests):,} instructions a request"
                f" ({args.requests:,} requests, {tree})",
                flush=True,
            )


if __name__ == "__main__":
    main()
