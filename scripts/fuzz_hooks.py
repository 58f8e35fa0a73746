"""schemathesis hooks of scripts/fuzz (loaded through SCHEMATHESIS_HOOKS).

- Counts the requests sent per phase and operation into the JSON file FUZZ_COUNTS
  when the run ends (`{"fuzzing": {"GET /api/v1/tasks/": 100, ...}, ...}`), for
  scripts/fuzz's summary and its check that every operation got FUZZ_EXAMPLES
  cases in the fuzzing phase.
- With FUZZ_USERNAME set (the session-ending pass), every case logs in first and
  carries the access token of that new session, so a logout or a logout-all in one
  case leaves the next case a live session to end.
"""

import atexit
import json
import os
import threading
from collections import Counter
from typing import Any

import requests
import schemathesis

_calls: dict[str, Counter[str]] = {}
_lock = threading.Lock()


@schemathesis.hook
def after_call(ctx: Any, case: Any, response: Any) -> None:
    meta = case.meta
    phase = str(meta.phase.name) if meta is not None else "other"
    with _lock:
        _calls.setdefault(phase, Counter())[case.operation.label] += 1


@atexit.register
def _write_counts() -> None:
    path = os.environ.get("FUZZ_COUNTS")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(dict(_calls), handle)


if os.environ.get("FUZZ_USERNAME"):

    @schemathesis.auth(refresh_interval=None)
    class FreshSession:
        def get(self, case: Any, ctx: Any) -> str:
            response = requests.post(
                f"{os.environ['FUZZ_BASE_URL']}/api/v1/auth/login/",
                json={
                    "username": os.environ["FUZZ_USERNAME"],
                    "password": os.environ["FUZZ_PASSWORD"],
                },
                timeout=30,
            )
            response.raise_for_status()
            return str(response.json()["access"])

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
