"""Redis (and Valkey) stores, for several app servers sharing their sessions.

Install with the ``tether[redis]`` extra; this is the only module that imports ``redis``.

Key layout (prefix ``tether:`` by default)::

    tether:{N}:r:<key>   hash    d (data, JSON), c, la, ie, ae (meta, repr floats), u (user)
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

Round trips: ``load``, ``save``, ``touch``, ``delete`` and ``load_and_touch`` 1 each (an
EVALSHA; one extra SCRIPT LOAD only after Redis lost its script cache); ``sweep``,
``list_by_user`` and ``delete_by_user`` 2 pipelines; ``count`` 1 pipeline. ``load`` runs a
script too, so that the reply is one string: parsing a hash reply costs redis-py (without
hiredis) more CPU than the rest of a heartbeat. ``load_and_touch`` (not in the store
contract) is a whole heartbeat, load plus the policy's touch, in one script.

:class:`AsyncRedisStore` sends the one-call operations that tasks make in the same turn of
the event loop together, as one pipeline: redis-py's per-command cost (pool checkout,
retry wrapper, instrumentation, one write and one read) is paid once for all of them.
Each call keeps its own result and its own error.

URLs (:meth:`RedisStore.from_url`): ``redis://host:port/db``, ``rediss://``, ``unix://``,
``valkey://`` / ``valkeys://``; Redis Cluster with ``redis+cluster://host:port`` or
``?cluster=1``; ``?prefix=`` and ``?shards=`` set the store options.

Every Redis error (down, timeout, cluster reconfiguring) is raised as
:class:`~tether.exceptions.StoreUnavailable`. redis-py reconnects on the next call, so the
same store instance works again as soon as Redis is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Generator, Iterable, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisClusterException, RedisError
from redis.retry import Retry

from .._policy import Policy
from .._records import Meta, Record, dump_data, load_data
from ..exceptions import ConfigurationError, StoreUnavailable

T = TypeVar("T")

DEFAULT_PREFIX = "tether:"
DEFAULT_SHARDS = 64
DEFAULT_TTL_GRACE = 300.0

# -- Lua ----------------------------------------------------------------------------------
# Times travel as the strings Python's repr(float) wrote and are compared with tonumber();
# a script never formats a number it computed into a stored time (Lua's tostring keeps
# only 14 digits), it picks one of the strings it was given.

_LUA_HELPERS = """
local function member(u, k) return #u .. ':' .. u .. ':' .. k end
local function later(a, b) if tonumber(b) > tonumber(a) then return b end return a end
local function expire(rec, exp_at, last, grace_ms)
  local ttl = (tonumber(exp_at) - tonumber(last)) * 1000
  if ttl < 0 then ttl = 0 end
  redis.call('PEXPIRE', rec, string.format('%.0f', ttl + tonumber(grace_ms) + 1))
end
"""

# One bulk string, not a hash reply: a client-side RESP parser (redis-py without hiredis)
# spends most of a load's CPU on reply elements, and a map of six fields has twelve.
# "<c> <la> <ie> <ae> <user> <data>", user as "-" (none) or "<byte length>:<user>".
# KEYS: record
_LOAD = """
local v = redis.call('HMGET', KEYS[1], 'c', 'la', 'ie', 'ae', 'u', 'd')
if not v[2] then return false end
local user = '-'
if v[5] then user = #v[5] .. ':' .. v[5] end
return v[1] .. ' ' .. v[2] .. ' ' .. v[3] .. ' ' .. v[4] .. ' ' .. user .. (v[6] or '')
"""

# KEYS: record, expiry index, user index
# ARGV: key, create, data, created, last, idle, absolute, user, has_user, grace_ms
_SAVE = _LUA_HELPERS + """
local rec, exp, usr, key = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local create = ARGV[2] == '1'
local c, la, ie, ae = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local old = redis.call('HMGET', rec, 'c', 'la', 'ie', 'ae', 'u')
if old[2] then
  if not create then
    c, ae = old[1], old[4]
    la, ie = later(old[2], la), later(old[3], ie)
  end
  if old[5] then redis.call('ZREM', usr, member(old[5], key)) end
elseif not create then
  return 0
