"""The sans-I/O HTTP protocol shared by every adapter.

Adapters (ASGI, WSGI, Django) turn a request into :class:`Request` facts, then drive one
of the generators below. A generator yields store operations as tuples, e.g.
``("load", key)``; the adapter performs each one with its own sync or async store and
sends the result back in. The generator's return value is the decision: a
:class:`Response` for the endpoints, a :class:`Session` handle or a list of Set-Cookie
values for ordinary requests. So the rules live here once, and no adapter repeats them.

``run_sync`` and ``run_async`` are the two drivers.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Mapping, Sequence

from ._clock import Clock, system_clock
from ._cookies import clear_cookie, cookie_name, read_cookie, set_cookie
from ._policy import EndReason, Policy
from ._records import Meta, Record, dump_data, hash_token, is_token, new_token
from ._script import script_bytes, script_version
from .exceptions import ConfigurationError, StoreUnavailable

logger = logging.getLogger("tether")

Op = tuple[Any, ...]
OnEnd = Callable[[Record, str], Any]

_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
# json.dumps(..., separators=...) builds a new encoder on every call; one shared encoder
# gives the same bytes for less.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode
_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))
_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "heartbeat": ("POST",),
    "status": ("GET", "HEAD"),
    "end": ("POST",),
    "tether.js": ("GET", "HEAD"),
}


@dataclass(frozen=True)
class Config:
    """Everything an adapter needs besides the store. Read once at start-up.

    - ``prefix``: where the endpoints live.
    - ``cookie_name``: the base name; ``__Host-`` is prepended on https.
    - ``secure``: force the Secure flag on or off; None means "when the request is https".
    - ``passive_paths``: path prefixes whose requests never count as activity
      (e.g. a polling API); the status endpoint and ``Tether-Passive: 1`` are always passive.
    - ``trusted_origins``: other origins allowed to POST to the endpoints (e.g. a sibling
      subdomain, or the public origin when a proxy changes scheme or host).
    - ``on_end(record, reason)``: called once per ended session (sync or async callable).
    - ``login_url``: where the browser client sends people whose session ended.
    - ``policy_for(user)``: a per-user policy (e.g. shorter timeouts for administrators);
      called with the signed-in user id (None for anonymous sessions). The browser always
      learns the policy in force from the server's answers.
    """

    policy: Policy = field(default_factory=Policy)
    prefix: str = "/_tether"
    cookie_name: str = "tether"
    cookie_path: str = "/"
    secure: bool | None = None
    same_site: str = "lax"
    passive_paths: Sequence[str] = ()
    trusted_origins: Sequence[str] = ()
    login_url: str = "/login"
    on_end: OnEnd | None = None
    policy_for: Callable[[str | None], Policy] | None = None
    clock: Clock = system_clock
    retry_after: int = 5
    max_body: int = 4096

    def __post_init__(self) -> None:
        if not isinstance(self.policy, Policy):
            raise ConfigurationError(f"policy must be a tether.Policy, got {type(self.policy).__name__}")
        if not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ConfigurationError(f"prefix must start with '/' and not end with one, got {self.prefix!r}")
        if self.same_site.lower() not in _SAME_SITE:
            raise ConfigurationError(f"same_site must be lax, strict or none, got {self.same_site!r}")
        if self.same_site.lower() == "none" and self.secure is False:
            raise ConfigurationError("same_site='none' needs a Secure cookie; browsers drop it otherwise")
        if not self.cookie_name or any(c in self.cookie_name for c in ";=, \t"):
            raise ConfigurationError(f"cookie_name {self.cookie_name!r} is not a valid cookie name")
        for origin in self.trusted_origins:
            if "://" not in origin or origin.endswith("/"):
                raise ConfigurationError(f"trusted origin {origin!r} must look like 'https://host[:port]'")
        if self.on_end is not None and not callable(self.on_end):
            raise ConfigurationError("on_end must be callable as on_end(record, reason)")


def configure(config: Config | None, policy: Policy | None, options: dict[str, Any]) -> Config:
    """A middleware's settings: a ready ``Config``, or a policy and Config fields — not both."""
    if config is None:
        return Config(policy=policy or Policy(), **options)
    if policy is not None or options:
        raise ConfigurationError("pass config=Config(...) or separate settings, not both")
    return config


