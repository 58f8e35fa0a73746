"""gunicorn reads this file from the working directory (the Docker image's and the
e2e tests' commands run there). It makes gunicorn's own records JSON lines like the
application's, and looks after Prometheus' multiprocess mode: with
PROMETHEUS_MULTIPROC_DIR set, each worker writes its metrics to files in that
directory and /monitoring/metrics/ sums them.

gunicorn writes no access log: the application's (monitoring.logs) has the request
id and the user, and leaves query strings out.
"""

import os
import shutil
from typing import Any

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "monitoring.log_format.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        # A logging config turns gunicorn's access log on; this turns it off again.
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}


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
