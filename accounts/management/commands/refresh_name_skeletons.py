from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from accounts.services import user_skeletons_refresh


class Command(BaseCommand):
    help = (
        "Recompute the TR39 skeletons stored for usernames and emails (run it after "
        "upgrading pyicu-wheels: a new Unicode version changes them). Prints how many "
        "users changed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000, help="Users per update.")

    def handle(self, *args: Any, **options: Any) -> None:
        changed = user_skeletons_refresh(batch_size=options["batch_size"])
        self.stdout.write(f"{changed} user(s) updated.")