@dataclass(frozen=True)
class Request:
    """What the protocol needs to know about a request. Header names are lower case."""

    method: str
    path: str
    scheme: str = "http"
    headers: Mapping[str, str] = field(default_factory=dict)
    query: str = ""

    @property
    def secure(self) -> bool:
        return self.scheme in ("https", "wss")


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


class Session:
    """The session handle an app sees (``scope["tether"]``, ``environ["tether.session"]``).

    ``data`` is the application's dict (``scope["session"]``). ``login(user)`` and
    ``logout()`` take effect when the response starts: sign-in always issues a new token
    and a new absolute window (the old token dies), sign-out deletes the record.
    """

    def __init__(
        self,
        protocol: "Protocol",
        record: Record | None,
        *,
        now: float,
        secure: bool,
        ended_reason: EndReason | None = None,
        clear_cookie: bool = False,
        snapshot: bool = True,
    ):
        self._protocol = protocol
        self.record = record
        self.data: dict[str, Any] = record.data if record is not None else {}
        # What close() compares the data with to tell whether the app changed it. The
        # endpoints never call close(), so they skip the serialisation.
        self._snapshot = dump_data(self.data) if record is not None and snapshot else "{}"
        self.now = now
        self.secure = secure
        self.ended_reason = ended_reason
        self._clear_cookie = clear_cookie
        self._login: str | None = None
        self._logout = False
        self._replace = False  # the loaded session ends (on_end "logout") rather than rotating

    @property
    def meta(self) -> Meta | None:
        return None if self.record is None else self.record.meta

    @property
    def user(self) -> str | None:
        if self._login is not None:
            return self._login
        return None if self.record is None or self._logout else self.record.meta.user

    @property
    def carried_cookie(self) -> bool:
        """True when the request came with a session cookie (live, ended or unknown): its
        answer depends on that cookie, so a shared cache must key on it (``Vary: Cookie``)."""
        return self.record is not None or self._clear_cookie

    @property
    def active(self) -> bool:
        """True when a live session came with the request (or sign-in is pending)."""
        return (self.record is not None and not self._logout) or self._login is not None

    def login(self, user: str) -> None:
        """Sign ``user`` in: a new token and a new absolute window.

        Data carries over from an anonymous session or the same user's (a cart kept across
        sign-in). A different person's session ends (``on_end`` sees ``logout``) and its
        data stays behind.
        """
        if not isinstance(user, str) or not user:
            raise ValueError("login(user) needs a non-empty string id")
        current = self.user
        if current is not None and current != user:
            self._replace = True
            self.data.clear()
        self._login = user
        self._logout = False

    def logout(self) -> None:
        """End the session now (reason ``logout``) and clear the cookie."""
        self._logout = True
        self._replace = True
        self._login = None
        self.data.clear()

    def state(self) -> dict[str, Any]:
        """The status body as of this request: what the page's script starts from."""
        policy = self._protocol.policy_of(self.user)
        if self._login is not None:
            return policy.state(policy.start(self.now, self._login), self.now)
        if self.record is None or self._logout:
            return {"state": "ended", "reason": self.ended_reason or "none"}
        return policy.state(self.record.meta, self.now)


