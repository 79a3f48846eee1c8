"""The documentation cannot drift from the API: the site builds with ``--strict``, every
Python snippet on every page parses, and every Python snippet of the quick starts is a
file of a whole app that a test here writes to disk, imports and drives.

A quick-start snippet names its file in its fence (```` ```python title="app.py" ````);
other titled blocks (templates) are written next to them.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest

from .conftest import need

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r'^([ \t]*)```(\w+)(?:[ \t]+title="([^"]+)")?[ \t]*\n(.*?)^\1```[ \t]*$', re.M | re.S)
OWN = "http://testserver"


def blocks(page: Path) -> list[tuple[str, str | None, str]]:
    """(language, title, code) of every fenced block of a page, indented ones (in tabs) too."""
    return [(m[2], m[3], textwrap.dedent(m[4])) for m in FENCE.finditer(page.read_text())]


def quickstart_files(name: str) -> dict[str, str]:
    """The titled blocks of a quick start: file name -> content."""
    return {title: code for _, title, code in blocks(DOCS / "quickstart" / f"{name}.md") if title}


#: Which test drives which quick-start file; a new snippet needs a driver here.
DRIVEN = {
    "starlette": {"app.py", "main.py", "wsgi_app.py"},
    "flask": {"app.py"},
    "django": {"mysite/settings.py", "mysite/urls.py", "mysite/views.py"},
}


def test_every_python_snippet_parses() -> None:
    pages = sorted(DOCS.rglob("*.md"))
    assert pages
    for page in pages:
        for language, title, code in blocks(page):
            if language == "python":
                ast.parse(code, filename=f"{page.relative_to(ROOT)}:{title or 'snippet'}")


@pytest.mark.parametrize("name", sorted(DRIVEN))
def test_every_quickstart_python_snippet_is_a_driven_file(name: str) -> None:
    python = [(title, code) for language, title, code in blocks(DOCS / "quickstart" / f"{name}.md") if language == "python"]
    assert python and all(title for title, _ in python), "every Python snippet of a quick start names its file"
    assert {title for title, _ in python} == DRIVEN[name]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Write a quick start's files into an empty directory and work from there (the SQLite
    store file lands there too)."""

    def write(name: str) -> Path:
        for title, code in quickstart_files(name).items():
            target = tmp_path / title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code)
        return tmp_path

    monkeypatch.chdir(tmp_path)
    yield write


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"quickstart_{path.stem}_{id(path)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drive_sign_in(client: Any, form_url: str = "/login") -> None:
    """The same story on every framework: a safe ``next``, same-origin forms, the endpoints."""
    origin = {"Origin": OWN}
    home = client.get("/")
    assert home.status_code in (302, 303) and "/login" in home.headers["location"] and "next=" in home.headers["location"]
    form = client.get(form_url + "?next=//evil.example/")
    assert form.status_code == 200 and 'name="next" value="/"' in form.text and "/_tether/tether.js?v=" in form.text
    kept = client.get(form_url + "?next=/%3Fpage%3D2")
    assert 'name="next" value="/?page=2"' in kept.text
    credentials = {"username": "ada", "password": "lovelace"}
    # Another site's form is refused, and signs nobody in.
    refused = client.post(form_url, data={**credentials, "next": "/"}, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert client.get("/").status_code in (302, 303)
    wrong = client.post(form_url, data={**credentials, "password": "nope", "next": "/"}, headers=origin)
    assert wrong.status_code == 400
    # An open-redirect attempt lands on this site.
    signed = client.post(form_url, data={**credentials, "next": "https://evil.example/"}, headers=origin)
    assert signed.status_code in (302, 303) and signed.headers["location"] == "/"
    assert "Signed in as ada" in client.get("/").text
    beat = client.post("/_tether/heartbeat", json={}, headers=origin)
    assert beat.status_code == 200 and json.loads(beat.text)["idle_timeout"] == 1200
    again = client.post(form_url, data={**credentials, "next": "/?page=2"}, headers=origin)
    assert again.headers["location"] == "/?page=2"


def test_starlette_quickstart(project: Any) -> None:
    from starlette.testclient import TestClient

    root = project("starlette")
    with TestClient(load(root / "app.py").app, base_url=OWN, follow_redirects=False) as client:
        drive_sign_in(client)
        assert client.post("/logout", headers={"Origin": "https://evil.example"}).status_code == 403
        assert client.post("/logout", headers={"Origin": OWN}).status_code == 303
        assert client.get("/_tether/status").status_code == 401
        assert client.get("/").status_code == 303
    assert (root / "tether-sessions.sqlite3").exists()


def test_fastapi_quickstart(project: Any) -> None:
    from fastapi.testclient import TestClient

    root = project("starlette")
    with TestClient(load(root / "main.py").app, base_url=OWN, follow_redirects=False) as client:
        drive_sign_in(client)
        assert client.get("/me").json()["user"] == "ada"
        assert client.post("/logout", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert client.post("/logout", headers={"Origin": OWN}).status_code == 303
        assert client.get("/me").json()["user"] is None
    assert (root / "tether-sessions.sqlite3").exists()


def test_wsgi_quickstart(project: Any) -> None:
    from werkzeug.test import Client

    root = project("starlette")
    client = Client(load(root / "wsgi_app.py").application)
    origin = {"Origin": "http://localhost"}
    assert client.post("/login", data={"username": "ada"}, headers={"Origin": "https://evil.example"}).status_code == 403
    signed = client.post("/login", data={"username": "ada", "next": "//evil.example"}, headers=origin)
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    assert client.get("/").text == "signed in as ada"
    assert client.post("/_tether/heartbeat", json={}, headers=origin).status_code == 200
    assert (root / "tether-sessions.sqlite3").exists()


def test_flask_quickstart(project: Any) -> None:
    root = project("flask")
    app = load(root / "app.py").app
    client = app.test_client()

    class Wrapped:
        """Flask's test client, answering like the others: ``.text``, relative Location."""

        def get(self, path: str, **kw: Any) -> Any:
            return self._wrap(client.get(path, base_url=OWN, **kw))

        def post(self, path: str, **kw: Any) -> Any:
            return self._wrap(client.post(path, base_url=OWN, **kw))

        @staticmethod
        def _wrap(response: Any) -> Any:
            response.text = response.get_data(as_text=True)
            return response

    drive_sign_in(Wrapped())
    assert client.post("/logout", base_url=OWN, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/logout", base_url=OWN, headers={"Origin": OWN}).status_code == 303
    assert client.get("/", base_url=OWN).status_code == 302
    assert (root / "tether-sessions.sqlite3").exists()


def test_django_quickstart(project: Any) -> None:
    pytest.importorskip("django")
    root = project("django")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-m", "tests.docs_django_driver", str(root)], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("quick start ok")
    assert (root / "tether-sessions.sqlite3").exists()


def test_the_site_builds_strict(tmp_path: Path) -> None:
    need(importlib.util.find_spec("mkdocs") is not None and importlib.util.find_spec("material") is not None, "mkdocs-material")
    site = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    for page in ("index.html", "install/index.html", "quickstart/flask/index.html", "configuration/index.html", "benchmarks/index.html"):
        assert (site / page).exists(), page
