"""The template helper: one tag, its config escaped, its version the served file's."""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

import pytest

from tether import Policy
from tether import Config, Protocol, Request, Session
from tether._script import TEXTS, draft_owner, script_tag, script_version
from tether.testing import make_record


def handle(*, user: str | None = "ada", now: float = 1_800_000_000.0, **config) -> Session:
    protocol = Protocol(Config(policy=Policy(idle_timeout=600, warn_before=60), **config))
    record = make_record(now, user=user, policy=protocol.policy)
    return Session(protocol.config, record, now=now + 10, secure=False)


def parse(tag: str) -> tuple[str, dict]:
    match = re.fullmatch(r"<script src=\"([^\"]+)\" defer data-tether='([^']*)'(?: nonce=\"[^\"]*\")?></script>", tag)
    assert match, tag
    return html.unescape(match.group(1)), json.loads(html.unescape(match.group(2)))


def test_renders_one_deferred_tag_with_the_sessions_state():
    src, config = parse(script_tag(handle()))
    assert src == f"/_tether/tether.js?v={script_version()}"
    assert config["heartbeat"] == "/_tether/heartbeat"
    assert config["status"] == "/_tether/status"
    assert config["end"] == "/_tether/end"
    assert config["login_url"] == "/login"
    assert config["session"] == {
        "state": "active",
        "idle_remaining": 590.0,
        "absolute_remaining": 43190.0,
        "idle_timeout": 600,
        "warn_before": 60,
    }
    assert config["user"] == draft_owner("ada") != "ada"
    assert "ui" not in config and "heart" not in config and "texts" not in config


def test_defaults_come_from_the_middleware_config_and_can_be_overridden():
    _, config = parse(script_tag(handle(prefix="/auth/keep", login_url="/signin")))
    assert config["heartbeat"] == "/auth/keep/heartbeat" and config["login_url"] == "/signin"
    src, config = parse(script_tag(handle(), prefix="/x", login_url="/in?lang=fr"))
    assert src.startswith("/x/tether.js?v=") and config["login_url"] == "/in?lang=fr"


def test_no_session_renders_an_ended_config():
    _, config = parse(script_tag(None))
    assert config["session"] == {"state": "ended", "reason": "none"}
    assert config["user"] is None


def test_options_nonce_and_escaping():
    tag = script_tag(
        handle(user="</script><b x='1'>"),
        nonce='n"1',
        ui=False,
        heart=True,
        texts={"title": "Toujours là ? <'&'>"},
    )
    assert 'nonce="n&quot;1"' in tag
    assert "</script><" not in tag[:-9] and "'1'" not in tag
    _, config = parse(tag)
    assert config["ui"] is False and config["heart"] is True
    assert config["texts"] == {"title": "Toujours là ? <'&'>"}


def test_unknown_texts_are_refused():
    with pytest.raises(ValueError, match="unknown tether text"):
        script_tag(handle(), texts={"titel": "typo"})


def test_the_tag_is_html_safe_for_template_engines():
    from markupsafe import Markup, escape

    tag = script_tag(handle())
    assert isinstance(tag, str)
    assert escape(tag) == Markup(tag)  # __html__: inserted as is by Jinja


def test_version_matches_what_the_protocol_serves():
    version = script_version()
    response = Protocol().script(Request("GET", "/_tether/tether.js", query=f"v={version}"))
    headers = dict(response.headers)
    assert "immutable" in headers["cache-control"] and headers["etag"] == f'"{version}"'
    served = (Path(__file__).resolve().parents[1] / "src" / "tether" / "static" / "tether.min.js").read_bytes()
    assert response.body == served
    assert version == hashlib.sha256(served).hexdigest()[:16]


def test_js_defaults_match_the_python_texts():
    source = (Path(__file__).resolve().parents[1] / "src" / "tether" / "static" / "tether.js").read_text()
    for key, text in TEXTS.items():
        assert f'{key}: "{text}"' in source, key
