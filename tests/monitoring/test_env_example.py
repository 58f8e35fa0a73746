""".env.example is what operators copy: as it stands it must neither start a service
with a key everyone knows nor set a setting to an empty value its default was meant to
fill, and what it lists must reach the containers docker compose starts."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from taskmanager.settings import BASE_DIR

ENV_EXAMPLE = BASE_DIR / ".env.example"
COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
APP_ENVIRONMENT: dict[str, str] = COMPOSE["services"]["web"]["environment"]

# Paths inside the image (Dockerfile ENV) that a host's .env must not move, and the
# signing key, which compose leaves to SECRET_KEY (an empty one would pass as a key).
NOT_FOR_THE_APP_CONTAINERS = {"VAR_DIR", "MEDIA_ROOT", "STATIC_ROOT", "JWT_SIGNING_KEY"}
# Read by another service of the compose file (the app gets the database password in
# its DATABASE_URL).
FOR_OTHER_SERVICES = {"GRAFANA_ADMIN_PASSWORD": "grafana", "POSTGRES_PASSWORD": "db"}


def example_variables() -> dict[str, str]:
    """The file as `docker run --env-file` or systemd's EnvironmentFile read it."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            found[name.strip()] = value
    return found


def settings_with(environment: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Imports the settings in a fresh interpreter with exactly this environment and
    prints the signing keys, as a container started with the file would."""
    script = (
        "from taskmanager import settings; "
        "print(repr(settings.SECRET_KEY)); print(repr(settings.SIMPLE_JWT['SIGNING_KEY']))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(BASE_DIR), **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_example_as_copied_does_not_start_with_a_known_secret_key(tmp_path):
    # `cp .env.example .env && docker compose up` ran on the placeholder before: every
    # session and token was signed with a key published in the repository.
    variables = example_variables()

    assert variables["SECRET_KEY"] == ""
    assert APP_ENVIRONMENT["SECRET_KEY"].startswith("${SECRET_KEY:?")
    # Outside compose (docker run --env-file): start-up stops instead.
    result = settings_with({**variables, "VAR_DIR": str(tmp_path)}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_the_example_with_a_secret_key_signs_tokens_with_that_key(tmp_path):
    # `JWT_SIGNING_KEY=` in the file used to give an empty signing key: HS256 tokens
    # anyone could forge.
    secret = "a-long-random-value-" + "x" * 40
    variables = {**example_variables(), "SECRET_KEY": secret, "VAR_DIR": str(tmp_path)}

    result = settings_with(variables, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [repr(secret), repr(secret)]


def test_every_variable_of_the_example_reaches_the_containers_that_read_it():
    # Compose reads .env only to fill in this file: a variable it does not pass on is
    # silently ignored (LOG_LEVEL, THROTTLE_REFRESH_RATE, the HSTS settings were).
    missing = [
        name
        for name in example_variables()
        if name not in APP_ENVIRONMENT
        and name not in NOT_FOR_THE_APP_CONTAINERS
        and name not in FOR_OTHER_SERVICES
    ]

    assert missing == []
    for name, service in FOR_OTHER_SERVICES.items():
        assert f"${{{name}" in str(COMPOSE["services"][service]["environment"]), name


def test_the_app_containers_take_what_the_operator_sets():
    # Each passed-on value is the operator's when set (${NAME:-default}), except the
    # few compose fixes on purpose.
    fixed = {"DATABASE_URL", "REDIS_URL", "DEBUG", "TRUST_X_FORWARDED_PROTO", "NUM_PROXIES"}

    for name in example_variables().keys() & APP_ENVIRONMENT.keys() - fixed:
        assert str(APP_ENVIRONMENT[name]).startswith(f"${{{name}:"), name