class Protocol:
    """The decisions of DESIGN §4, without I/O. One instance per app, shared by requests."""

    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        c = self.config
        self.policy = c.policy
        self._same_site = _SAME_SITE[c.same_site.lower()]
        self._endpoint_prefix = c.prefix + "/"
        self._passive = tuple(c.passive_paths)
        self._trusted = frozenset(o.lower() for o in c.trusted_origins)

    # -- small helpers -------------------------------------------------------------------

    def policy_of(self, user: str | None) -> Policy:
        return self.policy if self.config.policy_for is None else self.config.policy_for(user)

    def is_endpoint(self, path: str) -> bool:
        return path.startswith(self._endpoint_prefix)

    def _secure(self, request: Request) -> bool:
        return request.secure if self.config.secure is None else self.config.secure

    def _cookie_name(self, secure: bool) -> str:
        return cookie_name(self.config.cookie_name, secure=secure, path=self.config.cookie_path)

    def _set(self, token: str, secure: bool) -> str:
        return set_cookie(
            self._cookie_name(secure), token, secure=secure, same_site=self._same_site, path=self.config.cookie_path
        )

    def _clear(self, secure: bool) -> str:
        return clear_cookie(self._cookie_name(secure), secure=secure, same_site=self._same_site, path=self.config.cookie_path)

    def json(self, status: int, body: dict[str, Any], headers: Sequence[tuple[str, str]] = ()) -> Response:
        """A JSON answer: every one is ``no-store``, refusals included."""
        return Response(
            status,
            [
                ("content-type", "application/json"),
                ("cache-control", "no-store"),
                ("x-content-type-options", "nosniff"),
                *headers,
            ],
            _encode_json(body).encode(),
        )

    def error(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
        return self.json(status, {"error": message}, headers)

    def unavailable(self, exc: StoreUnavailable | None = None) -> Response:
        """503 with Retry-After: the store is down or locked. Never "ended"."""
        retry = exc.retry_after if exc is not None else self.config.retry_after
        return self.error(503, "session store unavailable, try again shortly", [("retry-after", str(retry))])

    def cross_site_refusal(self, request: Request) -> str | None:
        """Why a state-changing request is refused as not same-origin, or None (DESIGN §4)."""
        headers = request.headers
        site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if origin is not None:
            origin = origin.lower()
            # Behind a TLS-terminating proxy the app sees http, the browser says https.
            scheme = "https" if self.config.secure else request.scheme
            own = f"{scheme}://{headers.get('host', '').lower()}"
            if origin != own and origin not in self._trusted:
                return "cross-origin request refused"
        if site == "cross-site":
            return "cross-site request refused"
        if site == "same-site" and origin not in self._trusted:
            return "same-site request from an untrusted origin refused"
        if origin is None and site is None:
            return "request without Origin or Sec-Fetch-Site refused"
        return None

    # -- the session, shared by endpoints and ordinary requests ---------------------------

    def open(
        self, request: Request, *, passive: bool | None = None, _snapshot: bool = True
    ) -> Generator[Op, Any, Session]:
        """Load the request's session, end it if it expired, slide it if this is activity."""
        secure = self._secure(request)
        now = self.config.clock()
        token = read_cookie(request.headers.get("cookie"), self._cookie_name(secure))
        if token is None:
            return Session(self, None, now=now, secure=secure)
        if not is_token(token):
            # Malformed, oversized or foreign: never looked up, never adopted.
            return Session(self, None, now=now, secure=secure, ended_reason="none", clear_cookie=True)
        key = hash_token(token)
        if passive is None:
            passive = self.is_passive(request) or self.refused_unsafe(request)
        record: Record | None
        if passive or self.config.policy_for is not None:
            record = yield ("load", key)
        else:
            # Stores that can (Redis) load and slide in one round trip; the others just
            # load, and the touch below happens when the policy wants it.
            record = yield ("load_and_touch", key, now, self.policy)
        if record is None:
            # Strict mode: an unknown token is never adopted; the cookie is cleared.
            return Session(self, None, now=now, secure=secure, ended_reason="none", clear_cookie=True)
        policy = self.policy_of(record.meta.user)
        reason = policy.end_reason(record.meta, now)
        if reason is not None:
            yield from self._end(key, reason)
            return Session(self, None, now=now, secure=secure, ended_reason=reason, clear_cookie=True)
        if not passive and policy.wants_touch(record.meta, now):
            meta = policy.touched(record.meta, now)
            if not (yield ("touch", key, meta)):
                # Ended by another request (logout, revoke) between our load and touch.
                return Session(self, None, now=now, secure=secure, ended_reason="none", clear_cookie=True)
            record.meta = meta
        return Session(self, record, now=now, secure=secure, snapshot=_snapshot)

    def refused_unsafe(self, request: Request) -> bool:
        """An unsafe-method request that fails the same-origin rule: never activity,
        whatever the app answers (a forged POST must not keep a session alive)."""
        return request.method.upper() not in _SAFE_METHODS and self.cross_site_refusal(request) is not None

    def is_passive(self, request: Request) -> bool:
        return request.headers.get("tether-passive") == "1" or (
            bool(self._passive) and request.path.startswith(self._passive)
        )

    def _end(self, key: str, reason: str) -> Generator[Op, Any, None]:
        """Claim the record; whoever claims it (and only they) reports the end."""
        claimed = yield ("delete", key)
        if claimed is not None and self.config.on_end is not None:
            yield ("on_end", claimed, reason)

    def close(self, session: Session) -> Generator[Op, Any, list[str]]:
        """Persist what the app did with the session; return the Set-Cookie values."""
        secure = session.secure
        record = session.record
        if session._logout:
            if record is not None:
                yield from self._end(record.key, "logout")
                return [self._clear(secure)]
            return [self._clear(secure)] if session._clear_cookie else []
        if session._login is not None or (record is None and session.data):
            # Sign-in (or a first write to an anonymous session): always a new token.
            if record is not None:
                if session._replace:
                    yield from self._end(record.key, "logout")
                else:
                    yield ("delete", record.key)  # rotated: the same session, a new token
            token = new_token()
            meta = self.policy_of(session._login).start(self.config.clock(), session._login)
            yield ("create", Record(hash_token(token), meta, session.data))
            return [self._set(token, secure)]
        if record is not None:
            if dump_data(session.data) != session._snapshot:
                yield ("save", Record(record.key, record.meta, session.data))
            return []
        return [self._clear(secure)] if session._clear_cookie else []

    # -- the endpoints ---------------------------------------------------------------------

    def endpoint(self, request: Request, body: bytes | None = b"") -> Generator[Op, Any, Response]:
        """Answer a request under the prefix. Refusals come first, in DESIGN §4's order.

        ``body`` is None when the server failed to read it (broken chunking, a client that
        went away): a 400, as for a body that is not JSON.
        """
        name = request.path[len(self._endpoint_prefix):]
        allowed = _ENDPOINTS.get(name)
        if allowed is None:
            return self.error(404, f"no tether endpoint {name!r}")
        method = request.method.upper()
        if method not in allowed:
            return self.error(405, f"method {method} not allowed", [("allow", ", ".join(allowed))])
        if name == "tether.js":
            return self.script(request)
        if method == "POST":
            refusal = self.cross_site_refusal(request)
            if refusal:
                return self.error(403, refusal)
            content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type != "application/json":
                return self.error(415, "send Content-Type: application/json")
            if body is None:
                return self.error(400, "the request body could not be read")
            if len(body) > self.config.max_body:
                return self.error(413, f"body larger than {self.config.max_body} bytes")
            if body != b"{}" and body.strip():
                try:
                    json.loads(body)
                except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                    return self.error(400, "body is not valid JSON")
        session = yield from self.open(request, passive=(name == "status"), _snapshot=False)
        if name == "end":
            if session.record is not None:
                yield from self._end(session.record.key, "logout")
            headers = [("set-cookie", self._clear(session.secure))]
            return self.json(200, {"state": "ended", "reason": "logout"}, headers)
        if session.record is None:
            headers = [("set-cookie", self._clear(session.secure))] if session._clear_cookie else []
            response = self.json(401, {"state": "ended", "reason": session.ended_reason or "none"}, headers)
        else:
            response = self.json(200, session.state())
        if method == "HEAD":
            response.body = b""
        return response

    # -- the client script -------------------------------------------------------------------

    def script(self, request: Request) -> Response:
        source, version = script_bytes(), script_version()
        etag = f'"{version}"'
        versioned = f"v={version}" in request.query.split("&")
        headers = [
            ("content-type", "text/javascript; charset=utf-8"),
            ("cache-control", "public, max-age=31536000, immutable" if versioned else "no-cache"),
            ("etag", etag),
            ("x-content-type-options", "nosniff"),
        ]
        if request.headers.get("if-none-match") == etag:
            return Response(304, headers)
        return Response(200, headers, b"" if request.method.upper() == "HEAD" else source)

    # -- revoking and sweeping ---------------------------------------------------------------

    def revoke(self, key: str | None = None, *, user: str | None = None) -> Generator[Op, Any, int]:
        """End one session by store key, or every session of ``user`` (reason ``revoked``).

        The revoked browser learns it at its next request: its token is unknown (401 ``none``).
        """
        if (key is None) == (user is None):
            raise ValueError("revoke() takes a key or a user, not both")
        if key is not None:
            claimed = yield ("delete", key)
            records = [claimed] if claimed is not None else []
        else:
            records = yield ("delete_by_user", user)
        if self.config.on_end is not None:
            for record in records:
                yield ("on_end", record, "revoked")
        return len(records)


    def sweep(self, limit: int = 100) -> Generator[Op, Any, int]:
        """Claim one batch of expired sessions and report each end. Returns the count."""
        now = self.config.clock()
        claimed: list[Record] = yield ("sweep", now, limit)
        if self.config.on_end is not None:
            for record in claimed:
                yield ("on_end", record, self.policy.end_reason(record.meta, now) or "idle")
        return len(claimed)


def _perform(store: Any, op: Op) -> Any:
    name = op[0]
    if name == "create":
        return store.save(op[1], create=True)
    if name == "load_and_touch":
        # Optional capability, not in the contract: a store without it just loads.
        combined = getattr(store, "load_and_touch", None)
        return store.load(op[1]) if combined is None else combined(*op[1:])
    return getattr(store, name)(*op[1:])


def _report(on_end: OnEnd, record: Record, reason: str) -> Any:
    """Call the hook; a failing hook is logged and never stops the other endings (the
    record is already claimed) nor turns a request into a 500."""
    try:
        return on_end(record, reason)
    except Exception:
        logger.exception("tether: on_end failed for session %s… (%s)", record.key[:10], reason)
        return None


def run_sync(gen: Generator[Op, Any, Any], store: Any, on_end: OnEnd | None = None) -> Any:
    """Drive a protocol generator with a sync store."""
    try:
        op = next(gen)
        while True:
            if op[0] == "on_end":
                assert on_end is not None
                _report(on_end, op[1], op[2])
                op = gen.send(None)
            else:
                op = gen.send(_perform(store, op))
    except StopIteration as done:
        return done.value


async def run_async(gen: Generator[Op, Any, Any], store: Any, on_end: OnEnd | None = None) -> Any:
    """Drive a protocol generator with an async store. ``on_end`` may be a coroutine
    function (awaited) or a plain one (run in a thread: it may do I/O; the loop goes on)."""
    try:
        op = next(gen)
        while True:
            if op[0] == "on_end":
                assert on_end is not None
                await _areport(on_end, op[1], op[2])
                op = gen.send(None)
                continue
            result = _perform(store, op)
            if inspect.isawaitable(result):
                result = await result
            op = gen.send(result)
    except StopIteration as done:
        return done.value


async def _areport(on_end: OnEnd, record: Record, reason: str) -> None:
    if inspect.iscoroutinefunction(on_end):
        result = _report(on_end, record, reason)
    else:
        result = await asyncio.to_thread(_report, on_end, record, reason)
    if inspect.isawaitable(result):
        try:
            await result
        except Exception:
            logger.exception("tether: on_end failed for session %s… (%s)", record.key[:10], reason)


__all__ = ["Config", "Request", "Response", "Session", "Protocol", "run_sync", "run_async"]
