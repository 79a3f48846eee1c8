"""The demo's framework-neutral page helpers (tether.demo.pages)."""

import pytest

from tether import Policy
from tether.demo.pages import end_notice


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
    assert end_notice(reason, Policy()) == expected


@pytest.mark.parametrize("reason", [None, "", "none", "<script>", "IDLE"])
def test_no_notice_for_none_or_anything_unknown(reason):
    assert end_notice(reason, Policy()) is None


def test_short_timeouts_are_said_in_seconds():
    assert "after 90 seconds" in end_notice("idle", Policy(idle_timeout=90, warn_before=30))
    assert "after 1 minute " in end_notice("idle", Policy(idle_timeout=60, warn_before=20))
