"""Each copy-paste app in examples/ starts, signs someone in and answers a heartbeat."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ORIGIN = {"Origin": "http://testserver"}
BEAT = {"Content-Type": "application/json", **ORIGIN}


def load(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import an example fresh, with its files (SQLite stores) in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_starlette_example(tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    app = load("starlette_app", tmp_path, monkeypatch).app
    with TestClient(app, base_url="http://testserver") as client:
        assert client.post("/login", data={"username": "ada"}).status_code == 403  # no Origin: refused
        assert client.post("/login", data={"username": "ada"}, headers=ORIGIN).status_code == 200
        page = client.get("/").text
        assert "Signed in as ada" in page and "/_tether/tether.js" in page
        assert client.post("/_tether/heartbeat", content=b"{}", headers=BEAT).json()["state"] == "active"


def test_fastapi_example(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    from starlette.testclient import TestClient

    app = load("fastapi_app", tmp_path, monkeypatch).app
    with TestClient(app, base_url="http://testserver") as client:
        assert client.post("/login", json={"user": "ada"}, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert client.get("/me").json()["user"] is None
        client.post("/login", json={"user": "ada"}, headers=ORIGIN)
        assert client.get("/me").json()["user"] == "ada"
        assert client.post("/_tether/heartbeat", content=b"{}", headers=BEAT).json()["state"] == "active"


def test_flask_example(tmp_path, monkeypatch):
    pytest.importorskip("flask")
    from .frameworks.transport import wsgi_test_client

    app = load("flask_app", tmp_path, monkeypatch).app
    with wsgi_test_client(app) as client:
        assert client.post("/login", data={"username": "ada"}).status_code == 403  # no Origin: refused
        assert client.post("/login", data={"username": "ada"}, headers=ORIGIN).status_code == 303
        page = client.get("/").text
        assert "Signed in as ada" in page and "/_tether/tether.js" in page
        assert client.post("/_tether/heartbeat", content=b"{}", headers=BEAT).json()["state"] == "active"


DJANGO_SCRIPT = textwrap.dedent(
    """
    import django, re
    django.setup()
    from django.core.management import call_command
    call_command("check", fail_level="WARNING")
    call_command("migrate", verbosity=0)
    from django.test import Client
    client = Client(enforce_csrf_checks=True)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/").content.decode()).group(1)
    assert client.post("/login", {"username": "ada", "csrfmiddlewaretoken": token}).status_code == 302
    page = client.get("/").content.decode()
    assert "Signed in as ada" in page and "/_tether/tether.js" in page, page
    beat = client.post("/_tether/heartbeat", b"{}", content_type="application/json", headers={"Origin": "http://testserver"})
    assert beat.json()["state"] == "active", beat.content
    print("ok")
    """
)


def test_django_example(tmp_path):
    pytest.importorskip("django")
    src = Path(__file__).resolve().parent.parent / "src"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings",
        "PYTHONPATH": os.pathsep.join([str(EXAMPLES / "django_app"), str(src)]),
    }
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr
