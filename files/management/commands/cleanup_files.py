from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from files.services import files_cleanup


class Command(BaseCommand):
    help = (
        "Remove stored files that no row refers to (orphans left by a failed upload or "
        "delete), and report rows whose stored file is missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Report orphans without removing them."
        )
        parser.add_argument(
            "--older-than",
            type=int,
            default=3600,
            metavar="SECONDS",
            help="Only orphans stored longer ago than this (default 3600): an upload "
            "in progress stores its bytes just before its row.",
        )

    def handle(self, *args: Any, dry_run: bool, older_than: int, **options: Any) -> None:
        if older_than < 0:
            raise CommandError("--older-than must be 0 or more.")
        try:
            age = timedelta(seconds=older_than)
        except OverflowError:  # past about 2.7 million years
            age = timedelta.max
        report = files_cleanup(dry_run=dry_run, older_than=age)
        for name, size in report.orphans:
            self.stdout.write(f"orphan {name} {size} bytes")
        verb = "would be removed" if dry_run else "removed"
        self.stdout.write(f"orphans: {len(report.orphans)} ({report.orphan_bytes} bytes) {verb}")
        for pk in report.missing:
            self.stdout.write(f"missing: file {pk} has no stored bytes")
        self.stdout.write(f"missing: {len(report.missing)}")
