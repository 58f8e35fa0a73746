"""`manage.py db_worker`: django-tasks' database worker, with what webhooks need of
the process that runs their tasks: a caretaker thread that, every second, turns new
outbox events into deliveries and starts what is due (a lost or late task delays
nothing for long), records the worker's heartbeat (`/monitoring/ready/worker/`), and
optionally serves the worker's own metrics."""

import logging
import os
import socket
import threading
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.db import close_old_connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand
from prometheus_client import start_http_server

from webhooks import sending, services
from webhooks.models import WorkerHeartbeat

logger = logging.getLogger("webhooks.worker")

LOOK_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0


class Command(DatabaseWorkerCommand):
    help = DatabaseWorkerCommand.help

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--heartbeat",
            default="",
            help="A file touched with every heartbeat (a container's health check).",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=0,
            help="Serve this process's Prometheus metrics on this port (0: not served).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        heartbeat_file = options.pop("heartbeat")
        metrics_port = options.pop("metrics_port")
        if metrics_port:
            start_http_server(metrics_port)
        caretaker = Caretaker(f"{socket.gethostname()}:{os.getpid()}", heartbeat_file)
        threading.Thread(target=caretaker.run, name="webhook-caretaker", daemon=True).start()
        super().handle(*args, **options)


class Caretaker:
    def __init__(self, worker_id: str, heartbeat_file: str) -> None:
        self.worker_id = worker_id
        self.heartbeat_file = Path(heartbeat_file) if heartbeat_file else None
        self.started_at = timezone.now()
        self._last_beat = 0.0

    def run(self) -> None:
        while True:
            try:
                self.look()
            except Exception:
                # The database away for a moment: the next look tries again.
                logger.exception("webhook caretaker: this look failed")
            finally:
                close_old_connections()
            time.sleep(LOOK_SECONDS)

    def look(self) -> None:
        if time.monotonic() - self._last_beat >= HEARTBEAT_SECONDS:
            self.beat()
        services.dispatch_all()
        sending.senders().pump()

    def beat(self) -> None:
        now = timezone.now()
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id, defaults={"seen_at": now, "started_at": self.started_at}
        )
        if self.heartbeat_file is not None:
            self.heartbeat_file.touch()
        self._last_beat = time.monotonic()
