"""The real demo as a subprocess over HTTP, and the command line on a real SQLite file."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tether import Policy
from tether.stores import SQLiteStore
from tether.testing import make_record


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05):
    """Poll a condition with a deadline (not a blind sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def demo(tmp_path):
    port = free_port()
    db = tmp_path / "demo.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", "demo", "--port", str(port), "--store", f"sqlite:///{db}",
         "--idle", "3", "--warn", "1", "--absolute", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(base + "/login", timeout=1).status_code == 200
        except httpx.TransportError:
            return proc.poll() is not None  # stop waiting if it died

    wait_until(up)
    assert proc.poll() is None, proc.stdout.read()
    yield base, db
    proc.terminate()
    proc.wait(timeout=10)


def test_demo_signs_in_and_ends_after_idle_timeout(demo):
    base, db = demo
    origin = {"Origin": base}
    with httpx.Client(base_url=base) as client:
        assert client.get("/").status_code == 303  # not signed in: to /login
        page = client.get("/login")
        assert "content-security-policy" in page.headers and 'name="username"' in page.text
        # A cross-site form post is refused; the same-origin one signs in.
        assert client.post("/login", data={"username": "ada"}, headers={"Origin": "https://evil.example"}).status_code == 403
        away = client.post("/login", data={"username": "ada", "next": "https://evil.example/"}, headers=origin)
        assert away.status_code == 303 and away.headers["location"] == "/"
        signed = client.post("/login", data={"username": "ada", "next": "/form"}, headers=origin)
        assert signed.status_code == 303 and signed.headers["location"] == "/form"
        home = client.get("/")
        assert home.status_code == 200 and "Hello, ada" in home.text
        assert re.search(r'id="live-idle">\d+<', home.text)
        beat = client.post("/_tether/heartbeat", json={}, headers=origin)
        assert beat.status_code == 200 and beat.json()["idle_timeout"] == 3
        started = time.monotonic()
        # No activity now: the server itself ends the session after the idle timeout.
        ended = wait_until(lambda: (r := client.get("/_tether/status")).status_code == 401 and r, timeout=10)
        assert time.monotonic() - started >= 2.5
        assert ended.json() == {"state": "ended", "reason": "idle"}
        assert client.get("/").status_code == 303
    assert SQLiteStore(db).list_by_user("ada") == []


def test_demo_sessions_page_revokes(demo):
    base, _ = demo
    origin = {"Origin": base}
    with httpx.Client(base_url=base) as laptop, httpx.Client(base_url=base) as phone:
        laptop.post("/login", data={"username": "ada"}, headers=origin)
        phone.post("/login", data={"username": "ada"}, headers=origin)
        page = laptop.get("/sessions")
        rows = re.findall(r'<tr( class="current")?>.*?name="key" value="([0-9a-f]{64})"', page.text.split("<tbody>")[1], re.S)
        assert sorted(bool(current) for current, _ in rows) == [False, True]
        other = next(key for current, key in rows if not current)
        assert laptop.post("/sessions/revoke", data={"key": other}, headers=origin).status_code == 200
        assert phone.get("/_tether/status").status_code == 401
        assert laptop.get("/_tether/status").status_code == 200
        # Someone else's or an unknown key: refused, nothing revoked.
        assert laptop.post("/sessions/revoke", data={"key": "0" * 64}, headers=origin).status_code == 404


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tether", *args], capture_output=True, text=True, timeout=60)


def test_cli_sessions(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = SQLiteStore(tmp_path / "cli.db")
    policy = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
    now = time.time()
    live = [make_record(now, user="ada", policy=policy) for _ in range(2)]
    expired = make_record(now - 1000, user="bob", policy=policy)  # idle-expired
    for record in (*live, expired):
        store.save(record, create=True)

    out = run_cli("sessions", "--store", url, "list", "--user", "ada")
    assert out.returncode == 0 and "2 session(s) of ada" in out.stdout
    assert all(r.key in out.stdout for r in live)
    rows = [json.loads(line) for line in run_cli("sessions", "--store", url, "--json", "list", "--user", "ada").stdout.splitlines()]
    assert {r["key"] for r in rows} == {r.key for r in live} and all(r["user"] == "ada" for r in rows)
    assert json.loads(run_cli("sessions", "--store", url, "--json", "stats").stdout) == {"stored": 3}

    hook = tmp_path / "hooks.py"
    log = tmp_path / "ended.log"
    hook.write_text(f"def on_end(record, reason):\n    open({str(log)!r}, 'a').write(record.meta.user + ' ' + reason + '\\n')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    swept = subprocess.run([sys.executable, "-m", "tether", "sessions", "--store", url, "sweep", "--on-end", "hooks:on_end"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert swept.returncode == 0 and "1 expired session(s) swept" in swept.stdout
    assert log.read_text() == "bob idle\n"

    out = subprocess.run([sys.executable, "-m", "tether", "sessions", "--store", url, "revoke", "--key", live[0].key,
                          "--on-end", "hooks:on_end"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and "1 session(s) revoked" in out.stdout
    assert log.read_text() == "bob idle\nada revoked\n"
    assert run_cli("sessions", "--store", url, "revoke", "--user", "ada").stdout.strip() == "1 session(s) revoked"
    assert store.list_by_user("ada") == []  # revoked: only tombstones remain, until the sweeper


@pytest.mark.parametrize(
    "args,message",
    [
        (["sessions", "--store", "postgres://x", "stats"], "unknown store URL"),
        (["sessions", "--store", "sqlite://relative.db", "stats"], "sqlite:///"),
        (["demo", "--idle", "10", "--warn", "30", "--port", "1"], "warn_before"),
    ],
)
def test_cli_bad_input_is_a_clear_error(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
