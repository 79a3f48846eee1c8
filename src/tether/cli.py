"""The command line: ``tether demo`` and ``tether sessions`` (DESIGN §8).

Every mistake (a bad option, a store that does not exist, an ``--on-end`` that does not
import) is one line on stderr and exit code 2, never a traceback. ``sessions`` never
creates a store: it opens an existing one given by ``--store`` or ``TETHER_STORE``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import secrets
import sys
from typing import NoReturn, Sequence

from . import __version__
from ._admin import add_actions, run_action
from ._policy import Policy
from ._runtime import Runtime
from ._settings import build_settings
from .exceptions import ConfigurationError, TetherError
from .stores.urls import open_store

DEMO_STORE = "sqlite:///tether-demo.sqlite3"
FRAMEWORKS = ("starlette", "flask", "django")
STORE_ENV = "TETHER_STORE"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return number


def _store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store", default=argparse.SUPPRESS, metavar="URL",
        help=f"the store URL, e.g. sqlite:///app.sqlite3 or redis://localhost:6379/0 (default: ${STORE_ENV})",
    )
    p.add_argument(
        "--on-end", default=argparse.SUPPRESS, metavar="MODULE:FUNC",
        help="call FUNC(record, reason) for each session that revoke or sweep ends",
    )


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="tether", description="Sessions that stay alive while people work.")
    top.add_argument("--version", action="version", version=f"tether {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the demo site")
    demo.add_argument("--framework", choices=FRAMEWORKS, default="starlette")
    demo.add_argument("--store", default=DEMO_STORE, help=f"store URL (default {DEMO_STORE})")
    demo.add_argument("--idle", type=_positive, default=120.0, help="idle timeout in seconds (default 120)")
    demo.add_argument("--absolute", type=_positive, default=3600.0, help="absolute timeout in seconds (default 3600)")
    demo.add_argument("--warn", type=_positive, default=30.0, help="warn this many seconds before (default 30)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)

    sessions = commands.add_parser(
        "sessions", help="list, count, revoke or sweep the sessions of an existing store",
        description=f"Operate on an existing store (--store URL or ${STORE_ENV}); options go before or after ACTION.",
    )
    add_actions(sessions, _store_options)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "demo":
            return run_demo(args)
        return run_sessions(args)
    except (TetherError, NotImplementedError) as exc:
        # The first line says it; drivers add more (PostgreSQL quotes the statement).
        print(f"tether: {str(exc).partition(chr(10))[0]}", file=sys.stderr)
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


def run_sessions(args: argparse.Namespace) -> int:
    """``tether sessions``: a runtime on the named store, without a sweeper thread."""
    url = getattr(args, "store", None) or os.environ.get(STORE_ENV)
    if not url:
        raise ConfigurationError(f"no store given: pass --store URL or set {STORE_ENV} (e.g. sqlite:///app.sqlite3)")
    if url.lower().startswith("memory:"):
        raise ConfigurationError(f"{url!r} lives inside one app process: a command cannot see its sessions")
    settings = {"store": open_store(url, create=False), "on_end": getattr(args, "on_end", None), "sweep_interval": None}
    runtime = Runtime(build_settings(settings, lambda key: f"--{key.replace('_', '-')}"))
    try:
        return run_action(runtime, args, print)
    finally:
        runtime.store.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
