"""The four Lua scripts of the Redis store: every write, and every read of a record.

A script runs atomically on the node that holds its keys (all of one session's keys share
a hash slot), so a record and its index entries never disagree and a claim is
exactly-once. This module is also the reviewed Lua copy of the idle rule: ``LOAD_TOUCH``
decides a heartbeat's touch as ``Policy.end_reason``, ``wants_touch`` and ``touched`` do,
and ``tests/redis/test_redis_store.py::test_load_and_touch_decides_exactly_as_the_policy``
holds the two copies together.

Times travel as the strings Python's ``repr(float)`` wrote and are compared with
``tonumber()``. A script never formats a number it computed into a stored time (Lua's
``tostring`` keeps only 14 digits): it compares, and picks one of the strings it was given.

Every record leaves a script packed as one bulk string (``pack``), and
``_layout.unpack`` is its one decoder. One string, not a hash reply: a client-side RESP
parser (redis-py without hiredis) spends most of a load's CPU on reply elements, and a
map of nine fields has eighteen.

Retrying after a dropped connection: a client made by ``from_url`` retries a
``ConnectionError`` once (redis-py's ``Retry`` on a standalone server; on the async
cluster twin the store itself, per node). A pooled connection that a restarted Redis
closed fails that way before Redis reads the command, and the retry runs it on a fresh
connection. Timeouts are never retried. A script runs whole or not at all, so the only
question is what a second run does after a first one that did run (its reply lost):

- ``LOAD_TOUCH``, ``TOUCH``: harmless. The second run finds ``last_active`` already at
  ``now`` (``later`` keeps the latest time), writes nothing new and returns the same record.
- ``SAVE``: harmless. It writes the same data and meta again (a save is last-writer-wins
  anyway); ``later`` keeps activity from moving back, and the user index entry is removed
  and re-added as the same member.
- ``CLAIM``: never a double claim (the second run finds nothing left to claim), but its
  caller then gets nothing for a record the first run removed, so that record's ``on_end``
  is lost: exactly what the error would have cost without the retry. The retry therefore
  only ever saves a request, never loses more than the failure it replaces.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# A record's hash fields, in the order ``pack`` writes them: the meta times (created,
# last active, idle and absolute expiry), the optional strings (user, device, ip, ended),
# then the data (JSON).
_HELPERS = """
local FIELDS = {'c', 'la', 'ie', 'ae', 'u', 'dv', 'ip', 'en', 'd'}
local function member(u, k) return #u .. ':' .. u .. ':' .. k end
local function later(a, b) if tonumber(b) > tonumber(a) then return b end return a end
local function opt(s) if s then return #s .. ':' .. s end return '-' end
-- "<c> <la> <ie> <ae> " then user, device, ip, ended each as "-" (none) or
-- "<byte length>:<text>", then the data: what _layout.unpack reads.
local function pack(v)
  return v[1] .. ' ' .. v[2] .. ' ' .. v[3] .. ' ' .. v[4] .. ' ' .. opt(v[5]) .. opt(v[6])
    .. opt(v[7]) .. opt(v[8]) .. (v[9] or '')
end
-- An optional field from an ARGV: '' is none, '=' .. text is text.
local function put(rec, f, arg)
  if arg == '' then redis.call('HDEL', rec, f) else redis.call('HSET', rec, f, string.sub(arg, 2)) end
end
local function expire(rec, exp, key, ie, ae, last, grace_ms)
  local e = ie
  if tonumber(ae) < tonumber(ie) then e = ae end
  redis.call('ZADD', exp, e, key)
  local ttl = (tonumber(e) - tonumber(last)) * 1000
  if ttl < 0 then ttl = 0 end
  redis.call('PEXPIRE', rec, string.format('%.0f', ttl + tonumber(grace_ms) + 1))
end
"""

# A load, or a whole heartbeat in one round trip: with ARGV now, when the session is alive
# at now and the policy wants a touch, slide it as Policy.touched does (slid is Python's
# now + idle_timeout). Returns the record as stored afterwards.
# KEYS: record[, expiry index].  ARGV: key[, now, slid, granularity, grace_ms]
LOAD_TOUCH = _HELPERS + """
local v = redis.call('HMGET', KEYS[1], unpack(FIELDS))
if not v[2] then return false end
if ARGV[2] then
  local now, la, ie, ae = tonumber(ARGV[2]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
  if now < ae and now < ie and now > la and now - la >= tonumber(ARGV[4]) and ie < ae then
    v[2] = ARGV[2]
    local slid = tonumber(ARGV[3])
    if slid > ie then
      if slid > ae then v[3] = v[4] else v[3] = ARGV[3] end
    end
    redis.call('HSET', KEYS[1], 'la', v[2], 'ie', v[3])
    expire(KEYS[1], KEYS[2], ARGV[1], v[3], v[4], v[2], ARGV[5])
  end
end
return pack(v)
"""

# create: a new session, all of its meta; otherwise only an existing record is updated:
# its data, user and activity (never backwards), keeping created, absolute, device, ip and
# ended as stored (a slow request never revives a tombstone).
# KEYS: record, expiry index, user index
# ARGV: key, create, data, created, last, idle, absolute, user, device, ip, ended, grace_ms
SAVE = _HELPERS + """
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
put(rec, 'u', ARGV[8])
if ARGV[8] ~= '' then redis.call('ZADD', usr, 0, member(string.sub(ARGV[8], 2), key)) end
if create then
  put(rec, 'dv', ARGV[9])
  put(rec, 'ip', ARGV[10])
  put(rec, 'en', ARGV[11])
end
expire(rec, exp, key, ie, ae, la, ARGV[12])
return 1
"""

# KEYS: record, expiry index.  ARGV: key, last, idle, grace_ms
TOUCH = _HELPERS + """
local rec, exp, key = KEYS[1], KEYS[2], ARGV[1]
local old = redis.call('HMGET', rec, 'la', 'ie', 'ae')
if not old[1] then return 0 end
local la, ie = later(old[1], ARGV[2]), later(old[2], ARGV[3])
redis.call('HSET', rec, 'la', la, 'ie', ie)
expire(rec, exp, key, ie, old[3], la, ARGV[4])
return 1
"""

# Claims (removes and returns) records of one shard, atomically: a record is returned to
# exactly one caller, as {key, packed}. KEYS: expiry index, user index, record...
# ARGV: mode, bound, key...  mode 'any' claims what exists (delete), 'due' what the index
# says expired at or before bound (sweep: re-checked here, since a touch may have slid it
# meanwhile), 'user' the records whose user is bound (delete_by_user).
CLAIM = _HELPERS + """
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
    local v = redis.call('HMGET', rec, unpack(FIELDS))
    redis.call('ZREM', exp, key)
    if v[2] then
      redis.call('DEL', rec)
      if v[5] then redis.call('ZREM', usr, member(v[5], key)) end
      out[#out + 1] = {key, pack(v)}
    end
  end
end
return out
"""


@dataclass(frozen=True)
class Script:
    """A script's text and its SHA1, as bytes: redis-py sends bytes as they are, a str it
    first runs through its encoder's type checks."""

    text: str
    sha: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode("utf-8")).hexdigest().encode("ascii"))


LOAD_TOUCH_SCRIPT = Script(LOAD_TOUCH)
SAVE_SCRIPT = Script(SAVE)
TOUCH_SCRIPT = Script(TOUCH)
CLAIM_SCRIPT = Script(CLAIM)
