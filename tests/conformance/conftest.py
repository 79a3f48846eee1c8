"""The conformance fixtures: one adapter over one store (or signed-cookie mode) per test,
on a fake clock, with ``on_end`` and ``on_event`` recorded (see test_protocol.Server)."""

from __future__ import annotations

import pytest

from .test_protocol import SERVER_SIDE, VARIANTS, serve


@pytest.fixture(params=VARIANTS, ids=[f"{adapter}-{kind}" for adapter, kind in VARIANTS])
def server(request, clock, tmp_path):
    """Every variant: each adapter over each store, and in signed-cookie mode."""
    yield from serve(request, clock, tmp_path)


@pytest.fixture(params=SERVER_SIDE, ids=[f"{adapter}-{kind}" for adapter, kind in SERVER_SIDE])
def server_side(request, clock, tmp_path):
    """The variants whose sessions live in a store (every one but signed-cookie mode)."""
    yield from serve(request, clock, tmp_path)
