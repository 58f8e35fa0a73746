"""Uploads on a temporary folder per test and generous throttles.

Users, their clients and `task`/`others_task` come from tests/conftest.py; helpers
from tests/helpers.py and tests/files/helpers.py, sample bytes from
tests/files/samples.py.
"""

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _uploads_in_a_fresh_folder(media_root: Path) -> None:
    """Every test here may upload; none writes into the project's media folder."""


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    # Tests send more requests than a minute's default allowance; throttle tests set
    # their own small rates on top of these.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "10000/min", "write": "10000/min"}
