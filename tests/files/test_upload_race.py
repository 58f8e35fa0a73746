"""An upload racing the deletion of its task: the task is gone, so the answer is a
404 (retrying cannot help), not a 503 "try again", and nothing is left behind."""

from typing import Any

import pytest

from files import services
from files.models import File
from tasks.models import Task
from tests.files.helpers import media_files
from tests.files.samples import sample
from tests.helpers import post_file

# The foreign key is checked at commit: the upload must really commit.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_an_upload_whose_task_is_deleted_on_the_way_is_a_404_and_leaves_nothing(
    member_client, task, media_root, monkeypatch
):
    inspect = services.validation.inspect

    def delete_the_task_meanwhile(upload: Any) -> Any:
        # After the view found the task, before the row is written: another request
        # deletes it.
        Task.objects.filter(pk=task.pk).delete()
        return inspect(upload)

    monkeypatch.setattr(services.validation, "inspect", delete_the_task_meanwhile)

    response = post_file(member_client, "notes.txt", sample("txt"), task=task)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not File.objects.exists()
    assert media_files(media_root) == set()
