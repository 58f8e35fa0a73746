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
  server to everything else (`valid_where_no_schema_can_say`): some name objects
  that exist, made for the case through the API as the identity (`_Objects`).
"""

import atexit
import itertools
import json
import os
import re
import secrets
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
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
MOVE = "POST /api/v1/tasks/{id}/move/"
RELATIONS = ("GET /api/v1/tasks/{id}/relations/", "POST /api/v1/tasks/{id}/relations/")
RELATION_DELETE = "DELETE /api/v1/tasks/{id}/relations/{relation_id}/"
BULK_UPDATE = "POST /api/v1/tasks/bulk/"
BULK_DELETE = "POST /api/v1/tasks/bulk-delete/"
TASK_COMMENTS = ("GET /api/v1/tasks/{task_id}/comments/", "POST /api/v1/tasks/{task_id}/comments/")
COMMENT = (
    "GET /api/v1/comments/{id}/",
    "PATCH /api/v1/comments/{id}/",
    "DELETE /api/v1/comments/{id}/",
)
NOTIFICATION_READ = "POST /api/v1/notifications/{id}/read/"
WEBHOOK_WRITES = ("POST /api/v1/webhooks/", "PATCH /api/v1/webhooks/{id}/")
PERSONAL_TOKEN_CREATE = "POST /api/v1/auth/tokens/"  # noqa: S105 (an operation)
SYNC = "GET /api/v1/sync/"
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


class _Objects:
    """Objects that exist, read or made for a case through the API as the fuzzing
    identity (FUZZ_BASE_URL, FUZZ_ACCESS): tasks, labels, relations and comments the
    case's ids then name. Made afresh for each case: the fuzzer deletes what it can
    name."""

    def __init__(self) -> None:
        self.base_url = os.environ.get("FUZZ_BASE_URL", "")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {os.environ.get('FUZZ_ACCESS', '')}"

    @property
    def usable(self) -> bool:
        return bool(self.base_url and os.environ.get("FUZZ_ACCESS") and SELF_PROJECT_ID)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._request(method, path, body)
        return response.json() if response.ok and response.content else None

    def _request(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, f"{self.base_url}{path}", json=body, timeout=30)

    def _make(self, path: str, body: Any, project: int) -> Any:
        """POST `body` to `path` in `project`. The fuzzer may have archived the project
        (its PATCH is an operation like any other): then it is restored and asked again,
        where the 409 would leave the case's drawn id in place (a right 400 or 404)."""
        response = self._request("POST", path, body)
        if response.status_code == 409:
            self._request("PATCH", f"/api/v1/projects/{project}/", {"is_archived": False})
            response = self._request("POST", path, body)
        return response.json() if response.ok and response.content else None

    def task_read(self, task_id: Any) -> Any:
        """A task the identity sees, as the API shows it; None for one it does not."""
        return self._call("GET", f"/api/v1/tasks/{task_id}/") if _is_id(task_id) else None

    def task_project(self, task_id: Any) -> int | None:
        """The project of a task the identity sees, None for one it does not."""
        task = self.task_read(task_id)
        return int(task["project"]) if task else None

    def task(self, project: int = SELF_PROJECT_ID) -> int | None:
        made = self._make("/api/v1/tasks/", {"title": "Fixture", "project": project}, project)
        return int(made["id"]) if made else None

    def label(self, project: int = SELF_PROJECT_ID) -> int | None:
        body = {"name": _unique("fixture", 50), "color": "#336699"}
        made = self._make(f"/api/v1/projects/{project}/labels/", body, project)
        return int(made["id"]) if made else None

    def relation_ids(self, task_id: Any) -> set[int]:
        found = self._call("GET", f"/api/v1/tasks/{task_id}/relations/?limit=100")
        return {int(r["id"]) for r in found["results"]} if found else set()

    def relation(self) -> tuple[int, int] | None:
        """A fresh task and a relation of it: (task, relation)."""
        task, other = self.task(), self.task()
        if task is None or other is None:
            return None
        made = self._call(
            "POST", f"/api/v1/tasks/{task}/relations/", {"kind": "relates_to", "task": other}
        )
        return (task, int(made["id"])) if made else None

    def comment_visible(self, comment_id: Any) -> bool:
        return (
            _is_id(comment_id) and self._call("GET", f"/api/v1/comments/{comment_id}/") is not None
        )

    def notification_ids(self) -> list[int]:
        """The identity's notifications (scripts/fuzz has another user make some)."""
        found = self._call("GET", "/api/v1/notifications/?limit=100")
        return [int(n["id"]) for n in found["results"]] if found else []

    def comment(self) -> int | None:
        task = self.task()
        if task is None:
            return None
        made = self._call("POST", f"/api/v1/tasks/{task}/comments/", {"body": "A fixture"})
        return int(made["id"]) if made else None


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


