"""Helpers only the sync tests use: a page, a client's local copy that applies pages
as docs/sync.md tells client authors to, and what the API's own reads show a user
(the copy must end equal to it)."""

from typing import Any

from comments.models import Comment
from tests.helpers import page

SYNC_URL = "/api/v1/sync/"
PAGE_SHAPE = {"changes", "cursor", "has_more"}
CHANGE_SHAPE = {"type", "id", "op", "data"}

Key = tuple[str, int]


def sync_page(client: Any, cursor: str | None = None) -> dict[str, Any]:
    """One 200 page of /sync/ (after `cursor`), its shape checked."""
    response = client.get(SYNC_URL, {} if cursor is None else {"cursor": cursor})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == PAGE_SHAPE, body
    assert isinstance(body["cursor"], str) and body["cursor"]
    assert isinstance(body["has_more"], bool)
    for change in body["changes"]:
        assert set(change) == CHANGE_SHAPE, change
        assert change["op"] in ("upsert", "delete"), change
        assert (change["data"] is None) == (change["op"] == "delete"), change
        if change["data"] is not None:
            assert change["data"]["id"] == change["id"], change
    keys = [(change["type"], change["id"]) for change in body["changes"]]
    assert len(keys) == len(set(keys)), "an object twice in one page"
    return dict(body)


def keys_of(changes: list[dict[str, Any]]) -> list[Key]:
    return [(change["type"], change["id"]) for change in changes]


class Replica:
    """A client's copy: objects by (type, id), as docs/sync.md says to apply pages."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.cursor: str | None = None
        self.pages: list[dict[str, Any]] = []

    def apply(self, changes: list[dict[str, Any]]) -> None:
        for change in changes:
            key = (change["type"], change["id"])
            if change["op"] == "upsert":
                self.objects[key] = change["data"]
                continue
            self.objects.pop(key, None)
            if change["type"] == "project":
                self._drop_contents(change["id"])
            elif change["type"] == "task":
                self._drop_comments({change["id"]})

    def _drop_contents(self, project_id: int) -> None:
        inside = [
            key
            for key, data in self.objects.items()
            if key[0] in ("label", "task") and data["project"] == project_id
        ]
        for key in inside:
            del self.objects[key]
        self._drop_comments({pk for kind, pk in inside if kind == "task"})

    def _drop_comments(self, task_ids: set[int]) -> None:
        for key in [
            k for k, d in self.objects.items() if k[0] == "comment" and d["task"] in task_ids
        ]:
            del self.objects[key]

    def sync(self, client: Any, max_pages: int = 1000) -> list[dict[str, Any]]:
        """Pages until `has_more` is false, applied; the pages of this run."""
        run: list[dict[str, Any]] = []
        for _ in range(max_pages):
            body = sync_page(client, self.cursor)
            self.apply(body["changes"])
            self.cursor = body["cursor"]
            run.append(body)
            if not body["has_more"]:
                self.pages.extend(run)
                return run
        raise AssertionError("sync did not end")

    def of_type(self, kind: str) -> dict[int, dict[str, Any]]:
        return {pk: data for (k, pk), data in self.objects.items() if k == kind}


def all_results(client: Any, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list, following `next`."""
    found: list[dict[str, Any]] = []
    body = page(client.get(url, {"limit": 100, **params}))
    found.extend(body["results"])
    while body["next"]:
        body = page(client.get(body["next"]))
        found.extend(body["results"])
    return found


def api_view(client: Any) -> dict[Key, dict[str, Any]]:
    """What the API's list endpoints show `client`'s user (a member: the projects
    they belong to, with their labels, tasks and comments), by (type, id)."""
    view: dict[Key, dict[str, Any]] = {}
    for project in all_results(client, "/api/v1/projects/", archived="all"):
        view[("project", project["id"])] = project
        for label in all_results(client, f"/api/v1/projects/{project['id']}/labels/"):
            view[("label", label["id"])] = label
    tasks = all_results(client, "/api/v1/tasks/", include_archived="true")
    view.update((("task", task["id"]), task) for task in tasks)
    # The comments of the tasks that have some (asking each task would cost a request
    # per task of a thousand-task snapshot).
    commented = Comment.objects.filter(task_id__in=[t["id"] for t in tasks]).values("task_id")
    for task_id in sorted({row["task_id"] for row in commented}):
        for comment in all_results(client, f"/api/v1/tasks/{task_id}/comments/"):
            view[("comment", comment["id"])] = comment
    return view
