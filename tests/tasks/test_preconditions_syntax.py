"""A precondition header that is not one (RFC 9110 section 13.1: `*` or a list of
quoted entity tags) is a 400 naming the header, not a 412 "the task has changed":
`If-Match` on every method, `If-None-Match` on writes."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from activity.models import Event
from tasks.models import Task
from tests.helpers import assert_error, task_url
from tests.tasks.helpers import assert_task_unchanged

pytestmark = pytest.mark.django_db

MESSAGE = 'Give * or a list of quoted entity tags, e.g. "12-3" (its ETag).'
MALFORMED = {
    "unquoted": "{id}-{version}",
    "single-quoted": "'{id}-{version}'",
    "unclosed": '"{id}-{version}',
    "no-comma": '"{id}-{version}" "0-0"',
    "star-in-a-list": '*, "{id}-{version}"',
    "lower-case-weak": 'w/"{id}-{version}"',
    "weak-unquoted": "W/{id}-{version}",
    "empty": "",
    "only-commas": " , ,",
    "control-character": '"{id}-\x01{version}"',
}


def header_value(template: str, task: Task) -> str:
    return template.format(id=task.pk, version=task.version)


def unchanged_after(response, task: Task, events_before: int) -> None:
    assert_task_unchanged(task)
    assert Event.objects.count() == events_before


@pytest.mark.parametrize("method", ["get", "patch", "put", "delete"])
@pytest.mark.parametrize("template", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_if_match_is_400_naming_it(member_client, task, method, template):
    before, events_before = Task.objects.get(pk=task.pk), Event.objects.count()

    body = None if method == "get" else {"title": "Guarded"}

    response = getattr(member_client, method)(
        task_url(task), body, HTTP_IF_MATCH=header_value(template, task)
    )

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"If-Match": [MESSAGE]}
    unchanged_after(response, before, events_before)


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
@pytest.mark.parametrize("template", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_if_none_match_on_a_write_is_400_naming_it(
    member_client, task, method, template
):
    before, events_before = Task.objects.get(pk=task.pk), Event.objects.count()

    response = getattr(member_client, method)(
        task_url(task), {"title": "Guarded"}, HTTP_IF_NONE_MATCH=header_value(template, task)
    )

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"If-None-Match": [MESSAGE]}
    unchanged_after(response, before, events_before)


def test_a_malformed_if_none_match_on_a_get_is_no_cache_hit(member_client, task):
    # On a GET it only asks for a 304, which a tag that is not one cannot earn.
    response = member_client.get(task_url(task), HTTP_IF_NONE_MATCH=f"{task.pk}-{task.version}")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == task.pk


@pytest.mark.parametrize(
    "template",
    [
        '"{id}-{version}"',
        ' "0-0" , "{id}-{version}" ',
        ', "{id}-{version}",, ',
        '"0-0",\t"{id}-{version}"',
    ],
    ids=["one", "a-list", "empty-list-elements", "tab"],
)
def test_a_well_formed_if_match_naming_the_current_etag_lets_the_write_through(
    member_client, task, template
):
    response = member_client.patch(
        task_url(task), {"title": "Guarded"}, HTTP_IF_MATCH=header_value(template, task)
    )

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Guarded"


@pytest.mark.parametrize("header", ["HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH"])
def test_a_well_formed_header_of_another_version_is_still_412(member_client, task, header):
    stale = f'"{task.pk}-{task.version + 1}"' if header == "HTTP_IF_MATCH" else f'"{task.pk}-1"'

    response = member_client.patch(task_url(task), {"title": "Guarded"}, **{header: stale})

    assert_error(response, 412, "precondition_failed")


def test_a_malformed_if_match_on_a_task_you_cannot_see_is_still_404(member_client, others_task):
    response = member_client.patch(task_url(others_task), {"title": "x"}, HTTP_IF_MATCH="1-1")

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_the_schema_declares_the_400_of_a_malformed_precondition(method):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/tasks/{id}/"][method]

    assert "400" in operation["responses"]


@pytest.mark.parametrize(("method", "header"), [("put", "If-Match"), ("delete", "If-None-Match")])
def test_the_schema_gives_the_syntax_of_the_precondition_headers(method, header):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/tasks/{id}/"][method]
    (declared,) = [p["schema"] for p in operation["parameters"] if p["name"] == header]
    pattern = re.compile(declared["pattern"])

    assert pattern.search('"12-3"')
    assert pattern.search("*")
    assert pattern.search(' W/"12-3", "12-4"')
    for template in MALFORMED.values():
        assert not pattern.search(template.format(id=12, version=3)), template
