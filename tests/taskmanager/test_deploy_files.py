"""The Docker files, checked without Docker: a newcomer who runs `cp .env.example .env`,
sets the two secrets and `docker compose up` gets a stack that takes no password
from the repository, logs people in over http://localhost:8080, and runs an image
that holds what runs and nothing else (no tests, benchmarks or CI files).

Compose's `${NAME:-default}` and `${NAME:?error}` are interpolated here as compose
does; the image's files are those the Dockerfile's COPY lines take from the build
context that .dockerignore leaves, and Django is started from a copy of exactly them.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskmanager.settings import BASE_DIR

COMPOSE_TEXT = (BASE_DIR / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "ws", "scheduler"]
# What an operator sets after copying the example, as the comments there ask.
SECRETS = {"SECRET_KEY": "k" * 50, "POSTGRES_PASSWORD": "Zq0-random_Password"}
NEVER_IN_THE_IMAGE = ["tests", "bench", ".ci", ".git", ".venv", "var", "scripts", "deploy"]
NEVER_IN_THE_IMAGE_FILES = [".env", "docker-compose.yml", "Makefile", "requirements-dev.txt"]
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def example_variables() -> dict[str, str]:
    found = {}
    for line in (BASE_DIR / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            found[name.strip()] = value
    return found


class ComposeError(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """A value of the compose file with `env` (.env) filled in, as compose does."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        given = env.get(name, "")
        if op == ":?" and not given:
            raise ComposeError(f"{name}: {arg}")
        if op == ":-" and not given:
            return arg
        return given

    return VARIABLE.sub(fill, value)


def container_environment(env: dict[str, str], service: str = "web") -> dict[str, str]:
    return {k: str(v) for k, v in interpolate(SERVICES[service]["environment"], env).items()}


# --- docker-compose.yml and .env.example ----------------------------------------------


