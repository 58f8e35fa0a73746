"""gunicorn reads this file from the working directory (the Docker image's and the
e2e tests' commands run there). It only looks after Prometheus' multiprocess mode:
with PROMETHEUS_MULTIPROC_DIR set, each worker writes its metrics to files in that
directory and /monitoring/metrics/ sums them."""

import os
import shutil
from typing import Any


def on_starting(server: Any) -> None:
    # Values of a previous run's workers must not be summed into this one's.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    # A dead worker's live gauges (open WebSockets) stop counting.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
