"""manage.py cleanup_tokens: what it removes, what it keeps, and its scheduler mode."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from uuid import uuid4

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import UserSession
from taskmanager.settings import BASE_DIR

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
    return {
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
        "Removed 5 expired outstanding tokens, 2 blacklisted tokens, 2 sessions."
    )
    assert set(OutstandingToken.objects.values_list("pk", flat=True)) == {
        token.pk for token in seeded["live_tokens"]
    }
    assert BlacklistedToken.objects.count() == 1  # the live blacklisted one stays
    assert set(UserSession.objects.values_list("pk", flat=True)) == {
        session.pk for session in seeded["kept_sessions"]
    }


def test_dry_run_counts_and_removes_nothing(seeded):
    output = run("--dry-run")

    assert output.strip() == (
        "Would remove 5 expired outstanding tokens, 2 blacklisted tokens, 2 sessions."
    )
    assert OutstandingToken.objects.count() == 7
    assert BlacklistedToken.objects.count() == 3
    assert UserSession.objects.count() == 5


def test_a_second_run_finds_nothing_left(seeded):
    run()

    assert (
        run().strip() == "Removed 0 expired outstanding tokens, 0 blacklisted tokens, 0 sessions."
    )


@pytest.mark.parametrize("args", [["--every", "0"], ["--batch-size", "-1"]])
def test_nonsense_arguments_are_refused(args):
    with pytest.raises(CommandError):
        call_command("cleanup_tokens", *args)


@pytest.mark.django_db(transaction=False)
def test_every_repeats_until_terminated(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
    }
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True
    )
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
