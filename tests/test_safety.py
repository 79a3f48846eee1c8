"""``tether.safe_next``: every redirect trick we know, and the ones it must let through.

The same table runs against Django's ``safe_next`` (Django's own checker, then tether's)
in tests/frameworks/test_same_origin.py.
"""

from __future__ import annotations

import pytest

from tether import safe_next

HOST = "app.example"
ALLOWED = ("accounts.example",)

#: (the ``next`` value, where safe_next sends the person)
SAFE_NEXT_CASES = [
    # local paths come back as they are
    ("/", "/"),
    ("/reports?id=3&tab=2#top", "/reports?id=3&tab=2#top"),
    ("/caf%C3%A9/caf\u00e9", "/caf%C3%A9/caf\u00e9"),
    ("/a//b", "/a//b"),
    ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # percent-encoded: a path, not a host
    # this host, absolute: reduced to the path, so the scheme cannot change
    ("https://app.example/reports?id=3", "/reports?id=3"),
    ("http://app.example", "/"),
    ("https://app.example//evil.example/", "/"),  # the path would become scheme-relative
    # an allowed host comes back whole
    ("https://accounts.example/profile", "https://accounts.example/profile"),
    # empty and missing
    ("", "/"),
    (None, "/"),
    # other hosts, every spelling
    ("https://evil.example/", "/"),
    ("http://evil.example", "/"),
    ("//evil.example", "/"),
    ("///evil.example", "/"),
    ("////evil.example", "/"),
    ("https://app.example.evil.example/", "/"),
    ("https://evil.example/https://app.example/", "/"),
    ("https://app.example@evil.example/", "/"),
    ("https://user:pw@app.example/", "/"),  # user info is refused even for this host
    ("https://app.example:8443/", "/"),  # another port is another origin
    ("https:evil.example", "/"),
    ("http:evil.example", "/"),
    ("https:/evil.example", "/"),
    ("https:///evil.example", "/"),
    # backslashes: browsers read them as slashes
    ("/\\evil.example", "/"),
    ("\\\\evil.example", "/"),
    ("\\/evil.example", "/"),
    ("/\\/evil.example", "/"),
    ("https://evil.example\\@app.example/", "/"),
    # white space and control characters that browsers strip or fold
    ("/\t/evil.example", "/"),
    ("/\n/evil.example", "/"),
    ("/\r\n/evil.example", "/"),
    (" //evil.example", "/"),
    ("\x00//evil.example", "/"),
    ("/\x1b/evil.example", "/"),
    ("/ /evil.example", "/"),
    ("/\u00a0/evil.example", "/"),  # no-break space
    ("/\u2028/evil.example", "/"),  # line separator
    ("/\u200b/evil.example", "/"),  # zero-width space
    ("/\u202e/evil.example", "/"),  # right-to-left override
    # schemes that run code or carry content
    ("javascript:alert(1)", "/"),
    ("JavaScript:alert(1)", "/"),
    ("java\tscript:alert(1)", "/"),
    (" javascript:alert(1)", "/"),
    ("data:text/html,<script>alert(1)</script>", "/"),
    ("vbscript:msgbox(1)", "/"),
    ("ftp://app.example/", "/"),
    # relative references mean something only relative to a page
    ("reports", "/"),
    ("?next=//evil.example", "/"),
    ("#top", "/"),
    ("./reports", "/"),
    ("../reports", "/"),
    # malformed authorities
    ("https://[::1/", "/"),
    ("https://evil.example\uff0f.app.example/", "/"),  # NFKC turns U+FF0F into '/'
    ("https://app.example:port/", "/"),
    # not a string at all
    (b"/bytes", "/"),
    (["/list"], "/"),
]


@pytest.mark.parametrize(("value", "expected"), SAFE_NEXT_CASES)
def test_safe_next(value: object, expected: str) -> None:
    assert safe_next(value, HOST, ALLOWED) == expected


def test_a_default_of_the_apps_choosing() -> None:
    assert safe_next("//evil.example", HOST, default="/home") == "/home"
    assert safe_next("/reports", HOST, default="/home") == "/reports"


def test_hosts_compare_without_case_and_with_their_port() -> None:
    assert safe_next("https://APP.Example/x", HOST) == "/x"
    assert safe_next("http://localhost:8000/x", "localhost:8000") == "/x"
    assert safe_next("http://localhost/x", "localhost:8000") == "/"
    assert safe_next("https://Accounts.EXAMPLE/p", HOST, ["ACCOUNTS.example"]) == "https://Accounts.EXAMPLE/p"


def test_no_allowed_hosts_means_only_this_one() -> None:
    assert safe_next("https://accounts.example/profile", HOST) == "/"
