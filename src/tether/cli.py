"""The command line: ``tether demo`` and ``tether sessions`` (DESIGN §8)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import secrets
import sys
import time
from typing import Any, Callable, Sequence

from ._policy import Policy
from ._protocol import Config, Protocol, run_sync
from .exceptions import ConfigurationError, NotInCookieMode, TetherError
from .stores.urls import open_store

DEMO_STORE = "sqlite:///tether-demo.sqlite3"
FRAMEWORKS = ("starlette", "flask", "django")


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return number


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tether", description="Sessions that stay alive while people work.")
    commands = top.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the demo site")
    demo.add_argument("--framework", choices=FRAMEWORKS, default="starlette")
    demo.add_argument("--store", default=DEMO_STORE, help=f"store URL (default {DEMO_STORE})")
    demo.add_argument("--idle", type=_positive, default=120.0, help="idle timeout in seconds (default 120)")
    demo.add_argument("--absolute", type=_positive, default=3600.0, help="absolute timeout in seconds (default 3600)")
    demo.add_argument("--warn", type=_positive, default=30.0, help="warn this many seconds before (default 30)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)

    sessions = commands.add_parser("sessions", help="operate on a session store")
    sessions.add_argument("--store", default=DEMO_STORE, help=f"store URL (default {DEMO_STORE})")
    sessions.add_argument("--json", action="store_true", help="print JSON lines")
    actions = sessions.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list sessions of a user")
    listing.add_argument("--user", required=True)
    actions.add_parser("stats", help="count stored and expired sessions")
    revoke = actions.add_parser("revoke", help="end every session of a user, or one by key")
    who = revoke.add_mutually_exclusive_group(required=True)
    who.add_argument("--user")
    who.add_argument("--key", help="the store key (token hash), as `list` prints it")
    revoke.add_argument("--on-end", metavar="MODULE:FUNC", help="call FUNC(record, 'revoked') for each")
    sweep = actions.add_parser("sweep", help="claim expired sessions and report their end (cron-friendly)")
    sweep.add_argument("--on-end", metavar="MODULE:FUNC", help="call FUNC(record, reason) for each ended session")
    sweep.add_argument("--batch", type=int, default=500)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "demo":
            return run_demo(args)
        return run_sessions(args)
    except (TetherError, ValueError) as exc:
        print(f"tether: {exc}", file=sys.stderr)
        return 2


def run_demo(args: argparse.Namespace) -> int:
    from .demo.pages import DemoSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    policy = Policy(idle_timeout=args.idle, absolute_timeout=args.absolute, warn_before=args.warn)
    if args.store == "cookie:":
        # Signed-cookie mode needs a key and, to sign out everywhere, a revocation store.
        args.store = "cookie:memory://"
        if not os.environ.get("TETHER_SECRET_KEY"):
            os.environ["TETHER_SECRET_KEY"] = secrets.token_urlsafe(32)
            print("signed-cookie mode: a random key for this run (cookies end with it); set TETHER_SECRET_KEY to keep one")
    settings = DemoSettings(policy=policy, store_url=args.store, framework=args.framework)
    print(f"tether demo ({args.framework}) on http://{args.host}:{args.port}/ — store {args.store}", flush=True)
    if args.framework == "starlette":
        import uvicorn

        from .demo.starlette_app import build

        uvicorn.run(build(settings), host=args.host, port=args.port, log_level="warning")
        return 0
    module = importlib.import_module(f"tether.demo.{args.framework}_app")
    from werkzeug.serving import run_simple

    run_simple(args.host, args.port, module.build(settings), threaded=True)
    return 0


def _load_hook(spec: str | None) -> Callable[[Any, str], Any] | None:
    if not spec:
        return None
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ConfigurationError(f"--on-end wants MODULE:FUNC, got {spec!r}")
    return getattr(importlib.import_module(module_name), attr)


def _row(record: Any, now: float) -> dict[str, Any]:
    m = record.meta
    return {
        "key": record.key,
        "user": m.user,
        "created_at": m.created_at,
        "last_active": m.last_active,
        "expires_in": round(m.expires_at - now, 1),
    }


def run_sessions(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    now = time.time()
    out: list[dict[str, Any]] = []
    try:
        if args.action == "list":
            out = [_row(r, now) for r in store.list_by_user(args.user)]
            if not args.json:
                for row in out:
                    print(f"{row['key']}  {row['user']}  expires in {row['expires_in']:>9.1f} s")
                print(f"{len(out)} session(s) of {args.user}")
                return 0
        elif args.action == "stats":
            total = store.count()
            # Counting the expired ones must not claim them: peek via list-free math is
            # store-specific, so report the stored total and let `sweep` do the claiming.
            out = [{"stored": total}]
            if not args.json:
                print(f"{total} session(s) stored")
                return 0
        elif args.action == "revoke":
            hook = _load_hook(args.on_end)
            count = run_sync(Protocol(Config(on_end=hook)).revoke(args.key, user=args.user), store, hook)
            out = [{"revoked": count}]
            if not args.json:
                print(f"{count} session(s) revoked")
                return 0 if count else 1
        elif args.action == "sweep":
            if getattr(store, "carries_record", False) is True:
                raise NotInCookieMode(
                    "signed-cookie mode has no sessions on the server to sweep: they expire silently in "
                    "browsers and on_end never hears of it (the app's own sweeper removes expired deny entries)"
                )
            hook = _load_hook(args.on_end)
            protocol = Protocol(Config(on_end=hook))
            total = 0
            while True:
                count = run_sync(protocol.sweep(args.batch), store, hook)
                total += count
                if count < args.batch:
                    break
            out = [{"swept": total}]
            if not args.json:
                print(f"{total} expired session(s) swept")
                return 0
    finally:
        store.close()
    for row in out:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
