from __future__ import annotations

import os

import pytest

from tether.stores import MemoryStore, SQLiteStore
from tether.testing import CountingStore, FakeClock

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, what: str) -> None:
    """Skip locally when a real part is missing; fail in CI, where it must be there."""
    if not condition:
        if IN_CI:
            pytest.fail(f"{what} is required in CI")
        pytest.skip(f"{what} is not available")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    """A counting sync store, memory or a real SQLite file."""
    inner = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "sessions.db")
    yield CountingStore(inner)
    inner.close()
