"""``tether sessions`` on a real PostgreSQL (the run's private cluster, a table of this
test's own): stats counts with one statement, and no command creates the table."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg

from tether import Policy
from tether.stores.postgres import PostgresStore, pool_options
from tether.testing import make_record

from ..test_cli import run_cli

POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)


def table_exists(server: Any, table: str) -> bool:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        return bool(conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0])


def test_stats_and_a_missing_table(postgres_server: Any, postgres_url: str) -> None:
    table = pool_options(postgres_url)[1]
    missing = run_cli("sessions", "--store", postgres_url, "stats")
    assert missing.returncode == 2 and missing.stdout == "" and len(missing.stderr.splitlines()) == 1
    assert missing.stderr.startswith("tether: postgres store") and "Traceback" not in missing.stderr
    assert not table_exists(postgres_server, table)  # the read-only command created nothing

    store = PostgresStore.from_url(postgres_url)
    now = time.time()
    for record in (make_record(now, user="ada", policy=POLICY), make_record(now - 1000, user="bob", policy=POLICY)):
        store.save(record, create=True)
    stats = run_cli("sessions", "--store", postgres_url, "stats", "--json", "--within", "60")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout) == {"live": 1, "users": 1, "expiring": 0, "ended": 1, "within": 60.0}
    store.close()
