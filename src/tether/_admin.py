"""``list``, ``stats``, ``revoke``, ``sweep`` and ``schema`` on a :class:`~tether._runtime.Runtime`: the
one implementation behind ``tether sessions`` and ``manage.py tether_sessions``.

Each front end builds the runtime its own way (a store URL on the command line, Django's
``TETHER`` setting) and hands it here with a ``write(line)`` for the output, so the two
can never disagree on arguments, counts or formats.

A store that cannot do an action at all says so by raising :class:`NotImplementedError`
with a sentence saying why; the caller prints that sentence instead of a traceback. A
store that cannot tell one of the counts of ``stats`` leaves it None in its
:class:`~tether.stores.base.StoreSummary`, and the output says so.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

from ._records import Record
from ._runtime import Runtime
from .exceptions import NotInCookieMode, TetherError

Write = Callable[[str], Any]
AddOptions = Callable[[argparse.ArgumentParser], None]

#: The length of a store key (a SHA-256 hash in hex), as ``list`` prints it.
KEY_LENGTH = 64


class UsageError(TetherError):
    """The arguments make no sense together (e.g. a key and a user to revoke)."""


def add_actions(parser: argparse.ArgumentParser, add_options: AddOptions | None = None) -> None:
    """Give ``parser`` the actions and their arguments.

    ``add_options`` adds the front end's own options; they, like ``--json``, are accepted
    before or after the action's name. Their defaults must be ``argparse.SUPPRESS``: an
    action's parser would otherwise reset a value given before the action.
    """

    def options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON, one object a line")
        if add_options is not None:
            add_options(p)

    options(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="a user's sessions: key, device, times, state")
    listing.add_argument("--user", required=True)
    stats = actions.add_parser(
        "stats", help="live sessions, users with one, how many expire soon, ended ones not yet swept"
    )
    stats.add_argument(
        "--within", type=seconds, metavar="S", help="the 'expire soon' window in seconds (default: the idle timeout)"
    )
    revoke = actions.add_parser(
        "revoke", help="end one session (KEY), or every session of a user (--user), or all but one (--except)"
    )
    revoke.add_argument("key", nargs="?", metavar="KEY", help="the session's store key, as `list` prints it")
    revoke.add_argument("--user", help="end this user's sessions")
    revoke.add_argument(
        "--except", dest="keep", metavar="KEY", help="with --user: keep this session (its key or an unambiguous prefix)"
    )
    sweep = actions.add_parser("sweep", help="claim expired sessions now and report each end to on_end (for cron)")
    sweep.add_argument("--batch", type=batch_size, default=500, help="sessions claimed per store call (default 500)")
    schema = actions.add_parser("schema", help="print the store's SQL schema (PostgreSQL), for your own migrations")
    for action in (listing, stats, revoke, sweep, schema):
        options(action)


def seconds(value: str) -> float:
    """An argparse type: a non-negative number of seconds."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not number >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{value} is not a non-negative number of seconds")
    return number