_objects = _Objects()


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: Any) -> None:
    valid_where_no_schema_can_say(case)
    headers_judged_as_sent(case)
    absent_in_forms(case)


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


def absent_in_forms(case: Any) -> None:
    """A negative multipart case's value that a form reads as no value, made one it
    reads. schemathesis sends a list as one part per item, so an empty list as no part;
    and the server reads an empty part of an optional field as the field left out, as
    DRF reads HTML forms, which send every input. Either way the request is a valid one
    and negative_data_rejection would fail the server for accepting it. The empty list
    becomes two parts (the form's nearest to an array; a repeated field is refused),
    the empty text a word no integer field takes."""
    meta = case.meta
    if meta is None or meta.generation.mode.is_positive:
        return
    if not isinstance(case.body, dict) or "multipart/" not in str(case.media_type):
        return
    for name, value in case.body.items():
        if value == []:
            case.body[name] = ["1", "1"]
        elif value == "":
            case.body[name] = "none"


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
      task written with an assignee or moved there gets it): ids of other objects,
      which the schema types as integers but cannot name (an upload's `task` needs
      nothing: one the caller cannot see is a 404, which the check allows);
    - a user to add to a project who exists and is active, by username: the invitee,
      never the peer (a member reads the project, which object_level_authorization
      holds the peer must not); and the invitee as the member whose role changes or
      who is removed, unless the identity names itself (leaving);
    - PATCH /users/{id}/ of the other identity, never of the admin itself (a superuser
      is always an admin and nobody deactivates themselves) nor of the peer (promoted,
      it could read what object_level_authorization holds it must not) nor of the
      invitee (deactivated, it could no longer be added);
    - objects that exist where a case names one (`valid_references`).
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
            # The task's own assignee must be a member there too (else a 400 naming
            # it): the identity, unless the case names one.
            if SELF_ID:
                body.setdefault("assignee", SELF_ID)
            moved_without_subtasks(case)
        task_references(case, body)
    elif label == MEMBER_ADD and body is not None and INVITEE_USERNAME:
        body.pop("email", None)
        body["username"] = INVITEE_USERNAME
    elif (
        label in MEMBER_CHANGES
        and INVITEE_ID
        and str(case.path_parameters.get("user_id")) != str(SELF_ID)
    ):
        case.path_parameters["user_id"] = INVITEE_ID
    elif label in WEBHOOK_WRITES and body is not None:
        webhook_values(body)
    elif (
        label == PERSONAL_TOKEN_CREATE
        and body is not None
        and isinstance(body.get("expires_at"), str)
    ):
        # In the future and within a year: the schema cannot say "after now".
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    elif label == SYNC:
        sync_cursor(case)
    else:
        valid_references(case, body)


def webhook_values(body: dict[str, Any]) -> None:
    """A webhook's `url` that the server's checks accept (public https host names; the
    pattern also lets through private IP literals and names no resolver takes), its
    `project` one the identity administers (its personal project), and `event_types`
    known ones (all: the schema cannot list the registered types)."""
    if isinstance(body.get("url"), str):
        body["url"] = f"https://hooks.example.com/{_unique('in', 60)}"
    if isinstance(body.get("project"), int) and SELF_PROJECT_ID:
        body["project"] = SELF_PROJECT_ID
    if isinstance(body.get("event_types"), list):
        body["event_types"] = []


def sync_cursor(case: Any) -> None:
    """A cursor the server gave (a drawn one matches the pattern but is not signed:
    400 `invalid_cursor` is the right answer to it)."""
    query = case.query
    if not (_objects.usable and isinstance(query, dict) and "cursor" in query):
        return
    page = _objects._call("GET", "/api/v1/sync/?")
    if page and isinstance(page.get("cursor"), str):
        query["cursor"] = page["cursor"]