def test_compose_takes_the_database_password_from_env_with_no_default():
    assert SERVICES["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    for service in APP_SERVICES:
        url = SERVICES[service]["environment"]["DATABASE_URL"]
        assert re.fullmatch(
            r"postgres://taskmanager:\$\{POSTGRES_PASSWORD:\?[^}]+\}@db:5432/\w+", url
        )


def test_compose_fixes_no_password_or_key():
    # In a URL's credentials or in a variable named like a secret: only ${NAME:?...}
    # (required) or an empty default; Grafana's first login asks for a new password.
    for found in re.finditer(r"://[^\s:/@]+:([^@\s]+)@", COMPOSE_TEXT):
        assert found[1].startswith("${") and ":?" in found[1], found[0]
    for line in COMPOSE_TEXT.splitlines():
        key, colon, value = line.strip().partition(":")
        if not colon or not re.search(r"(PASSWORD|SECRET|_KEY|_TOKEN)$", key):
            continue
        value = value.strip()
        assert (
            re.fullmatch(r"\$\{\w+(:\?[^}]+|:-)\}", value) or key == "GF_SECURITY_ADMIN_PASSWORD"
        ), line


def test_the_example_as_copied_does_not_start_compose_without_the_two_secrets():
    example = example_variables()
    assert example["SECRET_KEY"] == "" and example["POSTGRES_PASSWORD"] == ""

    with pytest.raises(ComposeError, match="SECRET_KEY"):
        container_environment({**example, "POSTGRES_PASSWORD": "set"})
    with pytest.raises(ComposeError, match="POSTGRES_PASSWORD"):
        interpolate(SERVICES["db"]["environment"], {**example, "SECRET_KEY": "set"})
    with pytest.raises(ComposeError, match="POSTGRES_PASSWORD"):
        container_environment({**example, "SECRET_KEY": "set"})


def test_the_app_and_the_database_get_the_same_password():
    env = {**example_variables(), **SECRETS}

    db = interpolate(SERVICES["db"]["environment"], env)
    for service in APP_SERVICES:
        url = container_environment(env, service)["DATABASE_URL"]
        assert url == f"postgres://taskmanager:{SECRETS['POSTGRES_PASSWORD']}@db:5432/taskmanager"
    assert db["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]


def test_every_variable_compose_reads_is_in_the_env_example():
    read = {match["name"] for match in VARIABLE.finditer(COMPOSE_TEXT)}

    assert read - set(example_variables()) == set()


def settings_of(environment: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """The settings a container started with this environment has."""
    script = (
        "import json; from taskmanager import settings as s; print(json.dumps({"
        "'session_secure': s.SESSION_COOKIE_SECURE, 'csrf_secure': s.CSRF_COOKIE_SECURE, "
        "'ssl_redirect': s.SECURE_SSL_REDIRECT, 'hosts': s.ALLOWED_HOSTS, "
        "'csrf_origins': s.CSRF_TRUSTED_ORIGINS, 'debug': s.DEBUG}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(BASE_DIR),
            "VAR_DIR": str(tmp_path),
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_example_serves_the_compose_stack_over_http_on_localhost(tmp_path):
    # SECURE_COOKIES=true made every cookie Secure: a browser on http://localhost:8080
    # did not send the session (or the CSRF cookie) back, and nobody could log in.
    found = settings_of(container_environment({**example_variables(), **SECRETS}), tmp_path)

    assert found["debug"] is False
    assert found["session_secure"] is False and found["csrf_secure"] is False
    assert found["ssl_redirect"] is False
    assert "localhost" in found["hosts"]
    assert "http://localhost:8080" in found["csrf_origins"]


def test_production_values_the_example_names_make_cookies_secure_and_redirect(tmp_path):
    production = {
        **example_variables(),
        **SECRETS,
        "ALLOWED_HOSTS": "tasks.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://tasks.example.com",
        "SECURE_COOKIES": "true",
        "SECURE_SSL_REDIRECT": "true",
    }

    found = settings_of(container_environment(production), tmp_path)

    assert found["session_secure"] is True and found["csrf_secure"] is True
    assert found["ssl_redirect"] is True
    example = (BASE_DIR / ".env.example").read_text()
    for setting in ("SECURE_COOKIES=true", "SECURE_SSL_REDIRECT=true"):
        assert setting in example, f"the example's comments name {setting}"


def test_a_login_over_http_works_with_the_containers_cookie_settings(client, settings, db):
    from tests.factories import PASSWORD, UserFactory

    environment = container_environment({**example_variables(), **SECRETS})
    settings.SESSION_COOKIE_SECURE = environment["SECURE_COOKIES"] == "true"
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE
    UserFactory(username="mia")

    response = client.post(
        "/login/", {"username": "mia", "password": PASSWORD}, HTTP_HOST="localhost:8080"
    )

    assert response.status_code == 302
    assert not response.cookies["sessionid"]["secure"]


# --- Dockerfile and .dockerignore -----------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (BASE_DIR / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it (Go's filepath.Match, plus `**`):
    `*` and `?` stay within a folder, `**/` spans any number of them."""
    regex = ""
    rest = pattern.strip("/")
    while rest:
        if rest.startswith("**/"):
            regex, rest = regex + "(?:.*/)?", rest[3:]
        elif rest.startswith("**"):
            regex, rest = regex + ".*", rest[2:]
        elif rest[0] == "*":
            regex, rest = regex + "[^/]*", rest[1:]
        elif rest[0] == "?":
            regex, rest = regex + "[^/]", rest[1:]
        else:
            regex, rest = regex + re.escape(rest[0]), rest[1:]
    return re.compile(regex)


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path, or a folder above it,
    decides; `!` re-includes."""
    parts = path.split("/")
    folders_and_path = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = pattern_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(candidate) for candidate in folders_and_path):
            result = not negate
    return result


def build_context() -> list[str]:
    patterns = dockerignore_patterns()
    files = []
    for path in BASE_DIR.rglob("*"):
        if path.is_file():
            relative = path.relative_to(BASE_DIR).as_posix()
            if not relative.startswith((".git/", ".venv/")) and not ignored(relative, patterns):
                files.append(relative)
    return sorted(files)


def runtime_copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY of the last stage that takes from the
    build context (not --from another stage)."""
    text = (BASE_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    stage = re.split(r"^FROM\s.*$", text, flags=re.MULTILINE)[-1]
    copies = []
    for arguments in re.findall(r"^COPY\s+(.*)$", stage, flags=re.MULTILINE):
        words = arguments.split()
        if any(word.startswith("--from") for word in words):
            continue
        words = [word for word in words if not word.startswith("--")]
        copies.append((words[:-1], words[-1]))
    return copies


def image_files() -> dict[str, str]:
    """The image's files under WORKDIR from the build context: path in the image ->
    path in the repository."""
    context = build_context()
    found: dict[str, str] = {}
    for sources, destination in runtime_copies():
        for source in sources:
            source = source.rstrip("/")
            if source in context:  # a file: to the destination, or into it
                name = source.split("/")[-1] if destination.endswith("/") else ""
                found[os.path.normpath(destination + name)] = source
                continue
            under = [path for path in context if path.startswith(source + "/")]
            assert under, f"COPY {source}: nothing in the build context"
            for path in under:
                found[os.path.normpath(destination + "/" + path[len(source) + 1 :])] = path
    return found


def test_the_build_context_leaves_out_tests_benchmarks_ci_and_local_state():
    patterns = dockerignore_patterns()

    for name in [*NEVER_IN_THE_IMAGE, *NEVER_IN_THE_IMAGE_FILES, ".env", "deploy/metrics_token"]:
        assert ignored(name, patterns), name
        assert ignored(f"{name}/anything", patterns), name
    assert ignored("tasks/__pycache__/views.cpython-311.pyc", patterns)
    assert not ignored("docs/asyncapi.yaml", patterns)
    assert not ignored("requirements.txt", patterns)


def test_the_image_holds_what_runs_and_nothing_else():
    files = image_files()

    for required in ("manage.py", "gunicorn.conf.py", "docs/asyncapi.yaml"):
        assert required in files, required
    for app in ("taskmanager", "accounts", "tasks", "files", "monitoring", "realtime"):
        assert f"{app}/__init__.py" in files, app
    assert "templates/home.html" in files
    assert "monitoring/healthcheck.py" in files  # the image's HEALTHCHECK
    for path in files:
        top = path.split("/")[0]
        assert top not in NEVER_IN_THE_IMAGE and path not in NEVER_IN_THE_IMAGE_FILES, path
        assert "__pycache__" not in path, path


def test_every_app_of_the_settings_is_in_the_image():
    from django.conf import settings

    files = image_files()
    local_apps = [app for app in settings.INSTALLED_APPS if (BASE_DIR / app).is_dir()]

    assert local_apps
    for app in local_apps:
        assert f"{app}/__init__.py" in files, app


_SMOKE = """
import django
django.setup()
from django.test import Client
from django.core.management import call_command
import taskmanager.asgi, taskmanager.wsgi  # both servers' applications
exec(open("gunicorn.conf.py").read(), {})
call_command("migrate", verbosity=0)
client = Client(HTTP_HOST="localhost")
for path in ["/", "/login/", "/register/", "/api/v1/", "/api/docs/", "/api/redoc/",
             "/api/asyncapi/", "/api/schema/", "/admin/login/", "/monitoring/health/"]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    if path == "/api/redoc/":
        static = [u for u in response.content.decode().split('"') if u.startswith("/static/")]
        assert static and all(client.get(u).status_code == 200 for u in static), static
print("served")
"""


def test_django_runs_from_the_images_files_alone(tmp_path):
    app = tmp_path / "app"
    for target, source in image_files().items():
        (app / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(BASE_DIR / source, app / target)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "taskmanager.settings",
        "DEBUG": "false",
        "SECRET_KEY": "image-test-" + "k" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "SECURE_COOKIES": "false",
    }

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *command],
            cwd=app,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    # The Dockerfile's build step, then the servers' imports and a page of each kind.
    collected = run("manage.py", "collectstatic", "--noinput", "--verbosity", "0")
    assert collected.returncode == 0, collected.stderr
    served = run("-c", _SMOKE)
    assert served.returncode == 0, served.stderr[-3000:]
    assert served.stdout.strip().endswith("served")
