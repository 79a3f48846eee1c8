"""Pure WSGI middleware: I/O only; every decision is made by :mod:`tether._protocol`.

The WSGI twin of :mod:`tether.asgi`, for sync stores. In the WSGI environ:

- ``environ["tether.session"]`` is the :class:`~tether.Session` handle (``login(user)``,
  ``logout()``, ``meta``, ``state()``, ``data``);
- ``environ["tether.data"]`` is the session's data dict (the same object as
  ``environ["tether.session"].data``).

Paths are matched against ``PATH_INFO``, i.e. relative to where the app is mounted.
"""

from __future__ import annotations

import logging
import os
import threading
from http import HTTPStatus
from typing import Any, Callable, Iterable, Iterator

from ._cookies import vary_with_cookie
from ._policy import Policy
from ._protocol import Config, Protocol, configure, Request, Response, Session, run_sync
from .exceptions import ConfigurationError, StoreUnavailable
from .stores.base import is_async_store

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], Any]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

logger = logging.getLogger("tether")

DEFAULT_SQLITE_PATH = "tether-sessions.sqlite3"


def as_sync_store(store: Any) -> Any:
    """A sync store as is; the SQLite file by default. An async store cannot serve WSGI."""
    if store is None:
        from .stores.sqlite import SQLiteStore

        return SQLiteStore(DEFAULT_SQLITE_PATH)
    if is_async_store(store):
        raise ConfigurationError(
            f"{type(store).__name__} is an async store; WSGI needs its sync twin (e.g. SQLiteStore, RedisStore)"
        )
    return store


def request_from_environ(environ: Environ) -> Request:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    scheme = environ.get("wsgi.url_scheme", "http")
    if "host" not in headers and "SERVER_NAME" in environ:
        port = str(environ.get("SERVER_PORT", ""))
        default = port in ("", "80") if scheme == "http" else port in ("", "443")
        headers["host"] = environ["SERVER_NAME"] if default else f"{environ['SERVER_NAME']}:{port}"
    return Request(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=environ.get("PATH_INFO", "") or "/",
        scheme=scheme,
        headers=headers,
        query=environ.get("QUERY_STRING", ""),
    )


def read_body(environ: Environ, limit: int) -> bytes | None:
    """Read at most ``limit + 1`` bytes: enough to tell the protocol the body is too large.

    None when the server cannot deliver it: its input stream raises on broken framing
    (werkzeug: ``OSError`` on a bad chunk header), and that must be a 400, never a 500.
    """
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0 and not environ.get("wsgi.input_terminated"):
        return b""
    size = min(length, limit + 1) if length > 0 else limit + 1
    try:
        return environ["wsgi.input"].read(size)  # type: ignore[no-any-return]
    except Exception:  # whatever the server's stream raises: the body is unreadable
        return None


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def respond(start_response: StartResponse, response: Response) -> list[bytes]:
    headers = [*response.headers, ("content-length", str(len(response.body)))]
    start_response(status_line(response.status), headers)
    return [response.body]


