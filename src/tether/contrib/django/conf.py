"""``settings.TETHER``, read once into a protocol and a store (re-read only when a test
overrides the setting)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from ..._cookies import cookie_name
from ..._environ import request_from_environ
from ..._protocol import Request, Response, Session
from ..._runtime import Runtime as BaseRuntime
from ..._settings import build_settings
from ...exceptions import ConfigurationError


class Runtime(BaseRuntime):
    """The protocol, the sync store and the sweeper of this process, from ``TETHER``."""

    def __init__(self, values: Any):
        if not isinstance(values, Mapping):
            raise ConfigurationError(f"TETHER must be a dict of settings, e.g. {{'store': ...}}, got {type(values).__name__}")
        super().__init__(build_settings({k.lower(): v for k, v in values.items()}, lambda key: f"TETHER[{key!r}]"))

    def open_token(self, token: str | None) -> Session:
        """The session of a token that came from Django rather than a request (the test
        client's ``login()``, scripts): read through the protocol, never counted as activity."""
        secure = bool(self.config.secure)
        name = cookie_name(self.config.cookie_name, secure=secure, path=self.config.cookie_path)
        headers = {"cookie": f"{name}={token}"} if token else {}
        request = Request("GET", self.config.cookie_path, scheme="https" if secure else "http", headers=headers)
        return self.run(self.protocol.open_session(request, passive=True))


@functools.lru_cache(maxsize=1)
def runtime() -> Runtime:
    return Runtime(getattr(settings, "TETHER", {}))


@receiver(setting_changed)
def _reread(setting: str, **kwargs: Any) -> None:
    if setting == "TETHER" and runtime.cache_info().currsize:
        runtime().sweeper.stop()
        runtime.cache_clear()


def request_facts(request: HttpRequest) -> Request:
    """The protocol's view of a Django request: scheme and host as Django sees them (so
    ``SECURE_PROXY_SSL_HEADER``, ``USE_X_FORWARDED_HOST`` and ``ALLOWED_HOSTS`` apply),
    the path relative to the script prefix."""
    facts = request_from_environ(request.META)
    headers = {**facts.headers, "host": request.get_host()}
    return dataclasses.replace(facts, scheme=request.scheme, path=request.path_info, headers=headers)


def to_django(response: Response) -> HttpResponse:
    out = HttpResponse(response.body, status=response.status)
    for name, value in response.headers:
        if name.lower() == "set-cookie":
            out.cookies.load(value)
        else:
            out[name] = value
    return out


__all__ = ["Runtime", "runtime", "request_facts", "to_django"]
