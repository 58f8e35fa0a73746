"""A server process loads its views and freezes its heap before the first request."""

import subprocess
import sys

import pytest

from taskmanager.settings import BASE_DIR

CHECK = """
import gc, sys
import {module}
print(gc.get_freeze_count(), "tasks.views" in sys.modules, "files.views" in sys.modules)
"""


@pytest.mark.parametrize("module", ["taskmanager.wsgi", "taskmanager.asgi"])
def test_the_entry_point_loads_the_views_and_freezes_the_heap(module):
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(module=module)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    frozen, tasks_views, files_views = result.stdout.split()

    assert int(frozen) > 50_000  # Django, DRF and the project, out of full collections
    assert tasks_views == files_views == "True"  # the URLconf was imported up front