def moved_without_subtasks(case: Any) -> None:
    """A task moved into the identity's project takes its subtasks along, and a
    subtask's assignee must be a member there too (a 400 naming it), which no schema
    can say: a task of another project with subtasks is replaced by a new one of that
    project, so the move is still fuzzed."""
    if not _objects.usable or case.operation.label == "POST /api/v1/tasks/":
        return
    task = _objects.task_read(case.path_parameters.get("id"))
    if task and int(task["project"]) != SELF_PROJECT_ID and task["subtasks"]["total"]:
        # Where no task can be made there, one of the identity's project: not moved.
        case.path_parameters["id"] = (
            _objects.task(int(task["project"])) or _objects.task() or task["id"]
        )


def task_references(case: Any, body: dict[str, Any]) -> None:
    """A task's `labels` and `parent`: labels and a task of the project it will be in
    (a label of another project, a parent elsewhere, are refused), made afresh; a new
    parent has no parent nor subtasks, so no cycle and no depth past the limit. For a
    task the identity does not see (404 whatever the body), nothing."""
    if not _objects.usable or not ({"labels", "parent"} & set(body)):
        return
    if case.operation.label == "POST /api/v1/tasks/" or isinstance(body.get("project"), int):
        project: int | None = SELF_PROJECT_ID
    else:
        project = _objects.task_project(case.path_parameters.get("id"))
    if project is None:
        return
    if isinstance(body.get("labels"), list):
        label = _objects.label(project) if body["labels"] else None
        body["labels"] = [label] if label is not None else []
    if isinstance(body.get("parent"), int):
        body["parent"] = _objects.task(project)


def valid_references(case: Any, body: dict[str, Any] | None) -> None:
    """Ids of the collaboration's operations, where the server must find an object:

    - a move's neighbour (`before` or `after`), a task of the moved task's project;
    - a relation's other task, one the identity sees (never the task itself);
    - the relation a DELETE names, one of the task of its URL;
    - the ids of a bulk change or deletion, tasks the identity may change (one id for
      another is refused, and nothing changes), and a bulk change's `project`,
      `assignee` and `add_labels` as for one task;
    - in the path of a move, a task's relations or comments, a comment or a
      notification to read, one that the identity sees, when the drawn id names none:
      the drawn ids are mostly of no object, and such cases would all end in a 404
      before the operation's rules.
    """
    if not _objects.usable:
        return
    label = case.operation.label
    path = case.path_parameters
    if label == MOVE or label in RELATIONS:
        project = _objects.task_project(path.get("id"))
        if project is None:
            path["id"], project = _objects.task() or path["id"], SELF_PROJECT_ID
        if label == MOVE and body is not None:
            for side in ("before", "after"):
                if isinstance(body.get(side), int):
                    body[side] = _objects.task(project) or body[side]
    if label == RELATIONS[1] and body is not None and isinstance(body.get("task"), int):
        body["task"] = _objects.task() or body["task"]
    elif label == RELATION_DELETE:
        if path.get("relation_id") not in _objects.relation_ids(path.get("id")):
            made = _objects.relation()
            if made is not None:
                path["id"], path["relation_id"] = made
    elif label in (BULK_UPDATE, BULK_DELETE) and body is not None:
        if isinstance(body.get("ids"), list):
            task = _objects.task()
            body["ids"] = [task] if task is not None else body["ids"]
        changes = body.get("set")
        if isinstance(changes, dict):
            if isinstance(changes.get("project"), int):
                changes["project"] = SELF_PROJECT_ID
            if isinstance(changes.get("assignee"), int):
                changes["assignee"] = SELF_ID or changes["assignee"]
        if isinstance(body.get("add_labels"), list) and body["add_labels"]:
            added = _objects.label()
            body["add_labels"] = [added] if added is not None else []
    elif label in TASK_COMMENTS:
        if _objects.task_project(path.get("task_id")) is None:
            path["task_id"] = _objects.task() or path["task_id"]
    elif label in COMMENT and not _objects.comment_visible(path.get("id")):
        path["id"] = _objects.comment() or path["id"]
    elif label == NOTIFICATION_READ:
        mine = _objects.notification_ids()
        if mine and path.get("id") not in mine:
            path["id"] = mine[0]


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