class TetherMiddleware:
    """Server-side sessions with idle and absolute timeouts, plus the heartbeat endpoints.

    ``store`` is a sync store (default: a SQLite file in the working directory).
    ``sweep_interval`` (seconds) is how often a daemon thread claims expired sessions and
    reports them to ``on_end``; it starts with the first request in each process (so a
    forking server gets one per worker); ``None`` turns it off (e.g. when a cron job runs
    ``tether sessions sweep``). Other keyword arguments are :class:`tether.Config` fields.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        store: Any = None,
        policy: Policy | None = None,
        sweep_interval: float | None = 60.0,
        config: Config | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.config = config = configure(config, policy, options)
        self.protocol = Protocol(config)
        self.store = as_sync_store(store)
        self.sweep_interval = sweep_interval
        self.sweeper = Sweeper(self.sweep, sweep_interval)

    def run(self, gen: Any) -> Any:
        return run_sync(gen, self.store, self.config.on_end)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        self.sweeper.ensure()
        request = request_from_environ(environ)
        protocol = self.protocol
        if protocol.is_endpoint(request.path):
            body = read_body(environ, self.config.max_body) if request.method == "POST" else b""
            try:
                response = self.run(protocol.endpoint(request, body))
            except StoreUnavailable as exc:
                logger.warning("tether: %s", exc)
                response = protocol.unavailable(exc)
            return respond(start_response, response)
        try:
            session = self.run(protocol.open(request))
        except StoreUnavailable as exc:
            logger.warning("tether: %s", exc)
            return respond(start_response, protocol.unavailable(exc))
        environ["tether.session"] = session
        environ["tether.data"] = session.data
        return self.app_with_cookie(environ, start_response, session)

    def app_with_cookie(self, environ: Environ, start_response: StartResponse, session: Session) -> Iterable[bytes]:
        """Call the app; when it starts its response, persist the session and add Set-Cookie.

        If the store fails at that moment, the app's response becomes a 503: a page must
        not pretend a sign-in or a data write was stored when it was not.
        """
        cookies: list[str] | None = None
        failed: Response | None = None

        def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            nonlocal cookies, failed
            if failed is not None:
                return lambda data: None
            if cookies is None:
                try:
                    cookies = self.run(self.protocol.close(session))
                except StoreUnavailable as exc:
                    logger.warning("tether: %s", exc)
                    failed = self.protocol.unavailable(exc)
                    respond(start_response, failed)
                    return lambda data: None
            if cookies or session.carried_cookie:
                headers = [*_with_vary_cookie(headers), *(("Set-Cookie", c) for c in cookies)]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, wrapped)
        if failed is not None:
            _close(result)
            return [failed.body]
        if cookies is None:
            # The app starts its response lazily, while iterated: watch for a store failure.
            return _Lazy(result, lambda: failed)
        return result

    # -- the sweeper -----------------------------------------------------------------------

    def revoke(self, key: str | None = None, *, user: str | None = None) -> int:
        """End one session (by store key) or all of a user's; ``on_end`` sees ``revoked``."""
        return self.run(self.protocol.revoke(key, user=user))

    def sweep(self, limit: int = 100) -> int:
        """Claim every expired session now, in batches of ``limit``; returns how many."""
        total = 0
        while True:
            count = self.run(self.protocol.sweep(limit))
            total += count
            if count < limit:
                return total


class Sweeper:
    """A daemon thread that calls ``sweep()`` every ``interval`` seconds.

    Started by :meth:`ensure` on the first request of each process, so a forking server
    (gunicorn, uWSGI) gets one per worker rather than one in the parent that dies at fork.
    """

    def __init__(self, sweep: Callable[[], int], interval: float | None):
        self.sweep = sweep
        self.interval = interval
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def ensure(self) -> None:
        if self.interval and self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._stop = threading.Event()
                    threading.Thread(target=self._forever, args=(self._stop,), name="tether-sweeper", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _forever(self, stop: threading.Event) -> None:
        assert self.interval
        while not stop.wait(self.interval):
            try:
                self.sweep()
            except StoreUnavailable as exc:
                logger.warning("tether: sweep skipped: %s", exc)
            except Exception:  # the sweeper must outlive a failing on_end hook
                logger.exception("tether: sweep failed")


def _with_vary_cookie(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The response headers with ``Cookie`` merged into the app's ``Vary``."""
    vary = [value for name, value in headers if name.lower() == "vary"]
    merged = vary_with_cookie(", ".join(vary) if vary else None)
    if merged is None:
        return headers
    return [*(h for h in headers if h[0].lower() != "vary"), ("Vary", merged)]


class _Lazy:
    """An app iterable whose response starts while iterated; swaps in a 503 body if the
    session could not be stored when it started."""

    def __init__(self, result: Iterable[bytes], failed: Callable[[], Response | None]):
        self._result = result
        self._failed = failed

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._result:
            response = self._failed()
            if response is not None:
                yield response.body
                return
            yield chunk

    def close(self) -> None:
        _close(self._result)


def _close(result: Iterable[bytes]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


__all__ = ["TetherMiddleware", "Sweeper", "request_from_environ", "read_body", "respond", "as_sync_store"]
