"""How long `manage.py cleanup_tokens` takes on a table of a million refresh tokens.

Seeds a throw-away PostgreSQL database (default `bench_cleanup` on the local server)
with 1,000,000 outstanding tokens, half of them expired and a fifth blacklisted, and
100,000 sessions, then times `cleanup_tokens --dry-run` and `cleanup_tokens` as
separate processes. Run: `.venv/bin/python bench/cleanup_tokens.py` (not part of CI).
"""

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
DB_NAME = "bench_cleanup"
TOKENS = int(os.environ.get("BENCH_TOKENS", "1000000"))
SESSIONS = TOKENS // 10

SEED: list[tuple[str, tuple[int, ...]]] = [
    (
        "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name,"
        " email, is_staff, is_active, date_joined)"
        " VALUES ('!', false, 'bench', '', '', 'bench@example.com', false, true, now())",
        (),
    ),
    (
        "INSERT INTO token_blacklist_outstandingtoken (user_id, jti, token, created_at, expires_at)"
        " SELECT (SELECT id FROM accounts_user WHERE username = 'bench'), md5(i::text), 'x',"
        " now() - interval '8 days',"
        " CASE WHEN i %% 2 = 0 THEN now() - interval '1 day' ELSE now() + interval '6 days' END"
        " FROM generate_series(1, %s) AS i",
        (TOKENS,),
    ),
    (
        "INSERT INTO token_blacklist_blacklistedtoken (token_id, blacklisted_at)"
        " SELECT id, now() FROM token_blacklist_outstandingtoken WHERE id % 5 = 0",
        (),
    ),
    (
        "INSERT INTO accounts_usersession (id, user_id, created_at, last_used_at, ip,"
        " user_agent, refresh_jti, expires_at, ended_at, end_reason)"
        " SELECT gen_random_uuid(), (SELECT id FROM accounts_user WHERE username = 'bench'),"
        " now() - interval '30 days',"
        " now() - interval '30 days', NULL, '', md5(i::text), now() - interval '20 days',"
        " CASE WHEN i %% 2 = 0 THEN now() - interval '20 days' END,"
        " CASE WHEN i %% 2 = 0 THEN 'logout' ELSE '' END"
        " FROM generate_series(1, %s) AS i",
        (SESSIONS,),
    ),
    ("ANALYZE", ()),
]


def main() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    env = {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{DB_NAME}",
        "SECRET_KEY": "bench-only-" + "k" * 50,
    }
    env.pop("REDIS_URL", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    started = time.monotonic()
    with psycopg.connect(f"{SERVER}/{DB_NAME}", autocommit=True) as conn:
        for statement, params in SEED:
            conn.execute(statement, params or None)
    seeded = time.monotonic() - started

    timings = {}
    outputs = {}
    for label, args in (("dry run", ["--dry-run"]), ("cleanup", []), ("second run", [])):
        started = time.monotonic()
        done = subprocess.run(
            [*manage, "cleanup_tokens", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        timings[label] = time.monotonic() - started
        outputs[label] = done.stdout.strip()

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        version = conn.execute("SHOW server_version").fetchone()

    lines = [
        "## cleanup_tokens on a million tokens",
        "",
        f"Command: `.venv/bin/python bench/cleanup_tokens.py` ({time.strftime('%Y-%m-%d')}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {version[0] if version else '?'}).",
        "",
        f"Seed: {TOKENS:,} outstanding tokens (half expired), every fifth blacklisted, "
        f"{SESSIONS:,} sessions long expired or ended; seeding took {seeded:.1f} s.",
        "Each run is a separate `manage.py` process (start-up included); batches of 5,000.",
        "",
        "| run | seconds | output |",
        "| --- | --- | --- |",
        *(f"| {label} | {timings[label]:.1f} | {outputs[label]} |" for label in timings),
        "",
    ]
    print("\n".join(lines))
    _write_section(ROOT / "bench" / "RESULTS.md", lines)


def _write_section(path: Path, lines: list[str]) -> None:
    """Replace this benchmark's section of RESULTS.md, keeping the others."""
    title = lines[0]
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    start = text.find(title)
    if start != -1:
        end = text.find("\n## ", start + len(title))
        text = text[:start] + (text[end + 1 :] if end != -1 else "")
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
