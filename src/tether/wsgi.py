"""Pure WSGI middleware: I/O only; every decision is made by :mod:`tether._protocol`.

The WSGI twin of :mod:`tether.asgi`, for sync stores. In the WSGI environ:

- ``environ["tether.session"]`` is the :class:`~tether.Session` handle (``login(user)``,
  ``logout()``, ``meta``, ``state()``, ``data``);
- ``environ["tether.data"]`` is the session's data dict (the same object as
  ``environ["tether.session"].data``).

Paths are matched against ``PATH_INFO``, i.e. relative to where the app is mounted.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Callable, Iterable, Iterator

from ._config import Config
from ._cookies import vary_with_cookie
from ._environ import Environ, request_from_environ
from ._protocol import Response, Session
from ._runtime import Runtime, Sweeper, middleware_settings
from .exceptions import StoreUnavailable
from .stores.base import as_sync_store

StartResponse = Callable[..., Callable[[bytes], Any]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


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


class TetherMiddleware(Runtime):
    """Server-side sessions with idle and absolute timeouts, plus the heartbeat endpoints.

    Settings are the one vocabulary of every adapter (:mod:`tether._settings`), checked
    here at construction: :class:`tether.Policy` fields or ``policy``,
    :class:`tether.Config` fields, or a ready ``config=Config(...)``; ``store`` is a sync
    store or a store URL (default: a SQLite file in the working directory).
    ``sweep_interval`` (seconds, default 60) is how often a daemon thread claims expired
    sessions and reports them to ``on_end``; it starts with the first request in each
    process (so a forking server gets one per worker); ``None`` turns it off (e.g. when a
    cron job runs ``tether sessions sweep``).
    """

    def __init__(self, app: WSGIApp, *, config: Config | None = None, **settings: Any) -> None:
        super().__init__(middleware_settings(config, settings, asynchronous=False))
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        self.sweeper.ensure()
        request = request_from_environ(environ)
        protocol = self.protocol
        if protocol.is_endpoint(request.path):
            body = read_body(environ, self.config.max_body) if request.method == "POST" else b""
            return respond(start_response, self.answer(request, body))
        try:
            session = self.run(protocol.open_session(request))
        except StoreUnavailable as exc:
            return respond(start_response, self.unavailable(exc))
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
                protocol = self.protocol
                try:
                    # Most pages ask nothing and change nothing: no generator to drive then.
                    cookies = [] if protocol.saves_nothing(session) else self.run(protocol.save_session(session))
                except StoreUnavailable as exc:
                    failed = self.unavailable(exc)
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
