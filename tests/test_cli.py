"""``tether`` (src/tether/cli.py and the actions in src/tether/_admin.py), run as a user runs
it: a subprocess on a real SQLite file, its exit code, stdout and stderr."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tether import Policy, __version__, hash_token, new_token
from tether._admin import run_action
from tether._records import Record
from tether._runtime import Runtime
from tether._settings import build_settings
from tether.stores import SQLiteStore
from tether.testing import make_record

POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
ENV = {k: v for k, v in os.environ.items() if k != "TETHER_STORE"}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether", *args], check=False, capture_output=True, text=True, timeout=60, env=env or ENV
    )


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, SQLiteStore]:
    """An existing store file and its URL."""
    store = SQLiteStore(tmp_path / "cli.db")
    return f"sqlite:///{tmp_path / 'cli.db'}", store


@pytest.fixture
def hooks(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An importable ``hooks:on_end`` that appends "user reason" lines to a file."""
    log = tmp_path / "ended.log"
    (tmp_path / "hooks.py").write_text(
        f"def on_end(record, reason):\n    open({str(log)!r}, 'a').write(f'{{record.meta.user}} {{reason}}\\n')\n"
    )
    return {**ENV, "PYTHONPATH": str(tmp_path)}, log


def test_list_stats_sweep_and_revoke(db: tuple[str, SQLiteStore], hooks: tuple[dict[str, str], Path]) -> None:
    url, store = db
    env, log = hooks
    now = time.time()
    live = [replace(make_record(now, user="ada", policy=POLICY), meta=replace(
        POLICY.start(now, "ada"), device="Firefox on Linux")) for _ in range(2)]
    soon = make_record(now - 590, user="bob", policy=POLICY)  # expires in about 10 s
    expired = make_record(now - 1000, user="cy", policy=POLICY)
    for record in (*live, soon, expired):
        store.save(record, create=True)

    out = run_cli("sessions", "--store", url, "list", "--user", "ada")
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "2 session(s) of ada"
    assert all(f"{r.key}  live     Firefox on Linux  signed in " in out.stdout for r in live)
    rows = [json.loads(line) for line in run_cli("sessions", "--store", url, "--json", "list", "--user", "ada").stdout.splitlines()]
    assert {r["key"] for r in rows} == {r.key for r in live}
    assert all((r["user"], r["device"], r["state"]) == ("ada", "Firefox on Linux", "live") for r in rows)

    stats = run_cli("sessions", "--store", url, "stats", "--within", "60")
    assert stats.stdout.splitlines() == [
        "live sessions: 3", "users with a live session: 2", "expiring within 60 s: 1", "ended, not yet swept: 1",
    ]
    # The default window is the idle timeout of the runtime's policy (the default Policy here).
    default = json.loads(run_cli("sessions", "--store", url, "stats", "--json").stdout)
    assert default == {"live": 3, "users": 2, "expiring": 3, "ended": 1, "within": Policy().idle_timeout}
    assert store.count() == 4  # stats claims nothing

    swept = run_cli("sessions", "--store", url, "sweep", "--on-end", "hooks:on_end", env=env)
    assert swept.returncode == 0 and swept.stdout == "1 expired session(s) swept\n"
    assert log.read_text() == "cy idle\n"

    out = run_cli("sessions", "--store", url, "revoke", live[0].key, "--on-end", "hooks:on_end", env=env)
    assert out.returncode == 0 and out.stdout == "1 session(s) revoked\n"
    assert log.read_text() == "cy idle\nada revoked\n"
    out = run_cli("sessions", "--store", url, "revoke", live[0].key)
    assert out.returncode == 1 and out.stdout == "0 session(s) revoked\n"  # nothing left to end
    assert run_cli("sessions", "--store", url, "--json", "revoke", "--user", "ada").stdout == '{"revoked": 1}\n'
    # Left: the other user's live session and two tombstones, which tell ada's tabs "revoked".
    assert [r.meta.user for r in store.list_by_user("ada")] == [] and store.count() == 3


