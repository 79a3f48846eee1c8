"""The sans-I/O HTTP protocol shared by every adapter.

Adapters (ASGI, WSGI, Django) turn a request into :class:`Request` facts, then drive one
of the generators below. A generator yields typed store operations (:mod:`tether._ops`,
e.g. ``LoadAndTouch(key, now, policy)``); the adapter performs each one with its own
sync or async store (:mod:`tether._drive`) and sends the result back in. The
generator's return value is the decision: a :class:`Response` for the endpoints, a
:class:`Session` handle or a list of Set-Cookie values for ordinary requests. So the
rules live here once, and no adapter repeats them. Nothing here does I/O.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Generator, Mapping, Sequence

from ._config import SAME_SITE, Config, OnEnd
from ._cookies import clear_cookie, cookie_name, read_cookie, set_cookie
from ._device import device_label
from ._events import HeartbeatAnswered, Refused, SessionStarted, TouchWritten
from ._ops import Create, Delete, DeleteByUser, Emit, ListByUser, Load, LoadAndTouch, Op, ReportEnd, Save, Sweep, Touch
from ._policy import Policy
from ._records import Meta, Record, hash_token, is_token, new_token
from ._script import script_bytes, script_version
from ._session import Session
from .exceptions import StoreUnavailable

# json.dumps(..., separators=...) builds a new encoder on every call; one shared encoder
# gives the same bytes for less.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode
# Logging is the one side effect allowed here: a refusal's DEBUG line (never a token).
logger = logging.getLogger("tether")
_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))
#: The headers every JSON answer starts with (refusals included). The ASGI adapter keeps
#: their bytes form, built once (``Response.json``), instead of encoding them per answer.
JSON_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "application/json"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
)
_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "heartbeat": ("POST",),
    "status": ("GET", "HEAD"),
    "end": ("POST",),
    "tether.js": ("GET", "HEAD"),
}


#: Every request header the protocol (and its subclasses) reads, lower case. The adapters
#: look up only these: the others are never decoded (the hot path).
HEADERS_READ = ("cookie", "host", "origin", "sec-fetch-site", "content-type", "tether-passive", "if-none-match",
                "user-agent")


@dataclass(frozen=True)
class Request:
    """What the protocol needs to know about a request. Header names are lower case."""

    method: str
    path: str
    scheme: str = "http"
    headers: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    #: The client address the server saw (behind a proxy: the proxy's, unless the server
    #: trusts its forwarded headers). Kept only when ``Config.record_ip`` is set.
    client: str | None = None

    @property
    def secure(self) -> bool:
        return self.scheme in ("https", "wss")


_new_object = object.__new__


def make_request(
    method: str, path: str, scheme: str, headers: Mapping[str, str], query: str, client: str | None
) -> Request:
    """``Request(method, path, scheme, headers, query, client)``, as the adapters build one
    per request: the same frozen dataclass, made without its generated ``__init__``, which
    sets each field through ``object.__setattr__`` (0.76 µs here, against 0.17 µs for
    filling the instance's ``__dict__``). Every field must be given; a test checks that
    this stays equal to the constructor."""
    request = _new_object(Request)
    fields = request.__dict__
    fields["method"] = method
    fields["path"] = path
    fields["scheme"] = scheme
    fields["headers"] = headers
    fields["query"] = query
    fields["client"] = client
    return request


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    #: Set by :meth:`Protocol.json_response`: ``headers`` starts with :data:`JSON_HEADERS`,
    #: so an adapter may send that prefix in a form it prepared once.
    json: bool = False


def same_origin_refusal(request: Request, *, secure: bool | None, trusted: frozenset[str]) -> str | None:
    """Why ``request`` is refused as not coming from this site, or None.

    A browser's ``Origin`` must be this site's (``https`` when ``secure`` is set: behind a
    TLS-terminating proxy the app sees http while the browser says https) or one of
    ``trusted`` (lower case); ``Sec-Fetch-Site`` must not say ``cross-site``, nor
    ``same-site`` from an untrusted origin; a request with neither header is refused.
    """
    headers = request.headers
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if origin is not None:
        origin = origin.lower()
        scheme = "https" if secure else request.scheme
        own = f"{scheme}://{headers.get('host', '').lower()}"
        if origin != own and origin not in trusted:
            return "cross-origin request refused"
    if site == "cross-site":
        return "cross-site request refused"
    if site == "same-site" and origin not in trusted:
        return "same-site request from an untrusted origin refused"
    if origin is None and site is None:
        return "request without Origin or Sec-Fetch-Site refused"
    return None


class Protocol:
    """The decisions of DESIGN §4, without I/O. One instance per app, shared by requests."""

    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        c = self.config
        self.policy = c.policy
        self._same_site = SAME_SITE[c.same_site.lower()]
        self._endpoint_prefix = c.prefix + "/"
        self._passive = tuple(c.passive_paths)
        self._trusted = frozenset(o.lower() for o in c.trusted_origins)
        # Read on the hot path: a hook that is None costs one check and builds no event.
        self._on_event = c.on_event
        self._reports_end = c.on_end is not None or c.on_event is not None

    # -- small helpers -------------------------------------------------------------------

    def policy_of(self, user: str | None) -> Policy:
        return self.config.policy_of(user)

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

    def json_response(
        self, status: int, body: dict[str, Any] | bytes, headers: Sequence[tuple[str, str]] = ()
    ) -> Response:
        """A JSON answer: every one is ``no-store``, refusals included. ``body`` is a dict
        to encode, or bytes already encoded (the 200 state, :meth:`Policy.state_json`)."""
        return Response(
            status,
            [*JSON_HEADERS, *headers],
            body if isinstance(body, bytes) else _encode_json(body).encode(),
            json=True,
        )

    def refusal(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
        return self.json_response(status, {"error": message}, headers)

    def unavailable(self, exc: StoreUnavailable | None = None) -> Response:
        """503 with Retry-After: the store is down or locked. Never "ended"."""
        retry = exc.retry_after if exc is not None else self.config.retry_after
        return self.refusal(503, "session store unavailable, try again shortly", [("retry-after", str(retry))])

    def cross_site_refusal(self, request: Request) -> str | None:
        """Why a state-changing request is refused as not same-origin, or None."""
        return same_origin_refusal(request, secure=self.config.secure, trusted=self._trusted)

    # -- the session, shared by endpoints and ordinary requests ---------------------------

    def open_session(
        self, request: Request, *, passive: bool | None = None, snapshot: bool = True
    ) -> Generator[Op, Any, Session]:
        """Load the request's session, end it if it expired, slide it if this is activity.

        ``passive`` None: decided from the request (:meth:`is_passive`, and an unsafe
        request failing the same-origin rule is never activity). ``snapshot=False``
        skips what :attr:`Session.changed` needs, for callers that never save the session.
        """
        secure = self._secure(request)
        config = self.config
        now = config.clock()
        token = read_cookie(request.headers.get("cookie"), self._cookie_name(secure))
        if token is None:
            return Session(config, None, now=now, secure=secure, request=request)
        if not is_token(token):
            # Malformed, oversized or foreign: never looked up, never adopted.
            return Session(config, None, now=now, secure=secure, ended_reason="none", clears_cookie=True, request=request)
        key = hash_token(token)
        if passive is None:
            passive = self.is_passive(request) or self.refused_unsafe(request)
        record: Record | None
        # With policy_for the policy depends on whose record it is: load, slide below.
        slide_here = not passive and config.policy_for is not None
        if passive or slide_here:
            record = yield Load(key)
        else:
            # The store loads and slides (when the policy wants it) in one step.
            record = yield LoadAndTouch(key, now, self.policy)
        if record is None:
            # Strict mode: an unknown token is never adopted; the cookie is cleared.
            return Session(config, None, now=now, secure=secure, ended_reason="none", clears_cookie=True, request=request)
        meta = record.meta
        if meta.ended is not None:
            # A tombstone: ended (and reported) already; kept so this browser learns why.
            return Session(config, None, now=now, secure=secure, ended_reason=meta.ended, clears_cookie=True, request=request)  # type: ignore[arg-type]
        policy = config.policy_of(meta.user)
        reason = policy.end_reason(meta, now)
        if reason is not None:
            yield from self._end(record, reason)
            return Session(config, None, now=now, secure=secure, ended_reason=reason, clears_cookie=True, request=request)
        if slide_here and policy.wants_touch(meta, now):
            meta = policy.touched(meta, now)
            if not (yield Touch(key, meta)):
                # Ended by another request (logout, revoke) between our load and touch.
                return Session(config, None, now=now, secure=secure, ended_reason="none", clears_cookie=True, request=request)
            record.meta = meta
            if self._on_event is not None:
                yield Emit(TouchWritten(key))
        elif self._on_event is not None and not passive and meta.last_active == now != meta.created_at:
            yield Emit(TouchWritten(key))  # load_and_touch slid it (a new record has last_active == created_at)
        return Session(config, record, now=now, secure=secure, snapshot=snapshot, request=request)

    def refused_unsafe(self, request: Request) -> bool:
        """An unsafe-method request that fails the same-origin rule: never activity,
        whatever the app answers (a forged POST must not keep a session alive)."""
        return request.method.upper() not in _SAFE_METHODS and self.cross_site_refusal(request) is not None

    def is_passive(self, request: Request) -> bool:
        return request.headers.get("tether-passive") == "1" or (
            bool(self._passive) and request.path.startswith(self._passive)
        )

    def _end(self, record: Record, reason: str) -> Generator[Op, Any, None]:
        """Claim the record; whoever claims it (and only they) reports the end."""
        claimed = yield Delete(record.key)
        if claimed is not None and self._reports_end:
            yield ReportEnd(claimed, reason)

    def save_session(self, session: Session) -> Generator[Op, Any, list[str]]:
        """Persist what the app asked of the session; return the Set-Cookie values."""
        secure = session.secure
        record = session.record
        if session.wants_end_others and session.user is not None:
            yield from self.revoke(user=session.user, keep=None if record is None else record.key)
        if session.wants_logout:
            if record is not None:
                yield from self._end(record, "logout")
            if not session.data:
                return [self._clear(secure)] if record is not None or session.clears_cookie else []
            # Written after logout() (a "you are signed out" message): the ended session
            # stays ended, and a new anonymous one, with a new token, carries the data.
            record = None
        user = session.wants_login
        if user is not None or (record is None and session.data):
            # Sign-in (or a first write to an anonymous session): always a new token.
            if record is not None:
                if session.replaces:
                    yield from self._end(record, "logout")
                else:
                    yield Delete(record.key)  # rotated: the same session, a new token
            token = new_token()
            meta = self.policy_of(user).start(self.config.clock(), user)
            if user is not None:
                meta = self._signed_in_from(meta, session.request)
            key = hash_token(token)
            yield Create(Record(key, meta, session.data))
            if self._on_event is not None:
                yield Emit(SessionStarted(key, user))
            return [self._set(token, secure)]
        if record is not None:
            if session.changed:
                yield Save(Record(record.key, record.meta, session.data))
            return []
        return [self._clear(secure)] if session.clears_cookie else []

    def saves_nothing(self, session: Session) -> bool:
        """True when :meth:`save_session` would yield no operation and return no cookie:
        no sign-in, sign-out nor ending of the others asked, no cookie to clear, and the
        data unchanged (empty, for an anonymous session). Most pages are that, and their
        adapter then skips the generator and its driver. False is always safe (it only
        means: let :meth:`save_session` decide), so a subclass that saves more says so."""
        if session.wants_login is not None or session.wants_logout or session.wants_end_others:
            return False
        if session.record is None:
            return not session.clears_cookie and not session.data
        return not session.changed

    def _signed_in_from(self, meta: Meta, request: Request | None) -> Meta:
        """What a person recognises a new sign-in by: the device, and the address if kept."""
        if request is None:
            return meta
        ip = request.client if self.config.record_ip else None
        return replace(meta, device=device_label(request.headers.get("user-agent")), ip=ip)

    # -- the endpoints ---------------------------------------------------------------------

    def endpoint(self, request: Request, body: bytes | None = b"") -> Generator[Op, Any, Response]:
        """Answer a request under the prefix. Refusals come first, in DESIGN §4's order.

        ``body`` is None when the server failed to read it (broken chunking, a client that
        went away): a 400, as for a body that is not JSON.
        """
        name = request.path[len(self._endpoint_prefix):]
        allowed = _ENDPOINTS.get(name)
        if allowed is None:
            return (yield from self._refuse(name, 404, f"no tether endpoint {name!r}"))
        method = request.method.upper()
        if method not in allowed:
            return (yield from self._refuse(name, 405, f"method {method} not allowed", [("allow", ", ".join(allowed))]))
        if name == "tether.js":
            return self.script(request)
        if method == "POST":
            refusal = self.cross_site_refusal(request)
            if refusal:
                return (yield from self._refuse(name, 403, refusal))
            content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type != "application/json":
                return (yield from self._refuse(name, 415, "send Content-Type: application/json"))
            if body is None:
                return (yield from self._refuse(name, 400, "the request body could not be read"))
            if len(body) > self.config.max_body:
                return (yield from self._refuse(name, 413, f"body larger than {self.config.max_body} bytes"))
            if body != b"{}" and body.strip():
                try:
                    json.loads(body)
                except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                    return (yield from self._refuse(name, 400, "body is not valid JSON"))
        session = yield from self.open_session(request, passive=(name == "status"), snapshot=False)
        if name == "heartbeat" and self._on_event is not None:
            live = session.record
            yield Emit(HeartbeatAnswered(None if live is None else live.key, live is not None))
        if name == "end":
            if session.record is not None:
                yield from self._end(session.record, "logout")
            headers = [("set-cookie", self._clear(session.secure))]
            return self.json_response(200, {"state": "ended", "reason": "logout"}, headers)
        if session.record is None:
            headers = [("set-cookie", self._clear(session.secure))] if session.clears_cookie else []
            response = self.json_response(401, {"state": "ended", "reason": session.ended_reason or "none"}, headers)
        else:
            state = self.policy_of(session.user).state_json(session.record.meta, session.now)
            response = self.json_response(200, state, self.live_cookies(session))
        if method == "HEAD":
            response.body = b""
        return response

    def live_cookies(self, session: Session) -> Sequence[tuple[str, str]]:
        """Set-Cookie headers for an endpoint's answer about a live session: none here (the
        cookie is a token that never changes); signed-cookie mode re-issues a slid one."""
        return ()

    def _refuse(
        self, endpoint: str, status: int, message: str, headers: Sequence[tuple[str, str]] = ()
    ) -> Generator[Op, Any, Response]:
        """An endpoint's refusal: one DEBUG line, a :class:`Refused` event, the 4xx answer."""
        logger.debug("tether: %s refused %d: %s", endpoint[:32], status, message)
        if self._on_event is not None:
            yield Emit(Refused(status, endpoint if endpoint in _ENDPOINTS else "unknown"))
        return self.refusal(status, message, headers)

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

    def revoke(
        self, key: str | None = None, *, user: str | None = None, keep: str | None = None
    ) -> Generator[Op, Any, int]:
        """End one session by store key, or every session of ``user`` but the one whose key
        is ``keep`` (reason ``revoked``); returns how many ended.

        Each is replaced by a tombstone (``Meta.ended == "revoked"``, no user, no data) that
        lives one idle timeout, so the revoked browser learns why at its next request (401
        ``revoked``) and the sweeper later removes it without a second ``on_end``.
        """
        records: list[Record]
        if key is not None and user is None:
            claimed = yield Delete(key)
            records = [claimed] if claimed is not None else []
        elif user is not None and key is None:
            if keep is None:
                records = yield DeleteByUser(user)
            else:
                listed: list[Record] = yield ListByUser(user)
                records = []
                for other in listed:
                    if other.key != keep and (claimed := (yield Delete(other.key))) is not None:
                        records.append(claimed)
        else:
            raise ValueError("revoke() takes a key or a user, not both")
        now = self.config.clock()
        ended = 0
        for record in records:
            if record.meta.ended is not None:  # already a tombstone: put it back as it was
                yield Create(record)
                continue
            expires = now + self.policy_of(record.meta.user).idle_timeout
            tombstone = replace(record.meta, user=None, ended="revoked", idle_expires_at=expires, absolute_expires_at=expires)
            yield Create(Record(record.key, tombstone, {}))
            if self._reports_end:
                yield ReportEnd(record, "revoked")
            ended += 1
        return ended

    def sweep(self, limit: int = 100) -> Generator[Op, Any, int]:
        """Claim one batch of expired sessions and report each end. Returns the count."""
        now = self.config.clock()
        claimed: list[Record] = yield Sweep(now, limit)
        if self._reports_end:
            for record in claimed:
                if record.meta.ended is not None:
                    continue  # a tombstone: its end was reported when it was made
                reason = self.policy_of(record.meta.user).end_reason(record.meta, now) or "idle"
                yield ReportEnd(record, reason)
        return len(claimed)


def __getattr__(name: str) -> Any:
    """``run_sync``/``run_async`` moved to :mod:`tether._drive` (the drivers do I/O);
    importing them from here still works, without this module importing asyncio."""
    if name in ("run_sync", "run_async"):
        from . import _drive

        return getattr(_drive, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Config", "OnEnd", "Record", "Request", "Response", "Session", "Protocol", "HEADERS_READ", "make_request"]