end
redis.call('HSET', rec, 'd', ARGV[3], 'c', c, 'la', la, 'ie', ie, 'ae', ae)
if ARGV[9] == '1' then
  redis.call('HSET', rec, 'u', ARGV[8])
  redis.call('ZADD', usr, 0, member(ARGV[8], key))
else
  redis.call('HDEL', rec, 'u')
end
local e = ie
if tonumber(ae) < tonumber(ie) then e = ae end
redis.call('ZADD', exp, e, key)
expire(rec, e, la, ARGV[10])
return 1
"""

# KEYS: record, expiry index.  ARGV: key, last, idle, grace_ms
_TOUCH = _LUA_HELPERS + """
local rec, exp, key = KEYS[1], KEYS[2], ARGV[1]
local old = redis.call('HMGET', rec, 'la', 'ie', 'ae')
if not old[1] then return 0 end
local la, ie = later(old[1], ARGV[2]), later(old[2], ARGV[3])
redis.call('HSET', rec, 'la', la, 'ie', ie)
local e = ie
if tonumber(old[3]) < tonumber(ie) then e = old[3] end
redis.call('ZADD', exp, e, key)
expire(rec, e, la, ARGV[4])
return 1
"""

# A heartbeat in one round trip: load, and when the session is alive at ARGV now and the
# policy wants a touch, slide it, exactly as Policy.end_reason / wants_touch / touched do
# (the same IEEE double arithmetic; a computed time is written with %.17g, which reads back
# as the very same float). Returns the record as stored afterwards, packed as _LOAD does.
# KEYS: record, expiry index.  ARGV: key, now, idle_timeout, granularity, grace_ms
_LOAD_TOUCH = _LUA_HELPERS + """
local rec, exp, key = KEYS[1], KEYS[2], ARGV[1]
local v = redis.call('HMGET', rec, 'c', 'la', 'ie', 'ae', 'u', 'd')
if not v[2] then return false end
local now, la, ie, ae = tonumber(ARGV[2]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
if now < ae and now < ie and now > la and now - la >= tonumber(ARGV[4]) and ie < ae then
  v[2] = later(v[2], ARGV[2])
  local slid = now + tonumber(ARGV[3])
  if slid > ie then
    if slid > ae then v[3] = v[4] else v[3] = string.format('%.17g', slid) end
  end
  redis.call('HSET', rec, 'la', v[2], 'ie', v[3])
  local e = v[3]
  if tonumber(v[4]) < tonumber(e) then e = v[4] end
  redis.call('ZADD', exp, e, key)
  expire(rec, e, v[2], ARGV[5])
end
local user = '-'
if v[5] then user = #v[5] .. ':' .. v[5] end
return v[1] .. ' ' .. v[2] .. ' ' .. v[3] .. ' ' .. v[4] .. ' ' .. user .. (v[6] or '')
"""

# Claims (removes and returns) records of one shard, atomically: a record is returned to
# exactly one caller. KEYS: expiry index, user index, record...  ARGV: mode, bound, key...
# mode 'any' claims what exists (delete), 'due' what the index says expired at or before
# bound (sweep: re-checked here, since a touch may have slid it meanwhile), 'user' the
# records whose user is bound (delete_by_user).
_CLAIM = _LUA_HELPERS + """
local exp, usr, mode, bound = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local out = {}
for i = 3, #KEYS do
  local rec, key = KEYS[i], ARGV[i]
  local ok = true
  if mode == 'due' then
    local score = redis.call('ZSCORE', exp, key)
    ok = score and tonumber(score) <= tonumber(bound)
  elseif mode == 'user' then
    ok = redis.call('HGET', rec, 'u') == bound
    if not ok and redis.call('EXISTS', rec) == 0 then
      redis.call('ZREM', usr, member(bound, key))
    end
  end
  if ok then
    local fields = redis.call('HGETALL', rec)
    redis.call('ZREM', exp, key)
    if #fields > 0 then
      redis.call('DEL', rec)
      for j = 1, #fields, 2 do
        if fields[j] == 'u' then redis.call('ZREM', usr, member(fields[j + 1], key)) end
      end
      out[#out + 1] = {key, fields}
    end
  end
end
return out
"""


@dataclass(frozen=True)
class _Script:
    text: str

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.text.encode("utf-8")).hexdigest()


_LOAD_SCRIPT = _Script(_LOAD)
_LOAD_TOUCH_SCRIPT = _Script(_LOAD_TOUCH)
_SAVE_SCRIPT = _Script(_SAVE)
_TOUCH_SCRIPT = _Script(_TOUCH)
_CLAIM_SCRIPT = _Script(_CLAIM)
_SHAS = {s: s.sha for s in (_LOAD_SCRIPT, _LOAD_TOUCH_SCRIPT, _SAVE_SCRIPT, _TOUCH_SCRIPT, _CLAIM_SCRIPT)}


class _Call:
    """One command of a batch: ``wire`` is what goes to ``execute_command``, an EVALSHA
    (built once, here) when ``script`` is set."""

    __slots__ = ("wire", "script")

    def __init__(self, wire: tuple[Any, ...], script: _Script | None = None):
        self.wire = wire
        self.script = script


# The scripts' SHA1s as bytes: redis-py sends bytes as they are, a str it first runs
# through its encoder's type checks. The command name stays a str: redis-py (the cluster
# client's slot lookup, the response callbacks) looks commands up by their str name.
_EVALSHA = "EVALSHA"
_SHA_BYTES = {s: sha.encode("ascii") for s, sha in _SHAS.items()}


def _script(script: _Script, keys: list[Any], argv: list[Any]) -> _Call:
    return _Call((_EVALSHA, _SHA_BYTES[script], len(keys), *keys, *argv), script)


# An operation is a generator: it yields a batch of calls (one round trip), receives their
# results, and finally returns its value. The sync and async stores only drive it, so the
# logic exists once (the sans-I/O habit of the protocol layer).
_Op = Generator[list[_Call], list[Any], T]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


def _num(value: float) -> str:
    return repr(float(value))


def _pairs(raw: Any) -> Iterable[tuple[Any, Any]]:
    """Flat ``[a, b, a, b]`` (RESP2) or ``[[a, b], ...]`` (RESP3) as pairs."""
    if isinstance(raw, dict):
        return raw.items()
    items = list(raw or [])
    if items and isinstance(items[0], (list, tuple)):
        return [(a, b) for a, b in items]
    return zip(items[0::2], items[1::2])


def _record(key: str, raw: Any) -> Record | None:
    fields = {_text(k): v for k, v in _pairs(raw)}
    if "la" not in fields:
        return None
    user = fields.get("u")
    meta = Meta(
        created_at=float(_text(fields["c"])),
        last_active=float(_text(fields["la"])),
        idle_expires_at=float(_text(fields["ie"])),
        absolute_expires_at=float(_text(fields["ae"])),
        user=None if user is None else _text(user),
    )
    return Record(key=key, meta=meta, data=load_data(fields.get("d")))


def _unpack(key: str, raw: Any) -> Record | None:
    """A record from the load script's one string (see ``_LOAD``)."""
    if raw is None:
        return None
    packed = raw if type(raw) is bytes else raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    created, last, idle, absolute, rest = packed.split(b" ", 4)
    user: str | None = None
    if rest[:1] == b"-":
        data = rest[1:]
    else:
        size, rest = rest.split(b":", 1)
        n = int(size)
        user, data = rest[:n].decode("utf-8"), rest[n:]
    meta = Meta(float(created), float(last), float(idle), float(absolute), user)
    # No app data is the common heartbeat case: "{}" needs no JSON parser.
    return Record(key, meta, {} if data == b"{}" else load_data(data))


def _by_created(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=lambda r: r.meta.created_at)


class _Layout:
    """Key names and the operations, pure: no client, no I/O."""

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
        self._policy_args: tuple[Policy | None, str, str] = (None, "", "")

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

    # -- operations -------------------------------------------------------------------------

    # The one-call operations exist twice: as the call (the stores' fast path, no generator)
    # and as an op built from that call (what a test or a batch drives).

    def load_call(self, key: str) -> _Call:
        return _script(_LOAD_SCRIPT, [self.record_key(key)], [])

    def save_call(self, record: Record, create: bool) -> _Call:
        m, key = record.meta, record.key
        shard = self.shard(key)
        argv = [
            key, "1" if create else "0", dump_data(record.data),
            _num(m.created_at), _num(m.last_active), _num(m.idle_expires_at), _num(m.absolute_expires_at),
            m.user or "", "0" if m.user is None else "1", self.grace_ms,
        ]
        keys = [self._records[shard] + key, self._expiries[shard], self.users_key(shard)]
        return _script(_SAVE_SCRIPT, keys, argv)

    def load_and_touch_call(self, key: str, now: float, policy: Policy) -> _Call:
        shard = self.shard(key)
        cached, idle, granularity = self._policy_args  # one (frozen) policy in practice
        if cached is not policy:
            idle, granularity = _num(policy.idle_timeout), _num(policy.granularity)
            self._policy_args = (policy, idle, granularity)
        return _Call(
            (_EVALSHA, _SHA_BYTES[_LOAD_TOUCH_SCRIPT], 2, self._records[shard] + key, self._expiries[shard],
             key, _num(now), idle, granularity, self.grace_ms),
            _LOAD_TOUCH_SCRIPT,
        )

    def touch_call(self, key: str, meta: Meta) -> _Call:
        shard = self.shard(key)
        keys = [self._records[shard] + key, self._expiries[shard]]
        argv = [key, _num(meta.last_active), _num(meta.idle_expires_at), self.grace_ms]
        return _script(_TOUCH_SCRIPT, keys, argv)

    def load(self, key: str) -> _Op[Record | None]:
        (raw,) = yield [self.load_call(key)]
        return _unpack(key, raw)

    def save(self, record: Record, create: bool) -> _Op[bool]:
        (done,) = yield [self.save_call(record, create)]
        return bool(done)

    def load_and_touch(self, key: str, now: float, policy: Policy) -> _Op[Record | None]:
        (raw,) = yield [self.load_and_touch_call(key, now, policy)]
        return _unpack(key, raw)

    def touch(self, key: str, meta: Meta) -> _Op[bool]:
        (done,) = yield [self.touch_call(key, meta)]
        return bool(done)

    def _claim(self, shard: int, mode: str, bound: str, keys: list[str]) -> _Call:
        names = [self.expiry_key(shard), self.users_key(shard), *(self.record_key(k) for k in keys)]
        return _script(_CLAIM_SCRIPT, names, [mode, bound, *keys])

    def _claimed(self, results: list[Any]) -> list[Record]:
        records = []
        for claimed in results:
            for key, raw in claimed or []:
                record = _record(_text(key), raw)
                if record is not None:
                    records.append(record)
        return records

    def delete(self, key: str) -> _Op[Record | None]:
        (claimed,) = yield [self._claim(self.shard(key), "any", "", [key])]
        records = self._claimed([claimed])
        return records[0] if records else None

    def sweep(self, now: float, limit: int) -> _Op[list[Record]]:
        if limit <= 0:
            return []
        bound = _num(now)
        rows = yield [
            _Call(("ZRANGEBYSCORE", self.expiry_key(s), "-inf", bound, "WITHSCORES", "LIMIT", 0, limit))
            for s in range(self.shards)
        ]
        due = sorted(
            (float(_text(score)), shard, _text(key)) for shard, raw in enumerate(rows) for key, score in _pairs(raw)
        )[:limit]
        if not due:
            return []
        chosen: dict[int, list[str]] = defaultdict(list)
        for _, shard, key in due:
            chosen[shard].append(key)
        results = yield [self._claim(shard, "due", bound, keys) for shard, keys in chosen.items()]
        return sorted(self._claimed(results), key=lambda r: r.meta.expires_at)

    def _user_keys(self, user: str) -> _Op[dict[int, list[str]]]:
        low, high = self.user_range(user)
        rows = yield [_Call(("ZRANGEBYLEX", self.users_key(s), low, high)) for s in range(self.shards)]
        skip = len(low) - 1  # the member minus its "n:user:" head is the key
        found = {}
        for shard, members in enumerate(rows):
            keys = [_text(m)[skip:] for m in members or []]
            if keys:
                found[shard] = keys
        return found

    def list_by_user(self, user: str) -> _Op[list[Record]]:
        found = yield from self._user_keys(user)
        keys = [k for ks in found.values() for k in ks]
        if not keys:
            return []
        rows = yield [_Call(("HGETALL", self.record_key(k))) for k in keys]
        records = (_record(k, raw) for k, raw in zip(keys, rows))
        return _by_created(r for r in records if r is not None and r.meta.user == user)

    def delete_by_user(self, user: str) -> _Op[list[Record]]:
        found = yield from self._user_keys(user)
        if not found:
            return []
        results = yield [self._claim(shard, "user", user, keys) for shard, keys in found.items()]
        return _by_created(self._claimed(results))

    def count(self) -> _Op[int]:
        sizes = yield [_Call(("ZCARD", self.expiry_key(s))) for s in range(self.shards)]
        return sum(int(n) for n in sizes)


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"redis store unavailable: {type(exc).__name__}: {exc}", retry_after=2)


_ERRORS = (RedisError, RedisClusterException, OSError)


def _client_options(url: str, options: dict[str, Any]) -> tuple[str, bool, dict[str, Any], dict[str, Any]]:
    """Split a store URL into redis-py's URL, cluster flag, store options and client options.

    ``redis://``, ``rediss://``, ``unix://`` as redis-py reads them; ``valkey://`` and
    ``valkeys://`` as aliases; a ``+cluster`` scheme suffix (``redis+cluster://``) or
    ``?cluster=1`` for Redis Cluster; ``?prefix=`` and ``?shards=`` for the store.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    cluster = scheme.endswith("+cluster")
    scheme = scheme.removesuffix("+cluster")
    scheme = {"valkey": "redis", "valkeys": "rediss"}.get(scheme, scheme)
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(f"not a redis store URL: {url!r}")
    store: dict[str, Any] = {}
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            store["prefix"] = value
        elif name == "shards":
            try:
                store["shards"] = int(value)
            except ValueError:
                raise ConfigurationError(f"shards in {url!r} must be an integer") from None
        elif name == "cluster":
            cluster = value.lower() in ("1", "true", "yes", "on")
        else:
            query.append((name, value))
    client = {
        # Fail fast so that a heartbeat answers 503 quickly while Redis is away; the
        # browser retries with back-off, so one retry here is enough.
        "socket_timeout": 2.0,
        "socket_connect_timeout": 2.0,
        "retry": Retry(NoBackoff(), 1),
        **options,
    }
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment)), cluster, store, client


class _RedisStoreBase:
    """What both twins share: the key layout and how a store is made from a URL."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = DEFAULT_PREFIX,
        shards: int = DEFAULT_SHARDS,
        ttl_grace: float = DEFAULT_TTL_GRACE,
        owns_client: bool = False,
    ):
        self.client = client
        self._layout = _Layout(prefix, shards, ttl_grace)
        self._owns_client = owns_client

    @staticmethod
    def _client_class(cluster: bool) -> Any:
        raise NotImplementedError

    @classmethod
    def from_url(cls: type[S], url: str, *, prefix: str | None = None, shards: int | None = None,
                 ttl_grace: float = DEFAULT_TTL_GRACE, **client_options: Any) -> S:
        """A store on a client made from ``url`` (see the module notes for the forms); no
        connection is made until first use."""
        redis_url, cluster, store, options = _client_options(url, client_options)
        client = cls._client_class(cluster).from_url(redis_url, **options)
        return cls(client, prefix=store.get("prefix", DEFAULT_PREFIX) if prefix is None else prefix,
                   shards=store.get("shards", DEFAULT_SHARDS) if shards is None else shards,
                   ttl_grace=ttl_grace, owns_client=True)


