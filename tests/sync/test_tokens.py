"""A personal API token syncs with `tasks:read` and `projects:read` (sync hands out
both), and is refused without either."""

import pytest

from tests.accounts.personal_token_helpers import pat_client, token_of
from tests.helpers import assert_error
from tests.sync.helpers import SYNC_URL, Replica, sync_page

pytestmark = pytest.mark.django_db


def test_a_token_with_tasks_read_and_projects_read_syncs(member, member_client, client_for):
    token = pat_client(token_of(client_for, member, ["tasks:read", "projects:read"]))

    replica = Replica()
    replica.sync(token)

    assert ("project", member.personal_project.pk) in replica.objects
    # The cursor is the user's, whichever credentials fetched it.
    assert sync_page(member_client, replica.cursor)["changes"] == []


@pytest.mark.parametrize("scopes", [["tasks:read"], ["projects:read"], ["files:read"]])
def test_a_token_without_both_read_scopes_is_refused(member, client_for, scopes):
    token = pat_client(token_of(client_for, member, scopes))

    assert_error(token.get(SYNC_URL), 403, "insufficient_scope")
