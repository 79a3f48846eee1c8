"""The middleware: put it where Django's ``SessionMiddleware`` was.

Per request it opens the tether session through the protocol (both timeouts enforced,
activity slid at most once per granularity), hands it to Django as ``request.session``
and, when the response leaves, stores what changed and sets the cookie. It subclasses
``SessionMiddleware`` only so that Django's checks (e.g. the admin's) recognise it; it
shares none of its code. Sync and async capable (Django's ``MiddlewareMixin``: under
ASGI the store calls run in a thread).
"""

from __future__ import annotations

from typing import Any, Callable

from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.deprecation import MiddlewareMixin

from ...exceptions import StoreUnavailable
from .conf import request_facts, runtime, to_django
from .session import SessionStore
from .views import endpoint

class TetherMiddleware(SessionMiddleware):
    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        MiddlewareMixin.__init__(self, get_response)  # not SessionMiddleware's: no SESSION_ENGINE import

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        tether = runtime()
        tether.sweeper.ensure()
        if tether.protocol.is_endpoint(request.path_info):
            # Answered here, before URL resolution, views and later middleware: the
            # heartbeat is the hot path, and the protocol makes every decision itself.
            return endpoint(request, request.path_info[len(tether.config.prefix) + 1 :])
        try:
            handle = tether.run(tether.protocol.open_session(request_facts(request)))
        except StoreUnavailable as exc:
            return to_django(tether.unavailable(exc))
        request.session = SessionStore(handle=handle, tether=tether)
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if not isinstance(session, SessionStore) or not session._bound:
            return response
        try:
            cookies = session.close()
        except StoreUnavailable as exc:
            # The sign-in or data write was not stored: say so rather than pretend.
            return to_django(session._runtime.unavailable(exc))
        for cookie in cookies:
            # A fresh morsel: load() into an existing one would keep its old attributes
            # (e.g. Max-Age=0 of a clear) on the new token.
            response.cookies.pop(cookie.partition("=")[0], None)
            response.cookies.load(cookie)
        if session.accessed or cookies or session.carried_cookie:
            patch_vary_headers(response, ("Cookie",))
        return response


__all__ = ["TetherMiddleware"]