S = TypeVar("S", bound=_RedisStoreBase)


class RedisStore(_RedisStoreBase):
    """Sessions in Redis, Valkey or Redis Cluster, through a redis-py client you pass in
    (``redis.Redis`` or ``redis.cluster.RedisCluster``).

    The client is yours: :meth:`close` closes it only when :meth:`from_url` made it.
    Give it timeouts (``socket_timeout``) and few retries, or a heartbeat waits for them
    before it can answer 503.
    """

    @staticmethod
    def _client_class(cluster: bool) -> Any:
        return redis.cluster.RedisCluster if cluster else redis.Redis

    # -- driving ------------------------------------------------------------------------------

    def _run(self, op: _Op[T]) -> T:
        results: Any = None
        try:
            while True:
                batch = op.send(results)
                results = self._send(batch)
        except StopIteration as done:
            return done.value

    def _send(self, batch: list[_Call]) -> list[Any]:
        try:
            if len(batch) == 1:
                return [self._one(batch[0])]
            return self._many(batch, retry_scripts=True)
        except _ERRORS as exc:
            raise _unavailable(exc) from exc

    def _one(self, call: _Call) -> Any:
        try:
            return self.client.execute_command(*call.wire)
        except NoScriptError:
            # Redis restarted or flushed its script cache: load once, then run again.
            assert call.script is not None
            self.client.script_load(call.script.text)
            return self.client.execute_command(*call.wire)

    def _many(self, batch: list[_Call], *, retry_scripts: bool) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for call in batch:
            pipe.execute_command(*call.wire)
        results = list(pipe.execute(raise_on_error=False))
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing and retry_scripts:
            # Only the calls that did not run go again: a claim that ran must not run twice.
            for script in {batch[i].script for i in missing}:
                assert script is not None
                self.client.script_load(script.text)
            again = self._many([batch[i] for i in missing], retry_scripts=False)
            for i, result in zip(missing, again):
                results[i] = result
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    # -- the contract ---------------------------------------------------------------------------

    def _call(self, call: _Call) -> Any:
        try:
            return self._one(call)
        except _ERRORS as exc:
            raise _unavailable(exc) from exc

    def load(self, key: str) -> Record | None:
        return _unpack(key, self._call(self._layout.load_call(key)))

    def save(self, record: Record, *, create: bool = False) -> bool:
        return bool(self._call(self._layout.save_call(record, create)))

    def touch(self, key: str, meta: Meta) -> bool:
        return bool(self._call(self._layout.touch_call(key, meta)))

    def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None:
        """``load`` then, if the session is alive at ``now`` and ``policy.wants_touch``,
        ``touch`` with ``policy.touched``: a heartbeat in one round trip instead of two.
        Not part of the store contract; returns the record as stored afterwards."""
        return _unpack(key, self._call(self._layout.load_and_touch_call(key, now, policy)))

    def delete(self, key: str) -> Record | None:
        return self._run(self._layout.delete(key))

    def sweep(self, now: float, limit: int = 100) -> list[Record]:
        return self._run(self._layout.sweep(now, limit))

    def list_by_user(self, user: str) -> list[Record]:
        return self._run(self._layout.list_by_user(user))

    def delete_by_user(self, user: str) -> list[Record]:
        return self._run(self._layout.delete_by_user(user))

    def count(self) -> int:
        return self._run(self._layout.count())

    def close(self) -> None:
        if self._owns_client:
            try:
                self.client.close()
            except _ERRORS:
                pass


