import contextlib
import os
import select
import signal
from argparse import ArgumentParser
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, close_old_connections

from taskmanager import cleanups

# After a run failed because the database was unavailable, the next one starts within
# this many seconds.
RETRY_SECONDS = 10


class Command(BaseCommand):
    help = (
        "Delete expired outstanding and blacklisted refresh tokens, sessions ended or "
        "expired longer ago than the refresh lifetime, Idempotency-Key records past "
        "their 24 hours, and what other apps register (webhook deliveries past 30 days, "
        "events past EVENT_RETENTION_DAYS). Prints how many of each."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be removed; remove nothing."
        )
        parser.add_argument(
            "--every",
            type=int,
            metavar="SECONDS",
            help="Repeat every SECONDS until stopped (SIGTERM or SIGINT): the scheduler's mode.",
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per delete.")
        parser.add_argument(
            "--heartbeat",
            type=Path,
            metavar="FILE",
            help="Touch FILE at start and after every completed run; a health check that "
            "finds it older than two intervals knows the loop is stuck or dead.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every = options["every"]
        if every is not None and every <= 0:
            raise CommandError("--every takes a number of seconds greater than zero.")
        if options["batch_size"] <= 0:
            raise CommandError("--batch-size must be greater than zero.")
        heartbeat: Path | None = options["heartbeat"]
        # At start too: a first run that is slow (a large backlog) must not look dead,
        # and a path that cannot be written fails here, not an interval later.
        self._beat(heartbeat)
        if every is None:
            self._run_once(options)
            self._beat(heartbeat)
            return
        # The handler only notes the signal and writes to a pipe the wait below watches:
        # a threading.Event's set() in a handler can deadlock on the lock its wait holds.
        stopping: list[int] = []
        woken, wake = os.pipe()
        os.set_blocking(wake, False)

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)
            # A full pipe wakes the wait as well.
            with contextlib.suppress(BlockingIOError):
                os.write(wake, b"\0")

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        while not stopping:
            try:
                self._run_once(options)
            except (OperationalError, InterfaceError) as exc:
                # PostgreSQL down or restarting: no heartbeat for this run, and the next
                # one comes soon rather than an interval later.
                wait = min(every, RETRY_SECONDS)
                self.stderr.write(
                    f"Database unavailable ({type(exc).__name__}: {exc}); trying again in {wait} s."
                )
            else:
                self._beat(heartbeat)
                wait = every
            finally:
                # The connection is not kept from one run to the next: after a PostgreSQL
                # restart it would be dead, and every later run would fail with it.
                close_old_connections()
            if not stopping:
                select.select([woken], [], [], wait)
        self.stdout.write("Stopped.")

    def _run_once(self, options: dict[str, Any]) -> None:
        batches = {"dry_run": options["dry_run"], "batch_size": options["batch_size"]}
        counts = cleanups.run_all(**batches)
        verb = "Would remove" if options["dry_run"] else "Removed"
        self.stdout.write(f"{verb} {', '.join(f'{n} {what}' for n, what in counts)}.")
        self.stdout.flush()

    def _beat(self, heartbeat: Path | None) -> None:
        if heartbeat is None:
            return
        try:
            heartbeat.touch()
        except OSError as exc:
            raise CommandError(f"Cannot touch the heartbeat file {heartbeat}: {exc}") from exc