def batch_size(value: str) -> int:
    """An argparse type: a positive whole number (a batch of 0 would never finish)."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def run_action(runtime: Runtime, args: argparse.Namespace, write: Write) -> int:
    """Run ``args.action``; returns the exit code (1: ``revoke`` found nothing to end).

    Raises :class:`TetherError` (bad arguments, store unavailable) and
    :class:`NotImplementedError` (the store cannot do it) for the caller to print.
    """
    as_json = getattr(args, "json", False)
    now = runtime.config.clock()
    if args.action == "list":
        rows = [_row(record, now) for record in runtime.store.list_by_user(args.user)]
        if as_json:
            _write_json(write, rows)
        else:
            for row in rows:
                write(_list_line(row))
            write(f"{len(rows)} session(s) of {args.user}")
        return 0
    if args.action == "stats":
        within = runtime.config.policy.idle_timeout if args.within is None else args.within
        if getattr(runtime.store, "carries_record", False) is True:
            raise NotInCookieMode("signed-cookie mode keeps no sessions on the server to count: each lives in its browser's cookie")
        summarise = getattr(runtime.store, "summary", None)
        if summarise is None:  # a store written before summary() joined the contract
            raise NotImplementedError(f"{type(runtime.store).__name__} cannot count its sessions (no summary method)")
        summary = summarise(now, within)
        if as_json:
            _write_json(write, [{**vars(summary), "within": within}])
        else:
            ended = "unknown (this store cannot tell)" if summary.ended is None else summary.ended
            write(f"live sessions: {summary.live}")
            write(f"users with a live session: {summary.users}")
            write(f"expiring within {within:g} s: {summary.expiring}")
            write(f"ended, not yet swept: {ended}")
        return 0
    if args.action == "revoke":
        count = _revoke(runtime, args.key, args.user, args.keep)
        if args.key is None and args.keep is None and getattr(runtime.store, "carries_record", False) is True:
            # Signed-cookie mode denies the user's sessions without knowing how many there are.
            _report(write, as_json, "revoked", None, f"every session of {args.user} signed in until now is revoked")
            return 0
        _report(write, as_json, "revoked", count, f"{count} session(s) revoked")
        return 0 if count else 1
    if args.action == "schema":
        schema = getattr(runtime.store, "schema", None)
        if schema is None:
            raise NotImplementedError(f"{type(runtime.store).__name__} has no SQL schema to print (PostgreSQL has)")
        write(schema().rstrip("\n"))
        return 0
    if getattr(runtime.store, "carries_record", False) is True:
        raise NotInCookieMode(
            "signed-cookie mode has no sessions on the server to sweep: they expire silently in "
            "browsers and on_end never hears of it (the app's own sweeper removes expired deny entries)"
        )
    swept = runtime.sweep_all(args.batch)
    _report(write, as_json, "swept", swept, f"{swept} expired session(s) swept")
    return 0


def _revoke(runtime: Runtime, key: str | None, user: str | None, keep: str | None) -> int:
    """The sessions ``revoke`` ends, each through the runtime (so ``on_end`` sees ``revoked``)."""
    if (key is None) == (user is None):
        raise UsageError("revoke wants a KEY or --user USER (not both)")
    if key is not None:
        if keep is not None:
            raise UsageError("--except goes with --user")
        if len(key) != KEY_LENGTH:
            raise UsageError(f"KEY must be the whole {KEY_LENGTH}-character key `list` prints")
        return runtime.revoke(key)
    if keep is None:
        return runtime.revoke(user=user)
    keys = [record.key for record in runtime.store.list_by_user(user)]
    kept = [k for k in keys if k.startswith(keep)]
    if len(kept) != 1:
        found = "no session" if not kept else f"{len(kept)} sessions"
        raise UsageError(f"--except {keep}: {found} of {user} start(s) with it; give more of the key")
    return sum(runtime.revoke(k) for k in keys if k != kept[0])


def _row(record: Record, now: float) -> dict[str, Any]:
    meta = record.meta
    state = f"ended ({meta.ended})" if meta.ended else "live" if meta.expires_at > now else "expired"
    return {
        "key": record.key,
        "user": meta.user,
        "device": meta.device,
        "ip": meta.ip,
        "created_at": meta.created_at,
        "last_active": meta.last_active,
        "expires_in": round(meta.expires_at - now, 1),
        "state": state,
    }


def _list_line(row: dict[str, Any]) -> str:
    device = row["device"] or "unknown device"
    where = f"{device} ({row['ip']})" if row["ip"] else device
    return (
        f"{row['key']}  {row['state']:<7}  {where}  signed in {_utc(row['created_at'])}"
        f"  last active {_utc(row['last_active'])}  expires in {row['expires_in']:.0f} s"
    )


def _utc(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(when))


def _report(write: Write, as_json: bool, name: str, count: int | None, text: str) -> None:
    if as_json:
        _write_json(write, [{name: count}])
    else:
        write(text)


def _write_json(write: Write, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        write(json.dumps(row))


__all__ = ["add_actions", "run_action", "UsageError"]
