"""The Django app beyond the shared suite: django.contrib.auth, the test client, async,
checks, the template tag and the management commands."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, Iterator

import pytest

pytest.importorskip("django")

from .django_setup import MIDDLEWARE, setup  # noqa: E402

setup()

from django.core import checks  # noqa: E402
from django.core.management import CommandError, call_command  # noqa: E402
from django.test import AsyncClient, Client, override_settings  # noqa: E402

from tether import MemoryStore, Policy, StoreUnavailable, hash_token  # noqa: E402
from tether.testing import FakeClock  # noqa: E402

POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)


class Env:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.clock = FakeClock()
        self.ended: list[tuple[str, str]] = []

    def on_end(self, record: Any, reason: str) -> None:
        self.ended.append((record.meta.user, reason))


@pytest.fixture
def env() -> Iterator[Env]:
    env = Env()
    tether = {"store": env.store, "clock": env.clock, "policy": POLICY, "on_end": env.on_end, "sweep_interval": None}
    with override_settings(TETHER=tether):
        yield env


def post(client: Client, path: str, **body: Any) -> Any:
    return client.post(path, body, content_type="application/json")


def token(client: Client) -> str:
    return client.cookies["tether"].value


def test_auth_login_signs_in_with_a_new_token(env: Env) -> None:
    client = Client()
    post(client, "/data", cart=[1])
    anonymous = token(client)
    pk = post(client, "/auth/login", user="ada").json()["pk"]
    signed_in = token(client)
    assert signed_in != anonymous and env.store.load(hash_token(anonymous)) is None
    record = env.store.load(hash_token(signed_in))
    assert record.meta.user == str(pk) and record.data["cart"] == [1]  # data carries over
    assert client.get("/auth/me").json() == {"user": "ada", "tether_user": str(pk)}
    env.clock.advance(3000)
    post(client, "/auth/login", user="ada")  # same user again: still a new token and window
    assert token(client) != signed_in
    assert client.get("/_tether/status").json()["absolute_remaining"] == 3600.0


def test_auth_login_as_someone_else_ends_the_first_session(env: Env) -> None:
    client = Client()
    post(client, "/auth/login", user="ada")
    first = token(client)
    response = post(client, "/auth/login", user="bob")
    pk = response.json()["pk"]
    # The browser keeps the new token: its Set-Cookie is not an expired one.
    issued = response.cookies["tether"]
    assert issued.value == token(client) and issued["max-age"] == "" and issued["expires"] == ""
    assert env.store.load(hash_token(first)) is None
    assert env.store.load(hash_token(token(client))).meta.user == str(pk)
    assert [reason for _, reason in env.ended] == ["logout"]


def test_auth_logout_ends_the_session(env: Env) -> None:
    client = Client()
    post(client, "/auth/login", user="ada")
    first = token(client)
    response = post(client, "/auth/logout")
    assert response.cookies["tether"]["max-age"] in (0, "0")
    assert env.store.load(hash_token(first)) is None and env.store.count() == 0
    assert env.ended[-1][1] == "logout"
    assert client.get("/auth/me").json() == {"user": None, "tether_user": None}


def test_idle_timeout_signs_django_users_out(env: Env) -> None:
    client = Client()
    post(client, "/auth/login", user="ada")
    env.clock.advance(600)
    assert client.get("/auth/me").json() == {"user": None, "tether_user": None}
    assert env.ended[-1][1] == "idle"


def test_test_client_login_uses_the_tether_engine(env: Env) -> None:
    from django.contrib.auth.models import User

    user, _ = User.objects.get_or_create(username="cy")
    client = Client()
    client.force_login(user)
    assert client.get("/auth/me").json() == {"user": "cy", "tether_user": str(user.pk)}
    session = client.session
    session["note"] = "hi"
    session.save()
    assert client.get("/whoami").json()["data"]["note"] == "hi"
    client.logout()
    assert env.store.count() == 0


def test_async_middleware(env: Env) -> None:
    async def scenario() -> None:
        client = AsyncClient()
        await client.post("/login", {"user": "ada"}, content_type="application/json")
        whoami = await client.get("/whoami")
        assert whoami.json()["user"] == "ada"
        beat = await client.post("/_tether/heartbeat", b"{}", content_type="application/json", headers={"Origin": "http://testserver"})
        assert beat.status_code == 200 and beat.json()["state"] == "active"

    asyncio.run(scenario())


def test_store_outage_is_503(env: Env) -> None:
    client = Client()
    post(client, "/login", user="ada")

    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("test outage", retry_after=3)

    env.store.load = down  # type: ignore[method-assign]
    for response in (client.get("/whoami"), client.get("/_tether/status")):
        assert response.status_code == 503 and response["Retry-After"] == "3"
        assert response["Content-Type"] == "application/json"


def test_template_tag(env: Env) -> None:
    html = Client().get("/page").content.decode()
    try:
        import tether._script  # noqa: F401
    except ImportError:
        assert html == "<body></body>"
    else:
        assert "<script" in html and "/_tether/tether.js" in html


def ids(**overrides: Any) -> set[str]:
    with override_settings(**overrides):
        return {m.id for m in checks.run_checks(tags=["tether"])}


def test_checks_pass_when_configured(env: Env) -> None:
    assert ids() == set()


def test_checks_explain_misconfiguration(env: Env) -> None:
    assert ids(TETHER={"idle_timout": 5}) == {"tether.E001"}
    assert ids(TETHER="sqlite:///sessions.db") == {"tether.E001"}  # a store URL where the dict goes
    django_sessions = ["django.contrib.sessions.middleware.SessionMiddleware", *MIDDLEWARE[1:]]
    assert ids(MIDDLEWARE=django_sessions) == {"tether.E002", "tether.E003"}
    assert ids(MIDDLEWARE=[MIDDLEWARE[1], MIDDLEWARE[0]]) == {"tether.E004"}
    assert ids(SESSION_ENGINE="django.contrib.sessions.backends.db", SESSION_COOKIE_NAME="sessionid") == {
        "tether.W001",
        "tether.W002",
    }
    assert ids(TETHER={"store": "memory://", "prefix": "/keepalive"}) == {"tether.E006"}
    assert ids(ROOT_URLCONF="tests.frameworks.django_bare_urls") == {"tether.E005"}


def test_management_commands(env: Env) -> None:
    client = Client()
    post(client, "/login", user="ada")
    out = io.StringIO()
    call_command("tether_sessions", "list", "--user", "ada", stdout=out)
    assert "1 session(s) of ada" in out.getvalue()
    call_command("tether_sessions", "stats", stdout=out)
    assert "live sessions: 1\nusers with a live session: 1\nexpiring within 600 s: 1\n" in out.getvalue()
    stats = io.StringIO()
    call_command("tether_sessions", "stats", "--json", "--within", "10", stdout=stats)
    assert json.loads(stats.getvalue()) == {"live": 1, "users": 1, "expiring": 0, "ended": 0, "within": 10.0}
    with pytest.raises(CommandError, match="KEY or --user"):
        call_command("tether_sessions", "revoke", stdout=out)
    env.clock.advance(601)
    call_command("clearsessions")  # Django's own command sweeps through the engine
    assert env.store.count() == 0 and env.ended == [("ada", "idle")]
    post(client, "/login", user="bob")
    call_command("tether_sessions", "revoke", "--user", "bob", stdout=out)
    assert env.ended[-1] == ("bob", "revoked")
    call_command("tether_sessions", "sweep", stdout=out)
    assert "0 expired session(s) swept" in out.getvalue()


def test_async_session_methods_map_to_the_handle(env: Env) -> None:
    from tether.contrib.django.conf import runtime
    from tether.contrib.django.session import SessionStore

    tether = runtime()
    client = Client()
    post(client, "/login", user="ada")
    handle = tether.open_token(token(client))
    session = SessionStore(handle=handle, tether=tether)

    async def scenario() -> None:
        await session.aset("k", 1)
        assert await session.aget("k") == 1
        await session.acycle_key()
        assert session.close()[0].startswith("tether=")  # signed in again: a new token
        await session.aflush()

    asyncio.run(scenario())
    assert session.tether.data == {} and session.tether.record is None  # a fresh anonymous session


def write_catalog(directory: Any, language: str, messages: dict[str, str]) -> None:
    """A compiled gettext catalog (.mo), written by hand: the format is five numbers,
    two offset tables and the strings (GNU gettext manual, "The Format of MO Files")."""
    import struct

    entries = sorted({"": "Content-Type: text/plain; charset=UTF-8\n", **messages}.items())
    ids = [key.encode() for key, _ in entries]
    strs = [value.encode() for _, value in entries]
    start = 7 * 4 + 16 * len(entries)
    table, data = [], b""
    for chunk in ids + strs:
        table.append((len(chunk), start + len(data)))
        data += chunk + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, len(entries), 28, 28 + 8 * len(entries), 0, 0)
    path = directory / language / "LC_MESSAGES"
    path.mkdir(parents=True)
    (path / "django.mo").write_bytes(header + b"".join(struct.pack("<2I", *pair) for pair in table) + data)


def test_template_tag_sends_the_texts_translated_by_gettext(env: Env, tmp_path: Any) -> None:
    import html
    import json
    import re

    from django.utils import translation

    write_catalog(tmp_path, "fr", {"Stay signed in": "Rester connecté", "Sign out": "Se déconnecter"})
    with override_settings(LOCALE_PATHS=[str(tmp_path)]), translation.override("fr"):
        page = Client().get("/page").content.decode()
    config = json.loads(html.unescape(re.search(r"data-tether='([^']*)'", page).group(1)))
    # Only the translated texts travel; the others keep the client's English defaults.
    assert config["texts"] == {"stay": "Rester connecté", "signout": "Se déconnecter"}
    english = json.loads(html.unescape(re.search(r"data-tether='([^']*)'", Client().get("/page").content.decode()).group(1)))
    assert "texts" not in english
