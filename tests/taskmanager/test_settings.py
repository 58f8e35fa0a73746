"""The settings switch: embedded defaults with nothing set, real services by environment.

Settings are read once at import, so each case runs in a fresh interpreter with a
controlled environment.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from taskmanager.settings import BASE_DIR

_PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "debug": settings.DEBUG,
    "db_engine": db["ENGINE"],
    "db_name": str(db["NAME"]),
    "db_pool": db.get("OPTIONS", {}).get("pool"),
    "db_prepare_threshold": db.get("OPTIONS", {}).get("prepare_threshold", "unset"),
    "db_options": db.get("OPTIONS", {}).get("options"),
    "conn_max_age": db.get("CONN_MAX_AGE"),
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"]["LOCATION"],
    "cache_options": settings.CACHES["default"].get("OPTIONS"),
    "redis_breaker_seconds": settings.REDIS_BREAKER_SECONDS,
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "layer_config": settings.CHANNEL_LAYERS["default"].get("CONFIG"),
    "media_root": str(settings.MEDIA_ROOT),
    "secret_key": settings.SECRET_KEY,
    "jwt_key": settings.SIMPLE_JWT["SIGNING_KEY"],
    "access_minutes": settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() / 60,
    "throttle_rates": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    "upload_max": settings.UPLOAD_MAX_BYTES,
}))
"""

_OURS = {
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "JWT_SIGNING_KEY",
    "DEBUG",
    "VAR_DIR",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "ACCESS_TOKEN_MINUTES",
    "THROTTLE_READ_RATE",
    "UPLOAD_MAX_BYTES",
    "REDIS_CONNECT_TIMEOUT_SECONDS",
    "REDIS_READ_TIMEOUT_SECONDS",
    "REDIS_BREAKER_SECONDS",
}


