"""manage.py cleanup_tokens: what it removes, what it keeps, its scheduler mode and the
scheduler's health check in docker-compose.yml."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from uuid import uuid4

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import UserSession
from taskmanager.settings import BASE_DIR
from tasks.models import IdempotencyKey
from tasks.services import IDEMPOTENCY_TTL

pytestmark = pytest.mark.django_db

REFRESH_LIFETIME = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]


def _token(user, *, expires_in: timedelta, blacklisted: bool = False) -> OutstandingToken:
    now = timezone.now()
    token = OutstandingToken.objects.create(
        user=user, jti=uuid4().hex, token="x", created_at=now, expires_at=now + expires_in
    )
    if blacklisted:
        BlacklistedToken.objects.create(token=token)
    return token


def _idempotency_key(user, *, age: timedelta) -> IdempotencyKey:
    record = IdempotencyKey.objects.create(user=user, key=uuid4().hex, request_hash="x")
    IdempotencyKey.objects.filter(pk=record.pk).update(created_at=timezone.now() - age)
    return record


def _session(user, *, ended_ago: timedelta | None, expires_in: timedelta) -> UserSession:
    now = timezone.now()
    return UserSession.objects.create(
        user=user,
        refresh_jti=uuid4().hex,
        expires_at=now + expires_in,
        ended_at=None if ended_ago is None else now - ended_ago,
    )


@pytest.fixture
def seeded(member):
    day = timedelta(days=1)
    expired = [_token(member, expires_in=-day) for _ in range(3)]
    expired_blacklisted = [_token(member, expires_in=-day, blacklisted=True) for _ in range(2)]
    live = [_token(member, expires_in=day), _token(member, expires_in=day, blacklisted=True)]
    old_sessions = [
        _session(member, ended_ago=REFRESH_LIFETIME + day, expires_in=day),
        _session(member, ended_ago=None, expires_in=-(REFRESH_LIFETIME + day)),
    ]
    kept_sessions = [
        _session(member, ended_ago=day, expires_in=day),  # ended recently
        _session(member, ended_ago=None, expires_in=day),  # live
        _session(member, ended_ago=None, expires_in=-day),  # expired recently
    ]
    hour = timedelta(hours=1)
    old_keys = [_idempotency_key(member, age=IDEMPOTENCY_TTL + hour) for _ in range(3)]
    kept_keys = [_idempotency_key(member, age=IDEMPOTENCY_TTL - hour)]
    return {
        "old_keys": old_keys,
        "kept_keys": kept_keys,
        "removed_tokens": expired + expired_blacklisted,
        "live_tokens": live,
        "old_sessions": old_sessions,
        "kept_sessions": kept_sessions,
    }


def run(*args: str) -> str:
    out = StringIO()
    call_command("cleanup_tokens", *args, stdout=out)
    return out.getvalue()


def test_removes_expired_tokens_and_old_sessions_in_batches_and_says_how_many(seeded):
    output = run("--batch-size", "2")

    assert output.strip() == (
        "Removed 5 expired outstanding tokens, 2 blacklisted tokens, 2 sessions,"
        " 3 idempotency keys, 0 webhook deliveries, 0 worker heartbeats,"
        " 0 events past their retention, 0 records of deleted projects' members."
    )
    assert set(OutstandingToken.objects.values_list("pk", flat=True)) == {
        token.pk for token in seeded["live_tokens"]
    }
    assert BlacklistedToken.objects.count() == 1  # the live blacklisted one stays
    assert set(UserSession.objects.values_list("pk", flat=True)) == {
        session.pk for session in seeded["kept_sessions"]
    }
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [
        record.pk for record in seeded["kept_keys"]
    ]


def test_dry_run_counts_and_removes_nothing(seeded):
    output = run("--dry-run")

    assert output.strip() == (
        "Would remove 5 expired outstanding tokens, 2 blacklisted tokens, 2 sessions,"
        " 3 idempotency keys, 0 webhook deliveries, 0 worker heartbeats,"
        " 0 events past their retention, 0 records of deleted projects' members."
    )
    assert OutstandingToken.objects.count() == 7
    assert BlacklistedToken.objects.count() == 3
    assert UserSession.objects.count() == 5
    assert IdempotencyKey.objects.count() == 4


def test_a_second_run_finds_nothing_left(seeded):
    run()

    assert (
        run().strip() == "Removed 0 expired outstanding tokens, 0 blacklisted tokens, 0 sessions,"
        " 0 idempotency keys, 0 webhook deliveries, 0 worker heartbeats,"
        " 0 events past their retention, 0 records of deleted projects' members."
    )


@pytest.mark.parametrize("args", [["--every", "0"], ["--batch-size", "-1"]])
def test_nonsense_arguments_are_refused(args):
    with pytest.raises(CommandError):
        call_command("cleanup_tokens", *args)


@pytest.fixture(scope="module")
def scheduler_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a scheduler process on a migrated database of its own."""
    directory = tmp_path_factory.mktemp("scheduler")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "VAR_DIR": str(directory),
    }
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True
    )
    return env


