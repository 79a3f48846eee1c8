"""Safe ``next`` redirects and same-origin forms for Django views.

``safe_next`` asks Django's own ``url_has_allowed_host_and_scheme`` first (the check
Django's ``LoginView`` uses, with https required on https requests) and then
:func:`tether.safe_next`, so a target must satisfy both. ``require_same_origin`` is a
view decorator in the manner of ``require_POST``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.http import url_has_allowed_host_and_scheme

from ... import _safety
from .conf import request_facts

View = Callable[..., HttpResponse]


def safe_next(request: HttpRequest, url: object, allowed_hosts: Iterable[str] = (), *, default: str = "/") -> str:
    """``url`` if it is a safe place to send someone after sign-in, else ``default``; see
    :func:`tether.safe_next`. ``request.get_host()`` is this site (so ``ALLOWED_HOSTS``
    and ``USE_X_FORWARDED_HOST`` apply)."""
    host = request.get_host()
    allowed = (*allowed_hosts,)
    secure = request.is_secure()
    if not isinstance(url, str) or not url_has_allowed_host_and_scheme(url, {host, *allowed}, require_https=secure):
        return default
    return _safety.safe_next(url, host, allowed, default=default)


def cross_site_refusal(request: HttpRequest) -> str | None:
    """Why this request must be refused as coming from another site, or None (safe methods
    always pass); see :func:`tether.cross_site_refusal`."""
    return _safety.cross_site_refusal(request.session.tether, request_facts(request))


def _refused(request: HttpRequest) -> HttpResponse | None:
    reason = cross_site_refusal(request)
    if reason is None:
        return None
    return JsonResponse({"error": reason}, status=403, headers={"Cache-Control": "no-store"})


def require_same_origin(view: View) -> View:
    """A view decorator (sync or async views): a request from another site gets a JSON 403
    and never reaches the view."""
    if iscoroutinefunction(view):

        async def guarded_async(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return _refused(request) or await view(request, *args, **kwargs)

        return functools.wraps(view)(guarded_async)

    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _refused(request) or view(request, *args, **kwargs)

    return functools.wraps(view)(guarded)


__all__ = ["safe_next", "cross_site_refusal", "require_same_origin"]
