"""tether._cookies directly: the tolerance rules for an attacker-controlled Cookie header,
and how Vary is merged."""

from __future__ import annotations

import pytest

from tether._cookies import clear_cookie, cookie_name, read_cookie, set_cookie, vary_with_cookie


@pytest.mark.parametrize(
    "header,expected",
    [
        (None, None),
        ("", None),
        ("tether=abc", "abc"),
        ("a=1; tether=abc; tether=second", "abc"),  # the first one wins
        ('tether="abc"', "abc"),
        ("junk; ;;=; tether = abc ", "abc"),  # pairs without '=' are skipped
        ("tetherx=abc; xtether=abc", None),
    ],
)
def test_read_cookie_is_tolerant_of_junk(header: str | None, expected: str | None) -> None:
    assert read_cookie(header, "tether") == expected


def test_host_prefix_only_for_secure_root_cookies() -> None:
    assert cookie_name("tether", secure=True, path="/") == "__Host-tether"
    assert cookie_name("tether", secure=True, path="/app") == "tether"
    assert cookie_name("tether", secure=False, path="/") == "tether"


def test_set_and_clear_cookie() -> None:
    assert set_cookie("tether", "t", secure=True) == "tether=t; Path=/; HttpOnly; SameSite=Lax; Secure"
    assert "Max-Age=0" in clear_cookie("tether", secure=False)


@pytest.mark.parametrize(
    "current,merged",
    [
        (None, "Cookie"),
        ("", "Cookie"),
        ("Accept-Encoding", "Accept-Encoding, Cookie"),
        ("Accept-Encoding, cookie", None),  # already there, in any case
        ("*", None),  # varies on everything already
    ],
)
def test_vary_with_cookie_merges_with_the_apps_vary(current: str | None, merged: str | None) -> None:
    assert vary_with_cookie(current) == merged
