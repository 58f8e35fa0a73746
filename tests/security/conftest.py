"""The OWASP API Security Top 10 (2023) suite: one module per risk.

Users, their clients and tasks come from tests/conftest.py (`task` is Mia's,
`others_task` Otto's); the schema helpers are in tests/security/helpers.py.
"""

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import upload


@pytest.fixture(autouse=True)
def _uploads_in_a_fresh_folder(media_root: Path) -> None:
    """Every test here may upload; none writes into the project's media folder."""


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    # The suite sends more requests than a minute's default allowance; the
    # throttle tests set small rates on top of these.
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        "read": "10000/min",
        "write": "10000/min",
        "login": "10000/min",
        "login_ip": "10000/min",
    }


@pytest.fixture
def others_file(other_member_client: Any) -> dict[str, Any]:
    """A file Otto uploaded (the API body)."""
    return upload(other_member_client, "png")