def test_revoke_every_session_of_a_user_except_one(db: tuple[str, SQLiteStore], hooks: tuple[dict[str, str], Path]) -> None:
    url, store = db
    env, log = hooks
    now = time.time()
    ada = [make_record(now + i, user="ada", policy=POLICY) for i in range(3)]
    bob = make_record(now, user="bob", policy=POLICY)
    for record in (*ada, bob):
        store.save(record, create=True)
    keep = ada[1].key
    out = run_cli("sessions", "revoke", "--user", "ada", "--except", keep[:10], "--store", url,
                  "--on-end", "hooks:on_end", env=env)
    assert (out.returncode, out.stdout, out.stderr) == (0, "2 session(s) revoked\n", "")
    assert [r.key for r in store.list_by_user("ada")] == [keep]
    assert store.load(bob.key) is not None
    assert log.read_text() == "ada revoked\nada revoked\n"


def test_options_go_before_or_after_the_action_and_the_store_may_come_from_the_environment(
    db: tuple[str, SQLiteStore],
) -> None:
    url, store = db
    store.save(make_record(time.time(), user="ada", policy=POLICY), create=True)
    before = run_cli("sessions", "--json", "--store", url, "stats")
    after = run_cli("sessions", "stats", "--store", url, "--json")
    from_env = run_cli("sessions", "stats", "--json", env={**ENV, "TETHER_STORE": url})
    assert before.returncode == after.returncode == from_env.returncode == 0
    assert json.loads(before.stdout)["live"] == 1
    assert before.stdout == after.stdout == from_env.stdout


def test_read_only_commands_create_nothing(db: tuple[str, SQLiteStore], tmp_path: Path) -> None:
    url, store = db
    store.save(make_record(time.time(), user="ada", policy=POLICY), create=True)
    store.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    for args in (["stats"], ["list", "--user", "ada"]):
        assert run_cli("sessions", "--store", url, *args).returncode == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == files


def test_version() -> None:
    out = run_cli("--version")
    assert (out.returncode, out.stdout) == (0, f"tether {__version__}\n")


def test_help_names_what_stats_prints() -> None:
    out = run_cli("sessions", "--help")
    assert out.returncode == 0
    assert "live sessions, users with one, how many expire soon" in " ".join(out.stdout.split())
    assert "TETHER_STORE" in out.stdout


MISSING = "sqlite:////nonexistent/dir/x.db"
KEY = hash_token(new_token())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sessions", "stats"], "tether: no store given: pass --store URL or set TETHER_STORE"),
        (["sessions", "--store", MISSING, "stats"], "tether: no SQLite database at '/nonexistent/dir/x.db'"),
        (["sessions", "list", "--user", "ada", "--store", MISSING], "tether: no SQLite database at"),
        (["sessions", "--store", "{db}", "sweep", "--on-end", "nosuch:fn"], "tether: cannot import 'nosuch:fn'"),
        (["sessions", "--store", "{db}", "sweep", "--on-end", "os:sep"], "--on-end must be callable as on_end(record, reason)"),
        (["sessions", "--store", "ftp://x", "stats"], "tether: unknown store URL 'ftp://x'"),
        (["sessions", "--store", "sqlite://relative.db", "stats"], "sqlite:///"),
        (["sessions", "--store", "postgresql://x/db?table=Bad-Name", "stats"], "table 'Bad-Name'"),
        (["sessions", "--store", "{db}", "schema"], "SQLiteStore has no SQL schema to print"),
        (["sessions", "--store", "{db}", "list"], "the following arguments are required: --user"),
        (["sessions", "--store", "{db}", "stats", "--within", "soon"], "'soon' is not a number of seconds"),
        (["sessions", "--store", "{db}", "sweep", "--batch", "0"], "'0' is not a positive whole number"),
        (["sessions", "--store", "{db}", "revoke"], "revoke wants a KEY or --user USER"),
        (["sessions", "--store", "{db}", "revoke", KEY, "--user", "ada"], "revoke wants a KEY or --user USER"),
        (["sessions", "--store", "{db}", "revoke", KEY[:8]], "KEY must be the whole 64-character key"),
        (["sessions", "--store", "{db}", "revoke", KEY, "--except", "ab"], "--except goes with --user"),
        (["sessions", "--store", "{db}", "revoke", "--user", "ada", "--except", "ab"], "no session of ada"),
        (["sessions", "--store", "{db}", "frobnicate"], "invalid choice: 'frobnicate'"),
        # An empty store of this process only: it would always answer "0 sessions".
        (["sessions", "--store", "memory://", "stats"], "'memory://' lives inside one app process"),
        (["demo", "--idle", "10", "--warn", "30", "--port", "1"], "warn_before"),
    ],
)
def test_a_bad_invocation_is_one_line_and_exit_code_2(
    args: list[str], message: str, db: tuple[str, SQLiteStore], tmp_path: Path
) -> None:
    url, _ = db
    out = run_cli(*(a.replace("{db}", url) for a in args))
    assert out.returncode == 2
    assert len(out.stderr.splitlines()) == 1 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert not Path("/nonexistent").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.db"]


