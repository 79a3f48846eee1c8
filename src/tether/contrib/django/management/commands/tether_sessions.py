"""``manage.py tether_sessions list|stats|revoke|sweep`` on the configured store (the
``tether sessions`` command line with Django's settings)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import runtime


class Command(BaseCommand):
    help = "List, count, revoke or sweep tether sessions."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="sessions of a user").add_argument("--user", required=True)
        actions.add_parser("stats", help="how many sessions are stored")
        revoke = actions.add_parser("revoke", help="end every session of a user, or one by key")
        who = revoke.add_mutually_exclusive_group(required=True)
        who.add_argument("--user")
        who.add_argument("--key", help="the store key (token hash), as `list` prints it")
        actions.add_parser("sweep", help="claim expired sessions and report each to on_end")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        tether = runtime()
        if action == "list":
            now = time.time()
            records = tether.store.list_by_user(options["user"])
            for r in records:
                self.stdout.write(f"{r.key}  {r.meta.user}  expires in {r.meta.expires_at - now:>9.1f} s")
            self.stdout.write(f"{len(records)} session(s) of {options['user']}")
        elif action == "stats":
            self.stdout.write(f"{tether.store.count()} session(s) stored")
        elif action == "revoke":
            count = tether.run(tether.protocol.revoke(options["key"], user=options["user"]))
            if not count:
                raise CommandError("no such session")
            self.stdout.write(f"{count} session(s) revoked")
        else:
            self.stdout.write(f"{tether.sweep()} expired session(s) swept")
