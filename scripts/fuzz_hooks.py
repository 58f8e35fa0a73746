"""schemathesis hooks of scripts/fuzz (loaded through SCHEMATHESIS_HOOKS).

- Counts the requests sent per phase and operation into the JSON file FUZZ_COUNTS
  when the run ends (`{"fuzzing": {"GET /api/v1/tasks/": 100, ...}, ...}`), for
  scripts/fuzz's summary and its check that every operation got FUZZ_EXAMPLES
  cases in the fuzzing phase.
- With FUZZ_USERNAME set (the session-ending pass), every case logs in first and
  carries the access token of that new session, so a logout or a logout-all in one
  case leaves the next case a live session to end.
- Makes the values of schema-valid (positive) cases that the server refuses for
  reasons no schema can express valid, so that `positive_data_acceptance` holds the
  server to everything else (`valid_where_no_schema_can_say`).
"""

import atexit
import itertools
import json
import os
import re
import secrets
import threading
from collections import Counter
from typing import Any

import requests
import schemathesis
from schemathesis.core.parameters import ParameterLocation

_calls: dict[str, Counter[str]] = {}
_lock = threading.Lock()


@schemathesis.hook
def after_call(ctx: Any, case: Any, response: Any) -> None:
    meta = case.meta
    phase = str(meta.phase.name) if meta is not None else "other"
    with _lock:
        _calls.setdefault(phase, Counter())[case.operation.label] += 1


# The fuzzing identity's id, password and personal project, the other identity's id,
# the peer's id, the invitee's id and username (scripts/fuzz).
SELF_ID = int(os.environ.get("FUZZ_SELF_ID", "0"))
SELF_PROJECT_ID = int(os.environ.get("FUZZ_SELF_PROJECT_ID", "0"))
OTHER_ID = int(os.environ.get("FUZZ_OTHER_ID", "0"))
PEER_ID = int(os.environ.get("FUZZ_PEER_ID", "0"))
INVITEE_ID = int(os.environ.get("FUZZ_INVITEE_ID", "0"))
INVITEE_USERNAME = os.environ.get("FUZZ_INVITEE_USERNAME", "")
PASSWORD = os.environ.get("FUZZ_PASSWORD", "")
TASK_WRITES = ("POST /api/v1/tasks/", "PUT /api/v1/tasks/{id}/", "PATCH /api/v1/tasks/{id}/")
MEMBER_ADD = "POST /api/v1/projects/{id}/members/"
MEMBER_CHANGES = (
    "PATCH /api/v1/projects/{id}/members/{user_id}/",
    "DELETE /api/v1/projects/{id}/members/{user_id}/",
)
# Each pass is a process of its own on the same database: names apart per pass.
_serial = itertools.count(secrets.randbelow(10**6) * 10**6)


def _unique(value: str, limit: int) -> str:
    """`value` made unique in the run, within `limit` characters. Digits after an
    underscore: of no script, so no name becomes one mixing scripts."""
    suffix = f"_{next(_serial)}"
    return value[: limit - len(suffix)] + suffix


def _unique_email(value: str) -> str:
    """`value` made unique in the run by a `+<n>` tag in its local part (inside the
    quotes of a quoted one), as valid for the schema's pattern as before; a plain
    address if the tag does not fit in the 254 characters."""
    local, at, domain = value.rpartition("@")
    if not at:
        return value
    tag = f"+{next(_serial)}"
    local = f'{local[:-1]}{tag}"' if local.startswith('"') else f"{local}{tag}"
    email = f"{local}@{domain}"
    return email if len(email) <= 254 else f"fuzz{tag}@example.com"


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: Any) -> None:
    valid_where_no_schema_can_say(case)
    headers_judged_as_sent(case)


def headers_judged_as_sent(case: Any) -> None:
    """A positive case's headers judged again by the values it sends. schemathesis
    4.32.5's coverage phase draws header values from letters and digits only; for a
    pattern that needs others (`If-Match`'s quotes) it sends "0" and still calls the
    case valid, so positive_data_acceptance would fail the server's right 400. Marked
    modified, the headers are validated against the schema before the call, and such a
    case counts as the invalid one it is (a private API, of the pinned version)."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive:
        location = ParameterLocation.HEADER
        if location in meta.components:
            meta.mark_dirty(location)


def valid_where_no_schema_can_say(case: Any) -> None:
    """Positive cases only (a negative one is refused anyway), each value replaced by
    one as valid for the schema and that the server's semantic rules accept too:

    - a password the validators find strong (length, common, numeric, similar to the
      name), and the identity's real one as `current_password`, the new password being
      that same one so later cases and passes still log in with it;
    - usernames and emails unique in the run: taken names, and names whose Unicode
      skeleton is one taken (look-alikes), are refused (accounts/usernames.py);
    - a task's `project` that the identity writes to (its personal project) and an
      `assignee` who is a member of it (the identity itself, the project's admin; a
      task written with an assignee goes to that project): ids of other objects,
      which the schema types as integers but cannot name (an upload's `task` needs
      nothing: one the caller cannot see is a 404, which the check allows);
    - a user to add to a project who exists and is active, by username: the invitee,
      never the peer (a member reads the project, which object_level_authorization
      holds the peer must not); and the invitee as the member whose role changes or
      who is removed, unless the identity names itself (leaving);
    - PATCH /users/{id}/ of the other identity, never of the admin itself (a superuser
      is always an admin and nobody deactivates themselves) nor of the peer (promoted,
      it could read what object_level_authorization holds it must not) nor of the
      invitee (deactivated, it could no longer be added).
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    label = case.operation.label
    body = case.body if isinstance(case.body, dict) else None
    if label == "POST /api/v1/auth/register/" and body is not None:
        if isinstance(body.get("password"), str):
            body["password"] = secrets.token_urlsafe(16) + "-Aa1"
        if isinstance(body.get("username"), str):
            # The schema lets any character outside ASCII through (ECMA-262 cannot say
            # which letters Django takes); the server refuses symbols and mixed scripts.
            body["username"] = _unique(re.sub(r"[^A-Za-z0-9_.@+-]", "x", body["username"]), 150)
        if isinstance(body.get("email"), str):
            body["email"] = _unique_email(body["email"])
    elif label == "PATCH /api/v1/users/me/" and body is not None:
        for name in ("password", "current_password"):
            if isinstance(body.get(name), str):
                body[name] = PASSWORD
        if isinstance(body.get("email"), str):
            body["email"] = _unique_email(body["email"])
    elif label == "PATCH /api/v1/users/{id}/":
        kept = (str(SELF_ID), str(PEER_ID), str(INVITEE_ID))
        if str(case.path_parameters.get("id")) in kept and OTHER_ID:
            case.path_parameters["id"] = OTHER_ID
    elif label in TASK_WRITES and body is not None:
        assigned = isinstance(body.get("assignee"), int)
        if assigned:
            body["assignee"] = SELF_ID or body["assignee"]
        if SELF_PROJECT_ID and (assigned or isinstance(body.get("project"), int)):
            body["project"] = SELF_PROJECT_ID
    elif label == MEMBER_ADD and body is not None and INVITEE_USERNAME:
        body.pop("email", None)
        body["username"] = INVITEE_USERNAME
    elif (
        label in MEMBER_CHANGES
        and INVITEE_ID
        and str(case.path_parameters.get("user_id")) != str(SELF_ID)
    ):
        case.path_parameters["user_id"] = INVITEE_ID


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
