"""Attachments follow their task (DESIGN.md, "Projects and membership"): whoever sees
the task sees and downloads its files; attaching needs write access to the task, and
none is accepted while its project is archived."""

import pytest

from projects.services import member_remove, project_update
from tests.factories import TaskFactory
from tests.files.samples import sample
from tests.helpers import (
    FILES_URL,
    assert_error,
    download_url,
    file_url,
    post_file,
    result_ids,
    upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def bed(project, member):
    return TaskFactory(owner=member, project=project, title="Bed")


def test_a_members_attachment_is_seen_and_downloaded_by_the_other_members(
    bed, member_client, other_member_client, viewer_client, outsider_client, media_root
):
    attached = upload(other_member_client, "pdf", task=bed.pk)

    for client in (member_client, viewer_client):
        assert result_ids(client.get(FILES_URL, {"task": bed.pk})) == [attached["id"]]
        assert client.get(file_url(attached["id"])).json() == attached
        downloaded = client.get(download_url(attached["id"]))
        assert downloaded.status_code == 200
        assert b"".join(downloaded.streaming_content) == sample("pdf")
    assert_error(outsider_client.get(file_url(attached["id"])), 404, "not_found")
    assert result_ids(outsider_client.get(FILES_URL)) == []


def test_a_viewer_cannot_attach_a_file_to_a_task(bed, viewer_client, media_root):
    response = post_file(viewer_client, "sample.png", sample("png"), task=bed.pk)

    assert_error(response, 403, "permission_denied")
    assert result_ids(viewer_client.get(FILES_URL)) == []


def test_an_outsider_cannot_attach_a_file_to_a_task_they_cannot_see(
    bed, outsider_client, media_root
):
    response = post_file(outsider_client, "sample.png", sample("png"), task=bed.pk)

    assert_error(response, 404, "not_found")


def test_no_file_is_attached_to_a_task_of_an_archived_project(
    bed, project, member, member_client, committed, media_root
):
    with committed():
        project_update(actor=member, project_id=project.pk, data={"is_archived": True})

    response = post_file(member_client, "sample.png", sample("png"), task=bed.pk)

    assert_error(response, 409, "project_archived")
    assert result_ids(member_client.get(FILES_URL)) == []


def test_a_removed_member_no_longer_sees_the_projects_files_but_keeps_their_own(
    bed, project, member, other_member_client, other_member, member_client, media_root
):
    theirs = upload(member_client, "pdf", task=bed.pk)
    own = upload(other_member_client, "png", task=bed.pk)

    member_remove(actor=member, project_id=project.pk, user_id=other_member.pk)

    assert result_ids(other_member_client.get(FILES_URL)) == [own["id"]]
    assert_error(other_member_client.get(file_url(theirs["id"])), 404, "not_found")
