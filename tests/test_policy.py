"""Clock-driven unit tests for every timeout rule (pure: no store, no HTTP)."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from tether import ConfigurationError, Policy

T0 = 1_800_000_000.0


def test_defaults_follow_the_standards():
    p = Policy()
    assert p.idle_timeout == 1200  # ASP.NET's 20 minutes
    assert p.absolute_timeout == 12 * 3600  # NIST SP 800-63B AAL2
    assert p.warn_before == 120
    assert p.granularity == 60  # min(60, 1200 / 20)
    assert Policy(idle_timeout=60, warn_before=12).granularity == 3


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"idle_timeout": 600, "absolute_timeout": 300}, "shorter than idle_timeout"),
        ({"idle_timeout": 600, "warn_before": 600}, "shorter than"),
        ({"warn_before": 0}, "positive"),
        ({"idle_timeout": 0}, "positive"),
        ({"idle_timeout": "20m"}, "number of seconds"),
        ({"idle_timeout": float("nan")}, "number of seconds"),
        ({"idle_timeout": True}, "number of seconds"),
        ({"touch_granularity": -1}, "touch_granularity"),
        ({"idle_timeout": 60, "warn_before": 20, "touch_granularity": 40}, "touch_granularity"),
    ],
)
def test_bad_settings_raise_clear_errors(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        Policy(**kwargs)


def test_short_warning_is_allowed_but_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="tether"):
        Policy(idle_timeout=60, warn_before=10)
    assert "WCAG 2.2.1" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tether"):
        Policy(idle_timeout=60, warn_before=20)
    assert caplog.text == ""


def test_idle_boundary_is_exact():
    p = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
    meta = p.start(T0)
    assert p.end_reason(meta, T0 + 599.999) is None
    assert p.end_reason(meta, T0 + 600) == "idle"


def test_absolute_boundary_wins_over_idle():
    p = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
    meta = p.start(T0)
    for t in range(300, 3600, 300):
        meta = p.touched(meta, T0 + t)
    assert meta.idle_expires_at == T0 + 3600  # capped: never past the absolute expiry
    assert p.end_reason(meta, T0 + 3599.9) is None
    assert p.end_reason(meta, T0 + 3600) == "absolute"


def test_activity_slides_idle_never_absolute():
    p = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
    meta = p.start(T0)
    later = p.touched(meta, T0 + 500)
    assert later.idle_expires_at == T0 + 1100
    assert later.absolute_expires_at == meta.absolute_expires_at
    assert later.created_at == meta.created_at


def test_touch_never_moves_backwards():
    p = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
    meta = p.touched(p.start(T0), T0 + 500)
    stale = p.touched(meta, T0 + 100)  # a slow request that started earlier
    assert stale.last_active == T0 + 500
    assert stale.idle_expires_at == T0 + 1100


def test_granularity_boundaries():
    p = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)  # granularity 30
    meta = p.start(T0)
    assert not p.wants_touch(meta, T0 + 29.999)
    assert p.wants_touch(meta, T0 + 30)
    zero = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60, touch_granularity=0)
    assert zero.wants_touch(meta, T0 + 0.001)
    # Nothing to write when the stored activity is already "now" (e.g. a store slid it).
    assert not zero.wants_touch(meta, T0)


def test_no_touch_once_idle_expiry_reached_absolute():
    p = Policy(idle_timeout=600, absolute_timeout=1000, warn_before=60)
    meta = p.touched(p.start(T0), T0 + 500)
    assert meta.idle_expires_at == T0 + 1000
    assert not p.wants_touch(meta, T0 + 900)  # nothing left to slide: no write


def test_state_is_relative():
    p = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
    state = p.state(p.start(T0), T0 + 0.25)
    assert state == {
        "state": "active",
        "idle_remaining": 599.75,
        "absolute_remaining": 3599.75,
        "idle_timeout": 600,
        "warn_before": 60,
    }



@pytest.mark.parametrize(
    "policy",
    [Policy(), Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60), Policy(idle_timeout=600.5, warn_before=30.25)],
)
@pytest.mark.parametrize("now", [T0, T0 + 0.25, T0 + 1 / 3, 1_700_000_000, 1_700_000_000.0001, 0.1])
def test_state_json_is_the_bytes_json_gives(policy, now):
    """The heartbeat's 200 body is formatted directly; it must stay byte for byte what
    the JSON encoder makes of :meth:`Policy.state`, ints and floats alike."""
    metas = [policy.start(now), policy.touched(policy.start(now - 7.123456), now), policy.start(now - 30)]
    for meta in metas:
        assert policy.state_json(meta, now) == json.dumps(policy.state(meta, now), separators=(",", ":")).encode()


def test_state_json_of_a_corrupt_record_is_still_what_json_gives():
    p = Policy()
    meta = dataclasses.replace(p.start(T0), idle_expires_at=float("inf"))
    assert p.state_json(meta, T0) == json.dumps(p.state(meta, T0), separators=(",", ":")).encode()

def test_login_starts_new_absolute_window():
    p = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
    first = p.start(T0)
    second = p.start(T0 + 3000, "ada")
    assert second.absolute_expires_at == T0 + 6600 > first.absolute_expires_at
    assert second.user == "ada"