def run_settings(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _OURS}
    env.update({"DJANGO_SETTINGS_MODULE": "taskmanager.settings", "VAR_DIR": str(tmp_path)})
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def probe(tmp_path: Path, **variables: str) -> dict:
    result = run_settings(tmp_path, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_nothing_set_gives_the_embedded_defaults(tmp_path):
    found = probe(tmp_path)

    assert found["debug"] is False
    assert found["db_engine"] == "django.db.backends.sqlite3"
    assert found["db_name"] == str(tmp_path / "db.sqlite3")
    assert found["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert found["layer"] == "realtime.channel_layers.CountingInMemoryChannelLayer"
    assert found["layer_config"] == {"capacity": 1000, "expiry": 60}
    assert found["media_root"] == str(tmp_path / "media")
    assert found["access_minutes"] == 15
    assert found["throttle_rates"] == {
        "read": "60/min",
        "write": "10/min",
        "bulk_tasks": "1000/min",
        "login": "5/min",
        "login_ip": "30/min",
        "refresh": "60/min",
    }
    assert found["upload_max"] == 5 * 1024 * 1024


def test_database_and_redis_urls_switch_to_postgres_redis_and_channels_redis(tmp_path):
    found = probe(
        tmp_path,
        DATABASE_URL="postgres://app:pw@db.internal:5432/taskmanager",
        REDIS_URL="redis://cache.internal:6379/2",
        SECRET_KEY="x" * 60,
    )

    assert found["db_engine"] == "taskmanager.postgresql"  # Django's, its pool checked cheaper
    assert found["db_name"] == "taskmanager"
    assert found["db_pool"]["max_size"] >= 1  # psycopg 3 pool
    assert found["conn_max_age"] == 0  # required with the pool
    assert found["cache"] == "django_redis.cache.RedisCache"
    assert found["cache_location"] == "redis://cache.internal:6379/2"
    assert found["layer"] == "realtime.channel_layers.CountingRedisChannelLayer"
    assert [host["address"] for host in found["layer_config"]["hosts"]] == [
        "redis://cache.internal:6379/2"
    ]
    # channels-redis' default capacity of 100 drops events silently; ours is deliberate.
    assert found["layer_config"]["capacity"] >= 1000


def test_every_redis_call_is_bounded_by_short_timeouts_and_the_breaker(tmp_path):
    found = probe(tmp_path, REDIS_URL="redis://cache.internal:6379/2", SECRET_KEY="x" * 60)

    options = found["cache_options"]
    assert options["SOCKET_CONNECT_TIMEOUT"] == 0.25
    assert options["SOCKET_TIMEOUT"] == 0.5
    assert options["CONNECTION_POOL_CLASS"] == "taskmanager.redis_breaker.BreakerConnectionPool"
    (host,) = found["layer_config"]["hosts"]
    assert host["socket_connect_timeout"] == 0.25
    # The receive's blocking pop waits up to channels-redis' brpop_timeout for a
    # message: a read shorter than that would fail every idle receive.
    assert host["socket_timeout"] == 5.5
    assert found["layer_config"]["operation_timeout"] == 0.75
    assert found["redis_breaker_seconds"] == 5


def test_redis_timeouts_and_the_breaker_period_come_from_the_environment(tmp_path):
    found = probe(
        tmp_path,
        REDIS_URL="redis://cache.internal:6379/2",
        SECRET_KEY="x" * 60,
        REDIS_CONNECT_TIMEOUT_SECONDS="0.1",
        REDIS_READ_TIMEOUT_SECONDS="2",
        REDIS_BREAKER_SECONDS="30",
    )

    assert found["cache_options"]["SOCKET_CONNECT_TIMEOUT"] == 0.1
    assert found["cache_options"]["SOCKET_TIMEOUT"] == 2
    assert found["layer_config"]["hosts"][0]["socket_timeout"] == 7
    assert found["redis_breaker_seconds"] == 30


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf"])
def test_a_redis_timeout_that_is_not_a_positive_number_stops_start_up(tmp_path, value):
    result = run_settings(tmp_path, REDIS_READ_TIMEOUT_SECONDS=value)

    assert result.returncode != 0
    assert "REDIS_READ_TIMEOUT_SECONDS" in result.stderr


def test_environment_overrides_lifetimes_rates_and_limits(tmp_path):
    found = probe(
        tmp_path,
        ACCESS_TOKEN_MINUTES="5",
        THROTTLE_READ_RATE="1000/min",
        UPLOAD_MAX_BYTES="1024",
        MEDIA_ROOT=str(tmp_path / "elsewhere"),
    )

    assert found["access_minutes"] == 5
    assert found["throttle_rates"]["read"] == "1000/min"
    assert found["upload_max"] == 1024
    assert found["media_root"] == str(tmp_path / "elsewhere")


def test_embedded_secret_key_is_generated_once_and_kept_private(tmp_path):
    first = probe(tmp_path)["secret_key"]
    second = probe(tmp_path)["secret_key"]

    assert first == second
    assert len(first) >= 50
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_secret_key_from_the_environment_wins(tmp_path):
    assert probe(tmp_path, SECRET_KEY="k" * 64)["secret_key"] == "k" * 64
    assert not (tmp_path / "secret_key").exists()


def test_the_jwt_signing_key_is_its_own_or_else_the_secret_key(tmp_path):
    own = probe(tmp_path, SECRET_KEY="k" * 64, JWT_SIGNING_KEY="j" * 40)
    unset = probe(tmp_path, SECRET_KEY="k" * 64)
    empty = probe(tmp_path, SECRET_KEY="k" * 64, JWT_SIGNING_KEY="")  # `JWT_SIGNING_KEY=`

    assert own["jwt_key"] == "j" * 40
    assert unset["jwt_key"] == empty["jwt_key"] == "k" * 64


def test_a_short_jwt_signing_key_stops_start_up(tmp_path):
    result = run_settings(tmp_path, SECRET_KEY="k" * 64, JWT_SIGNING_KEY="secret")

    assert result.returncode != 0
    assert "JWT_SIGNING_KEY is shorter than 32 characters" in result.stderr


def test_missing_secret_key_stops_production_start_up(tmp_path):
    result = run_settings(tmp_path, DATABASE_URL="postgres://app@db.internal/taskmanager")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ("", "-c plan_cache_mode=force_generic_plan"),
        (
            "?options=-c%20statement_timeout%3D5000",
            "-c statement_timeout=5000 -c plan_cache_mode=force_generic_plan",
        ),
        ("?options=-c%20plan_cache_mode%3Dauto", "-c plan_cache_mode=auto"),
    ],
)
def test_statements_prepared_by_the_code_are_planned_once_for_every_value(tmp_path, query, options):
    """taskmanager.prepared's statement on a cursor that binds on the server: prepared
    at once, one plan; an operator's own options stay."""
    found = probe(
        tmp_path, DATABASE_URL=f"postgres://app@db.internal/tm{query}", SECRET_KEY="x" * 60
    )

    assert found["db_prepare_threshold"] == 0
    assert found["db_options"] == options


def test_with_server_side_binding_nothing_is_prepared_or_planned_generically(tmp_path):
    """Every ORM statement would then be prepared, and a generic plan is not right for
    every one: Django's own settings apply."""
    found = probe(
        tmp_path,
        DATABASE_URL="postgres://app@db.internal/tm?server_side_binding=true",
        SECRET_KEY="x" * 60,
    )

    assert found["db_prepare_threshold"] == "unset"
    assert found["db_options"] is None


def test_debug_with_postgres_may_use_the_generated_key(tmp_path):
    found = probe(tmp_path, DATABASE_URL="postgres://app@db.internal/tm", DEBUG="true")

    assert found["debug"] is True
    assert (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("value", ["maybe", "ture", "2"])
def test_a_bad_boolean_is_an_error_not_false(tmp_path, value):
    result = run_settings(tmp_path, DEBUG=value)

    assert result.returncode != 0
    assert "DEBUG=" in result.stderr
    assert "is not a boolean" in result.stderr


def test_a_non_numeric_limit_is_an_error(tmp_path):
    result = run_settings(tmp_path, UPLOAD_MAX_BYTES="five megabytes")

    assert result.returncode != 0
    assert "UPLOAD_MAX_BYTES" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("WEBSOCKET_PUBLIC_URL", "http://127.0.0.1:8001/ws/tasks/", "WEBSOCKET_PUBLIC_URL"),
    ],
)
def test_a_bad_logging_or_socket_setting_stops_start_up(tmp_path, variable, value, named):
    result = run_settings(tmp_path, **{variable: value})

    assert result.returncode != 0
    assert named in result.stderr
