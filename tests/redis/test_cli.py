"""``tether sessions`` on a real Redis: stats and revoke through the store URL, as an
operator runs them from a shell."""

from __future__ import annotations

import json
import time

from tether import Policy
from tether.stores.redis import RedisStore
from tether.testing import make_record

from ..test_cli import run_cli
from .helpers import sync_client

POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)


def test_stats_and_revoke_on_redis(redis_server, prefix) -> None:
    store = RedisStore(sync_client(redis_server.port), prefix=prefix, shards=4)
    now = time.time()
    ada = [make_record(now, user="ada", policy=POLICY) for _ in range(2)]
    gone = make_record(now - 1000, user="bob", policy=POLICY)
    for record in (*ada, gone):
        store.save(record, create=True)
    url = f"{redis_server.url}?prefix={prefix}&shards=4"
    stats = run_cli("sessions", "stats", "--store", url, "--json", "--within", "60")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout) == {"live": 2, "users": 1, "expiring": 0, "ended": 1, "within": 60.0}
    out = run_cli("sessions", "--store", url, "revoke", "--user", "ada", "--except", ada[0].key[:12])
    assert (out.returncode, out.stdout) == (0, "1 session(s) revoked\n")
    assert [r.key for r in store.list_by_user("ada")] == [ada[0].key]
    store.client.close()


def test_an_unreachable_redis_is_one_line() -> None:
    out = run_cli("sessions", "--store", "redis://127.0.0.1:1/0", "stats")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("tether: redis store unavailable") and len(out.stderr.splitlines()) == 1
