"""CPU per request through the whole stack, in one process: Django's test client, the
project's settings, a throw-away PostgreSQL database and a Redis prefix of its own.
Less noisy than wrk for comparing two commits (run it in each; alternate).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<new database> \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/in_process.py [N]

It prints the median over 5 rounds of N requests (default 1,000) of: a warm cached
task list, a list page that misses the cache, a task detail and a PATCH with
If-Match. The database is migrated here and left behind (drop it after).
"""

import gc
import itertools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanager.settings")
os.environ.setdefault("SECRET_KEY", "bench-in-process-not-a-secret-0123456789abcdefghij")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("CACHE_KEY_PREFIX", f"bench-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("LOG_LEVEL", "WARNING")
for scope in ("READ", "WRITE", "LOGIN", "LOGIN_IP"):
    os.environ.setdefault(f"THROTTLE_{scope}_RATE", "1000000/min")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import User  # noqa: E402

PASSWORD = "Correct-horse-battery-9"  # noqa: S105 (a throw-away account)


def per_request(rounds: int, n: int, request: Callable[[int], None]) -> float:
    """Median CPU µs per request over the rounds."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        for i in range(n):
            request(i)
        times.append((time.process_time() - started) / n * 1e6)
    return statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    call_command("migrate", verbosity=0)
    name = f"bench{uuid.uuid4().hex[:8]}"
    User.objects.create_user(username=name, email=f"{name}@example.com", password=PASSWORD)
    client = Client()
    login = client.post(
        "/api/v1/auth/login/",
        {"username": name, "password": PASSWORD},
        content_type="application/json",
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {login.json()['access']}"}
    ids = [
        client.post(
            "/api/v1/tasks/", {"title": f"t{i}"}, content_type="application/json", **auth
        ).json()["id"]
        for i in range(30)
    ]
    versions = dict.fromkeys(ids, 1)

    def get(path: str, **extra: str) -> None:
        response = client.get(path, **auth, **extra)
        assert response.status_code == 200, response.content

    # A list's cache entry is per URL: a Host port never used before misses it.
    ports = itertools.count(10_000)

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

    for _ in range(200):  # warm up, then freeze what is loaded as the servers do
        get("/api/v1/tasks/")
    gc.collect()
    gc.freeze()
    results = {
        "cached list": per_request(5, n, lambda i: get("/api/v1/tasks/")),
        "list missing the cache": per_request(
            5, n, lambda i: get("/api/v1/tasks/", HTTP_HOST=f"testserver:{next(ports)}")
        ),
        "detail": per_request(5, n, lambda i: get(f"/api/v1/tasks/{ids[i % len(ids)]}/")),
        "PATCH with If-Match": per_request(5, n, patch),
    }
    for what, micros in results.items():
        print(f"{what:24s} {micros:8.0f} µs CPU per request")


if __name__ == "__main__":
    main()
