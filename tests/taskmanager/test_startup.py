"""A server process loads its views and freezes its heap before the first request; the
socket server collects its young objects less often."""

import subprocess
import sys

import pytest

from taskmanager.settings import BASE_DIR

CHECK = """
import gc, sys
import {module}
print(gc.get_freeze_count(), "tasks.views" in sys.modules, "files.views" in sys.modules)
print(*gc.get_threshold())
"""


def run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


@pytest.mark.parametrize(
    ("module", "thresholds"), [("taskmanager.wsgi", None), ("taskmanager.asgi", [50_000, 1, 1])]
)
def test_the_entry_point_loads_the_views_and_freezes_the_heap(module, thresholds):
    python_default = [int(n) for n in run("import gc; print(*gc.get_threshold())").split()]

    loaded, collected = run(CHECK.format(module=module)).splitlines()
    frozen, tasks_views, files_views = loaded.split()

    assert int(frozen) > 50_000  # Django, DRF and the project, out of full collections
    assert tasks_views == files_views == "True"  # the URLconf was imported up front
    # daphne: the objects of a fan-out die young instead of being promoted and
    # walked by full collections over every socket's objects (taskmanager.startup)
    assert [int(n) for n in collected.split()] == (thresholds or python_default)
