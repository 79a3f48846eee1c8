"""Key names and the store's operations, pure: no client, no I/O.

An operation is a generator (the sans-I/O habit of the protocol layer): it yields a
batch of calls (one round trip), receives their results in the same order, and finally
returns its value. The script-retry logic is one such generator too. The sync and async
stores only drive them, so every decision exists once.

Key layout (prefix ``tether:`` by default)::

    tether:{N}:r:<key>   hash    d (data, JSON), c, la, ie, ae (meta, repr floats), u (user),
                                 dv, ip (device and address at sign-in), en (a tombstone's reason)
    tether:{N}:exp       zset    member <key>, score = min(idle, absolute expiry)
    tether:{N}:usr       zset    member "<len(user)>:<user>:<key>", score 0 (lexical index)

``N`` is the session's *shard*, ``crc32(key) % shards``. The shard number is the hash tag,
so a session's record and its entries in both indexes always live in one hash slot, on
Redis Cluster too. That is what lets every write be one atomic Lua script: the record and
its index entries can never disagree, and a claim (delete, sweep) is exactly-once.

Why shards and not one index, or one index per slot: one expiry zset would put every
session in one slot (one cluster node); an index per cluster slot (16384 keys) would make
a sweep scan them all. ``shards`` (default 64) spreads sessions over that many slots
(raise it for clusters with many primaries), and a sweep, ``count`` or
``list_by_user`` is one pipelined read over the shards (one round trip per node), then
one pipelined claim. ``shards`` and ``prefix`` must be the same on every app server and
must not change while sessions live: they decide where a session is found.

Expiry: the record carries a Redis TTL of ``expires_at - last_active + ttl_grace``,
counted on Redis' own clock (app servers' clock skew, and fake clocks in tests, cannot
delete a live session early). Sweeping is driven by the expiry index, not by Redis'
deletion: the grace (default 300 s) leaves an ended session in place long enough for a
sweeper to claim it and fire ``on_end``. Redis' TTL is the safety net that frees memory
when no sweeper runs at all; a session lost that way gets no ``on_end`` (its stale index
entries are cleaned up by the next sweep).
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Generator, Iterable, TypeVar

from redis.exceptions import NoScriptError

from ..._policy import Policy
from ..._records import Meta, Record, dump_data, load_data
from ...exceptions import ConfigurationError
from ..base import StoreSummary
from ._lua import CLAIM_SCRIPT, LOAD_TOUCH_SCRIPT, SAVE_SCRIPT, TOUCH_SCRIPT, Script

T = TypeVar("T")

# The command name stays a str: redis-py (the cluster client's slot lookup, the response
# callbacks) looks commands up by their str name.
_EVALSHA = "EVALSHA"


class Call:
    """One command of a batch: ``wire`` is what goes to ``execute_command``; ``script``
    is set for an EVALSHA (to load it when Redis lost it); ``key`` names the hash slot."""

    __slots__ = ("wire", "script", "key")

    def __init__(self, wire: tuple[Any, ...], script: Script | None = None):
        self.wire = wire
        self.script = script
        self.key: str = wire[3] if script is not None else wire[1]


@dataclass(frozen=True)
class LoadScripts:
    """A step of :func:`run_scripts`: SCRIPT LOAD these (on every primary of a cluster)."""

    scripts: frozenset[Script]


# An operation yields batches (one round trip each) and receives their results in order.
Op = Generator[list[Call], list[Any], T]


def script_call(script: Script, keys: list[str], argv: list[str]) -> Call:
    return Call((_EVALSHA, script.sha, len(keys), *keys, *argv), script)


def run_scripts(batch: list[Call]) -> Generator[list[Call] | LoadScripts, Any, list[Any]]:
    """The results of ``batch``, a call's own error as its result.

    Yields ``batch`` (one round trip); a call that found its script missing (Redis
    restarted or flushed its script cache) is sent again once its script is loaded. Only
    those: a claim that ran must not run twice.
    """
    results = list((yield batch))
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        yield LoadScripts(frozenset(script for i in missing if (script := batch[i].script) is not None))
        again = yield [batch[i] for i in missing]
        for i, result in zip(missing, again):
            results[i] = result
    return results


def text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


def num(value: float) -> str:
    return repr(float(value))


def arg(value: str | None) -> str:
    """An optional string as the scripts read it: '' for none, '=' + text."""
    return "" if value is None else "=" + value


def pairs(raw: Any) -> Iterable[tuple[Any, Any]]:
    """Flat ``[a, b, a, b]`` (RESP2) or ``[[a, b], ...]`` (RESP3) as pairs."""
    if isinstance(raw, dict):
        return raw.items()
    items = list(raw or [])
    if items and isinstance(items[0], (list, tuple)):
        return [(a, b) for a, b in items]
    return zip(items[0::2], items[1::2])


def unpack(key: str, raw: Any) -> Record | None:
    """A record from the one string a script packed (``pack`` in ``_lua``), or None."""
    if raw is None:
        return None
    packed = raw if type(raw) is bytes else raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    created, last, idle, absolute, rest = packed.split(b" ", 4)
    optional: list[str | None] = []
    at = 0
    for _ in range(4):  # user, device, ip, ended
        if rest[at] == 45:  # b"-": none
            optional.append(None)
            at += 1
        else:
            colon = rest.index(b":", at)
            end = colon + 1 + int(rest[at:colon])
            optional.append(rest[colon + 1:end].decode())
            at = end
    data = rest[at:]
    user, device, ip, ended = optional
    meta = Meta(float(created), float(last), float(idle), float(absolute), user, device, ip, ended)
    # No app data is the common heartbeat case: "{}" needs no JSON parser.
    return Record(key, meta, {} if data == b"{}" else load_data(data))


def _user_entry(member: Any) -> tuple[str, str]:
    """``(user, key)`` of a user index member ``"<byte length of user>:<user>:<key>"``."""
    raw = member.encode("utf-8") if isinstance(member, str) else bytes(member)
    colon = raw.index(b":")
    end = colon + 1 + int(raw[:colon])
    return raw[colon + 1:end].decode("utf-8"), raw[end + 1:].decode("utf-8")


def _claimed(results: list[Any]) -> list[Record]:
    records = []
    for claimed in results:
        for key, raw in claimed or []:
            record = unpack(text(key), raw)
            if record is not None:
                records.append(record)
    return records


def _by_created(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=lambda r: r.meta.created_at)


class Layout:
    """Where a session's keys are, the calls that read and write one session, and the
    operations over every shard."""

    def __init__(self, prefix: str, shards: int, ttl_grace: float):
        if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
            raise ConfigurationError(f"redis prefix must be a string without braces (hash tags), got {prefix!r}")
        if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= 16384:
            raise ConfigurationError(f"redis shards must be an integer from 1 to 16384, got {shards!r}")
        if not isinstance(ttl_grace, (int, float)) or isinstance(ttl_grace, bool) or not 0 <= ttl_grace < 86400:
            raise ConfigurationError(f"ttl_grace must be a number of seconds from 0 to 86400, got {ttl_grace!r}")
        self.prefix = prefix
        self.shards = shards
        self.grace_ms = str(int(ttl_grace * 1000))
        # The per-shard names, formatted once: a heartbeat only appends its key.
        self._records = [f"{self.tag(s)}:r:" for s in range(shards)]
        self._expiries = [f"{self.tag(s)}:exp" for s in range(shards)]
        self._granularity: tuple[Policy | None, str] = (None, "")

    def shard(self, key: str) -> int:
        return zlib.crc32(key.encode("utf-8")) % self.shards

    def tag(self, shard: int) -> str:
        return f"{self.prefix}{{{shard}}}"

    def record_key(self, key: str) -> str:
        return self._records[self.shard(key)] + key

    def expiry_key(self, shard: int) -> str:
        return self._expiries[shard]

    def users_key(self, shard: int) -> str:
        return f"{self.tag(shard)}:usr"

    @staticmethod
    def user_range(user: str) -> tuple[str, str]:
        """ZRANGEBYLEX bounds of one user's members: ``[n:user:`` up to ``(n:user;``."""
        head = f"{len(user.encode('utf-8'))}:{user}"
        return f"[{head}:", f"({head};"

    # -- one session, one call (what the async store batches across callers) -----------------

    # The two calls of every heartbeat build their wire tuple directly.

    def load_call(self, key: str) -> Call:
        return Call((_EVALSHA, LOAD_TOUCH_SCRIPT.sha, 1, self.record_key(key), key), LOAD_TOUCH_SCRIPT)

    def load_and_touch_call(self, key: str, now: float, policy: Policy) -> Call:
        shard = self.shard(key)
        cached, granularity = self._granularity  # one (frozen) policy in practice
        if cached is not policy:
            granularity = num(policy.granularity)
            self._granularity = (policy, granularity)
        return Call(
            (_EVALSHA, LOAD_TOUCH_SCRIPT.sha, 2, self._records[shard] + key, self._expiries[shard],
             key, num(now), num(now + policy.idle_timeout), granularity, self.grace_ms),
            LOAD_TOUCH_SCRIPT,
        )

    def save_call(self, record: Record, create: bool) -> Call:
        m, key = record.meta, record.key
        shard = self.shard(key)
        argv = [
            key, "1" if create else "0", dump_data(record.data),
            num(m.created_at), num(m.last_active), num(m.idle_expires_at), num(m.absolute_expires_at),
            arg(m.user), arg(m.device), arg(m.ip), arg(m.ended), self.grace_ms,
        ]
        keys = [self._records[shard] + key, self._expiries[shard], self.users_key(shard)]
        return script_call(SAVE_SCRIPT, keys, argv)

    def touch_call(self, key: str, meta: Meta) -> Call:
        shard = self.shard(key)
        keys = [self._records[shard] + key, self._expiries[shard]]
        argv = [key, num(meta.last_active), num(meta.idle_expires_at), self.grace_ms]
        return script_call(TOUCH_SCRIPT, keys, argv)

    # -- operations ---------------------------------------------------------------------------

    def _claim(self, shard: int, mode: str, bound: str, keys: list[str]) -> Call:
        names = [self.expiry_key(shard), self.users_key(shard), *(self.record_key(k) for k in keys)]
        return script_call(CLAIM_SCRIPT, names, [mode, bound, *keys])

    def delete(self, key: str) -> Op[Record | None]:
        (claimed,) = yield [self._claim(self.shard(key), "any", "", [key])]
        records = _claimed([claimed])
        return records[0] if records else None

    def sweep(self, now: float, limit: int) -> Op[list[Record]]:
        if limit <= 0:
            return []
        bound = num(now)
        rows = yield [
            Call(("ZRANGEBYSCORE", self.expiry_key(s), "-inf", bound, "WITHSCORES", "LIMIT", 0, limit))
            for s in range(self.shards)
        ]
        due = sorted(
            (float(text(score)), shard, text(key)) for shard, raw in enumerate(rows) for key, score in pairs(raw)
        )[:limit]
        if not due:
            return []
        chosen: dict[int, list[str]] = defaultdict(list)
        for _, shard, key in due:
            chosen[shard].append(key)
        results = yield [self._claim(shard, "due", bound, keys) for shard, keys in chosen.items()]
        return sorted(_claimed(results), key=lambda r: r.meta.expires_at)

    def _user_keys(self, user: str) -> Op[dict[int, list[str]]]:
        low, high = self.user_range(user)
        rows = yield [Call(("ZRANGEBYLEX", self.users_key(s), low, high)) for s in range(self.shards)]
        skip = len(low) - 1  # the member minus its "n:user:" head is the key
        found = {}
        for shard, members in enumerate(rows):
            keys = [text(m)[skip:] for m in members or []]
            if keys:
                found[shard] = keys
        return found

    def list_by_user(self, user: str) -> Op[list[Record]]:
        found = yield from self._user_keys(user)
        keys = [k for ks in found.values() for k in ks]
        if not keys:
            return []
        rows = yield [self.load_call(k) for k in keys]
        records = (unpack(k, raw) for k, raw in zip(keys, rows))
        return _by_created(r for r in records if r is not None and r.meta.user == user)

    def delete_by_user(self, user: str) -> Op[list[Record]]:
        found = yield from self._user_keys(user)
        if not found:
            return []
        results = yield [self._claim(shard, "user", user, keys) for shard, keys in found.items()]
        return _by_created(_claimed(results))

    def count(self) -> Op[int]:
        sizes = yield [Call(("ZCARD", self.expiry_key(s))) for s in range(self.shards)]
        return sum(int(n) for n in sizes)

    def summary(self, now: float, within: float) -> Op[StoreSummary]:
        """Two pipelines, reads only. First, per shard: ZCOUNT of the expired entries, the
        unexpired keys with their expiry, the user index. Then which unexpired keys are
        tombstones (HEXISTS of the reason field). The replies grow with the live sessions:
        an operator's command, never a request's."""
        rows = yield [
            call
            for s in range(self.shards)
            for call in (
                Call(("ZCOUNT", self.expiry_key(s), "-inf", num(now))),
                Call(("ZRANGEBYSCORE", self.expiry_key(s), "(" + num(now), "+inf", "WITHSCORES")),
                Call(("ZRANGEBYLEX", self.users_key(s), "-", "+")),
            )
        ]
        unexpired = {text(key): float(text(score)) for raw in rows[1::3] for key, score in pairs(raw)}
        keys = list(unexpired)
        flags = (yield [Call(("HEXISTS", self.record_key(k), "en")) for k in keys]) if keys else []
        live = {k: unexpired[k] for k, tomb in zip(keys, flags) if not int(tomb)}
        users = {user for members in rows[2::3] for user, key in map(_user_entry, members or []) if key in live}
        return StoreSummary(
            live=len(live),
            users=len(users),
            expiring=sum(expiry <= now + within for expiry in live.values()),
            ended=sum(int(n) for n in rows[0::3]) + len(keys) - len(live),
        )