class AsyncRedisStore(_RedisStoreBase):
    """The async twin of :class:`RedisStore`, on ``redis.asyncio`` (``Redis`` or
    ``cluster.RedisCluster``). Same keys and scripts: both can serve the same sessions."""

    def __init__(self, client: Any, **options: Any):
        super().__init__(client, **options)
        # The calls gathered in the current turn of the loop, and that loop.
        self._pending: tuple[asyncio.AbstractEventLoop, list[tuple[_Call, asyncio.Future[Any]]]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connections belong to the loop that made them. When another loop takes over
        (``asyncio.run`` twice, a test, a script), start from fresh connections."""
        if self._loop is loop:
            return
        if self._loop is not None:
            reset = getattr(getattr(self.client, "connection_pool", None), "reset", None)
            if reset is None:
                raise ConfigurationError(
                    "this AsyncRedisStore was first used on another event loop; make one store per loop"
                )
            reset()  # drop (never touch) the old loop's connections
        self._loop = loop

    @staticmethod
    def _client_class(cluster: bool) -> Any:
        return redis.asyncio.cluster.RedisCluster if cluster else redis.asyncio.Redis

    async def _run(self, op: _Op[T]) -> T:
        results: Any = None
        try:
            while True:
                batch = op.send(results)
                results = await self._send(batch)
        except StopIteration as done:
            return done.value

    async def _send(self, batch: list[_Call]) -> list[Any]:
        if len(batch) == 1:
            return [await self._call(batch[0])]
        self._bind(asyncio.get_running_loop())
        try:
            return await self._many(batch, retry_scripts=True)
        except _ERRORS as exc:
            raise _unavailable(exc) from exc

    # One-call operations (every heartbeat, load, save, touch, delete) are coalesced: the
    # calls that tasks make in the same turn of the event loop go to Redis together, as one
    # pipeline (one connection checkout, one write, one read), sent at the start of the
    # next turn. redis-py's per-command cost (pool checkout and release, retry wrapper,
    # instrumentation hooks, a socket write and read) is most of a heartbeat's store CPU;
    # a pipeline pays it once. Each call still gets its own result or error, scripts stay
    # separate (a call is never retried because another one failed), and a lone call is
    # sent as a plain command.

    async def _call(self, call: _Call) -> Any:
        loop = asyncio.get_running_loop()
        self._bind(loop)
        future = loop.create_future()
        pending = self._pending
        if pending is None or pending[0] is not loop:
            pending = self._pending = (loop, [])
            loop.call_soon(self._flush, pending)
        pending[1].append((call, future))
        try:
            return await future
        except _ERRORS as exc:
            raise _unavailable(exc) from exc

    def _flush(self, pending: tuple[asyncio.AbstractEventLoop, list[tuple[_Call, asyncio.Future[Any]]]]) -> None:
        if self._pending is pending:
            self._pending = None
        task = pending[0].create_task(self._execute(pending[1]))
        self._tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, batch: list[tuple[_Call, asyncio.Future[Any]]]) -> None:
        try:
            if len(batch) == 1:
                try:
                    results: list[Any] = [await self._one(batch[0][0])]
                except Exception as exc:
                    results = [exc]
            else:
                results = await self._pipeline([call for call, _ in batch], retry_scripts=True)
        except BaseException as exc:
            # The pipeline as a whole failed (connection, timeout) or this task was
            # cancelled (the loop is shutting down): every call in it fails alike.
            error = exc if isinstance(exc, Exception) else RedisError(f"redis call interrupted: {exc!r}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _one(self, call: _Call) -> Any:
        try:
            return await self.client.execute_command(*call.wire)
        except NoScriptError:
            assert call.script is not None
            await self.client.script_load(call.script.text)
            return await self.client.execute_command(*call.wire)

    async def _pipeline(self, batch: list[_Call], *, retry_scripts: bool) -> list[Any]:
        """Results of the calls in one pipeline; a call's own error is its result."""
        pipe = self.client.pipeline(transaction=False)
        for call in batch:
            pipe.execute_command(*call.wire)
        results = list(await pipe.execute(raise_on_error=False))
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing and retry_scripts:
            # Only the calls that did not run go again: a claim that ran must not run twice.
            for script in {batch[i].script for i in missing}:
                assert script is not None
                await self.client.script_load(script.text)
            again = await self._pipeline([batch[i] for i in missing], retry_scripts=False)
            for i, result in zip(missing, again):
                results[i] = result
        return results

    async def _many(self, batch: list[_Call], *, retry_scripts: bool) -> list[Any]:
        results = await self._pipeline(batch, retry_scripts=retry_scripts)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def load(self, key: str) -> Record | None:
        return _unpack(key, await self._call(self._layout.load_call(key)))

    async def save(self, record: Record, *, create: bool = False) -> bool:
        return bool(await self._call(self._layout.save_call(record, create)))

    async def touch(self, key: str, meta: Meta) -> bool:
        return bool(await self._call(self._layout.touch_call(key, meta)))

    async def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None:
        """See :meth:`RedisStore.load_and_touch`."""
        return _unpack(key, await self._call(self._layout.load_and_touch_call(key, now, policy)))

    async def delete(self, key: str) -> Record | None:
        return await self._run(self._layout.delete(key))

    async def sweep(self, now: float, limit: int = 100) -> list[Record]:
        return await self._run(self._layout.sweep(now, limit))

    async def list_by_user(self, user: str) -> list[Record]:
        return await self._run(self._layout.list_by_user(user))

    async def delete_by_user(self, user: str) -> list[Record]:
        return await self._run(self._layout.delete_by_user(user))

    async def count(self) -> int:
        return await self._run(self._layout.count())

    async def close(self) -> None:
        if self._owns_client:
            try:
                await self.client.aclose()
            except _ERRORS:
                pass


__all__ = ["RedisStore", "AsyncRedisStore"]
