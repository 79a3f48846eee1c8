"""The demo's shared rules, framework-free."""

import pytest

from tether.demo.pages import end_notice, safe_next


@pytest.mark.parametrize("value", ["/", "/form", "/form?saved=1#top", "/sessions/x%2Fy", "/caf%C3%A9"])
def test_local_paths_are_kept(value):
    assert safe_next(value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "form", "//evil.example", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
     "/\n/evil.example", "/\r\n/x", "/ /evil", "https://evil.example", "/\x00", "/\u2028/evil", "javascript:alert(1)"],
)
def test_anything_else_goes_home(value):
    assert safe_next(value) == "/"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("idle", "You were signed out after 20 minutes without activity, for your security."),
        ("absolute", "Your session reached its time limit of 12 hours. Please sign in again."),
        ("logout", "You have signed out."),
        ("revoked", "Your session was ended from another device or by an administrator."),
    ],
)
def test_the_login_page_says_why_the_session_ended(reason, expected):
    from tether import Policy

    assert end_notice(reason, Policy()) == expected


@pytest.mark.parametrize("reason", [None, "", "none", "<script>", "IDLE"])
def test_no_notice_for_none_or_anything_unknown(reason):
    from tether import Policy

    assert end_notice(reason, Policy()) is None


def test_short_timeouts_are_said_in_seconds():
    from tether import Policy

    assert "after 90 seconds" in end_notice("idle", Policy(idle_timeout=90, warn_before=30))
    assert "after 1 minute " in end_notice("idle", Policy(idle_timeout=60, warn_before=20))
