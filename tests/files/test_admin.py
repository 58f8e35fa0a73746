"""Operators see uploads in the admin and delete them through the service."""

import pytest
from django.test import Client
from django.utils.html import escape

from files.models import File
from tests.factories import UserFactory
from tests.files.helpers import file_row, stored_names
from tests.helpers import upload

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/files/file/"


@pytest.fixture
def operator_client() -> Client:
    operator = UserFactory(username="root", email="root@example.com", superuser=True)
    client = Client()
    client.force_login(operator)
    return client


def test_the_admin_lists_files_with_owner_task_size_and_type(
    operator_client, member, member_client, task, django_assert_max_num_queries
):
    for _ in range(3):
        upload(member_client, "pdf", task=task.pk)

    with django_assert_max_num_queries(12):
        response = operator_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    for column in ("column-owner", "column-task", "column-size", "column-content_type"):
        assert column in html
    assert html.count("application/pdf") >= 3
    assert member.username in html
    assert escape(str(task)) in html


def test_the_admin_cannot_add_files(operator_client):
    assert operator_client.get(f"{CHANGELIST}add/").status_code == 403


def test_deleting_in_the_admin_removes_the_row_and_the_stored_bytes(
    operator_client, member_client, committed
):
    kept, gone = upload(member_client, "txt"), upload(member_client, "png")

    with committed():
        response = operator_client.post(
            CHANGELIST,
            {"action": "delete_selected", "_selected_action": [gone["id"]], "post": "yes"},
        )

    assert response.status_code == 302
    assert list(File.objects.values_list("pk", flat=True)) == [kept["id"]]
    assert stored_names() == {file_row(kept["id"]).storage_name}
