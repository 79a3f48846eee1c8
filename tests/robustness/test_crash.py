"""Crash: ``kill -9`` of a real server writing to SQLite under load.

Client threads sign in, write data and beat against a real server process (uvicorn on the
ASGI middleware, gunicorn with two worker processes on the WSGI middleware) until enough
sign-ins were acknowledged, and the server (all its processes) is killed with SIGKILL
while requests are still in flight. Then the SQLite file passes ``PRAGMA
integrity_check``, and a new server on the same file finds every session whose sign-in
was acknowledged (200 and a Set-Cookie received) still valid, with every acknowledged
data write in it.
"""

from __future__ import annotations

import sqlite3
import threading

import httpx
import pytest

from .conftest import JSON_POST, start_server, wait_until

CLIENTS = 6
ACKNOWLEDGED = 120  # sign-ins acknowledged before the kill


@pytest.fixture(params=["uvicorn-h11", "gunicorn"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def load(base: str, acknowledged: dict[str, int], lock: threading.Lock, stop: threading.Event) -> None:
    """Sign in, write, beat, again and again, until the server is gone."""
    origin = {"Origin": base}
    with httpx.Client(base_url=base, timeout=5) as client:
        n = 0
        while not stop.is_set():
            n += 1
            client.cookies.clear()
            try:
                signed = client.post("/login", json={"user": f"u{threading.get_ident()}-{n}"})
                token = signed.cookies.get("tether") if signed.status_code == 200 else None
                if token is None:
                    continue
                with lock:
                    acknowledged[token] = 0
                if client.post("/data", json={"n": n}).status_code == 200:
                    with lock:
                        acknowledged[token] = n  # this write was acknowledged too
                client.post("/_tether/heartbeat", content=b"{}", headers={**JSON_POST, **origin})
            except httpx.TransportError:
                if stop.is_set():
                    return


def test_kill_9_under_load_keeps_the_file_intact_and_every_acknowledged_session(kind, tmp_path):
    app = "conformance_wsgi" if kind == "gunicorn" else "conformance_asgi"
    server = start_server(kind, tmp_path, app=app, workers=2)
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(server.base, acknowledged, lock, stop)) for _ in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: len(acknowledged) >= ACKNOWLEDGED, 60, f"{ACKNOWLEDGED} acknowledged sign-ins")
        server.kill()  # SIGKILL to the whole process group, mid-load
    finally:
        stop.set()
        server.kill()
        for thread in threads:
            thread.join(timeout=30)
    with lock:
        sessions = dict(acknowledged)

    with sqlite3.connect(tmp_path / "sessions.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    again = start_server(kind, tmp_path, app=app)
    try:
        with httpx.Client(base_url=again.base, timeout=10) as client:
            for token, n in sessions.items():
                cookie = {"Cookie": f"tether={token}"}
                status = client.get("/_tether/status", headers=cookie)
                assert status.status_code == 200 and status.json()["state"] == "active", (token, status.text)
                data = client.get("/whoami", headers={**cookie, "Tether-Passive": "1"}).json()["data"]
                assert data == ({"n": n} if n else {}) or (n == 0 and set(data) == {"n"}), (token, data)
    finally:
        again.stop()
    assert len(sessions) >= ACKNOWLEDGED