@pytest.mark.django_db(transaction=False)
def test_every_repeats_until_terminated(scheduler_env):
    env = scheduler_env
    process = subprocess.Popen(
        [sys.executable, "manage.py", "cleanup_tokens", "--every", "1"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()  # a second pass one second later
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert first.startswith("Removed 0 expired outstanding tokens")
    assert second.startswith("Removed 0 expired outstanding tokens")
    assert "Stopped." in rest
    assert process.returncode == 0


@pytest.mark.django_db(transaction=False)
def test_every_touches_the_heartbeat_after_each_run(scheduler_env, tmp_path):
    heartbeat = tmp_path / "heartbeat"
    process = subprocess.Popen(
        [
            *(sys.executable, "manage.py", "cleanup_tokens"),
            *("--every", "1", "--heartbeat", str(heartbeat)),
        ],
        cwd=BASE_DIR,
        env=scheduler_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        after_first_run = heartbeat.stat().st_mtime
        process.stdout.readline()
        process.stdout.readline()
        # The third line comes after the second run's touch, a second after the first's.
        after_third_run = heartbeat.stat().st_mtime
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert time.time() - after_first_run < 60
    assert after_third_run - after_first_run >= 0.9
    assert process.returncode == 0


def test_a_single_run_touches_the_heartbeat_too(tmp_path):
    heartbeat = tmp_path / "heartbeat"

    run("--heartbeat", str(heartbeat))

    assert time.time() - heartbeat.stat().st_mtime < 60


def test_a_heartbeat_that_cannot_be_written_is_refused_before_any_run(seeded, tmp_path):
    with pytest.raises(CommandError, match="heartbeat"):
        run("--heartbeat", str(tmp_path / "missing" / "heartbeat"))

    assert OutstandingToken.objects.count() == 7


def scheduler_health_check(heartbeat: Path) -> tuple[list[str], int]:
    """docker-compose.yml's scheduler health check, reading `heartbeat` instead of the
    container's file, and the scheduler's interval."""
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    scheduler = compose["services"]["scheduler"]
    command: list[str] = scheduler["command"]
    every = int(command[command.index("--every") + 1])
    path = command[command.index("--heartbeat") + 1]
    kind, executable, flag, code = scheduler["healthcheck"]["test"]
    assert (kind, executable, flag) == ("CMD", "python", "-c")
    assert code.count(path) == 1, "the check reads another file than the command writes"
    return [sys.executable, "-c", code.replace(path, str(heartbeat))], every


@pytest.mark.parametrize(
    ("intervals", "seconds", "healthy"),
    [
        (0, 0, True),
        (2, -60, True),  # a run late by most of an interval
        (2, 60, False),  # two intervals without a run
        (30, 0, False),
    ],
    ids=["fresh", "under-two-intervals", "over-two-intervals", "long-dead"],
)
def test_the_scheduler_health_check_fails_once_the_heartbeat_is_two_intervals_old(
    tmp_path, intervals, seconds, healthy
):
    heartbeat = tmp_path / "heartbeat"
    check, every = scheduler_health_check(heartbeat)
    heartbeat.touch()
    then = time.time() - (intervals * every + seconds)
    os.utime(heartbeat, (then, then))

    result = subprocess.run(check, capture_output=True, timeout=30)

    assert (result.returncode == 0) == healthy, result.stderr


def test_the_scheduler_health_check_fails_without_a_heartbeat(tmp_path):
    check, _ = scheduler_health_check(tmp_path / "never-written")

    assert subprocess.run(check, capture_output=True, timeout=30).returncode != 0


def test_a_large_table_of_live_tokens_is_left_alone(member):
    # How fast it runs on a million tokens is measured in bench/RESULTS.md, not here.
    now = timezone.now()
    OutstandingToken.objects.bulk_create(
        OutstandingToken(
            user=member,
            jti=uuid4().hex,
            token="x",
            created_at=now,
            expires_at=now + REFRESH_LIFETIME,
        )
        for _ in range(2000)
    )

    assert run("--batch-size", "300").startswith("Removed 0 expired outstanding tokens")
    assert OutstandingToken.objects.count() == 2000
