"""``manage.py tether_sessions list|stats|revoke|sweep|schema`` on the configured store: the same
actions, arguments and output as ``tether sessions`` (:mod:`tether._admin`), with the
runtime built from Django's ``TETHER`` setting."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tether._admin import add_actions, run_action
from tether.exceptions import TetherError

from ...conf import runtime


class Command(BaseCommand):
    help = "List, count, revoke or sweep tether sessions, or print the store's SQL schema."

    def add_arguments(self, parser: CommandParser) -> None:
        add_actions(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            code = run_action(runtime(), argparse.Namespace(**options), self.stdout.write)
        except (TetherError, NotImplementedError) as exc:
            raise CommandError(str(exc), returncode=2) from exc
        if code:
            raise CommandError("nothing was revoked", returncode=code)