def test_a_store_without_summary_is_told_not_traced(tmp_path: Path) -> None:
    """A store written before ``summary`` joined the contract: one line, not an AttributeError."""
    class OldStore:
        def __init__(self) -> None:
            self.inner = SQLiteStore(tmp_path / "old.db")

        def __getattr__(self, name: str) -> object:
            if name == "summary":
                raise AttributeError(name)
            return getattr(self.inner, name)

    runtime = Runtime(build_settings({"store": OldStore(), "sweep_interval": None}))
    with pytest.raises(NotImplementedError, match="OldStore cannot count its sessions"):
        run_action(runtime, argparse.Namespace(action="stats", within=None), print)


def test_tombstones_are_listed_as_ended(db: tuple[str, SQLiteStore]) -> None:
    url, store = db
    now = time.time()
    tomb = Record(hash_token(new_token()), replace(POLICY.start(now, "ada"), ended="revoked"), {})
    store.save(tomb, create=True)
    [row] = [json.loads(line) for line in run_cli("sessions", "--store", url, "list", "--user", "ada", "--json").stdout.splitlines()]
    assert row["state"] == "ended (revoked)"


def test_cookie_mode_without_itsdangerous_names_the_extra(tmp_path: Path) -> None:
    """``cookie:`` without the cookie extra: one line naming it, not a ModuleNotFoundError."""
    (tmp_path / "itsdangerous.py").write_text("raise ImportError('No module named itsdangerous')\n")
    env = {**ENV, "PYTHONPATH": str(tmp_path), "TETHER_SECRET_KEY": "k" * 32}
    out = run_cli("sessions", "--store", "cookie:", "stats", env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip() == "tether: 'cookie:' needs the cookie extra: pip install 'tether[cookie]'"


def test_revoking_a_users_cookie_sessions_succeeds_without_a_count(tmp_path: Path) -> None:
    """Signed-cookie mode cannot count a user's sessions, but revoking them worked: exit 0."""
    pytest.importorskip("itsdangerous")
    url = f"cookie:sqlite:///{tmp_path / 'revoked.db'}"
    SQLiteStore(tmp_path / "revoked.db").close()
    out = run_cli("sessions", "--store", url, "revoke", "--user", "ada", env={**ENV, "TETHER_SECRET_KEY": "k" * 32})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "every session of ada signed in until now is revoked"


def test_stats_in_cookie_mode_says_there_is_nothing_on_the_server_to_count() -> None:
    out = run_cli("sessions", "--store", "cookie:", "stats", env={**ENV, "TETHER_SECRET_KEY": "k" * 32})
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip() == (
        "tether: signed-cookie mode keeps no sessions on the server to count: each lives in its browser's cookie"
    )
