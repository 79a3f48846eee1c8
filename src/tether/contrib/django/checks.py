"""System checks (``manage.py check``): each says what is wrong and how to fix it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.urls import NoReverseMatch, reverse

from ...exceptions import ConfigurationError

MIDDLEWARE = "tether.contrib.django.middleware.TetherMiddleware"
ENGINE = "tether.contrib.django.session"
DJANGO_SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"


def _index(name: str, middleware: list[str]) -> int | None:
    return next((i for i, path in enumerate(middleware) if path == name), None)


@register("tether")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from .conf import runtime

    try:
        tether = runtime()
    except (ConfigurationError, ImportError, TypeError) as exc:
        return [Error(f"TETHER settings are invalid: {exc}", hint="See tether.Config and tether.Policy.", id="tether.E001")]
    errors: list[Any] = []
    middleware = list(settings.MIDDLEWARE)
    ours = _index(MIDDLEWARE, middleware)
    if ours is None:
        errors.append(Error(f"{MIDDLEWARE!r} is not in MIDDLEWARE", hint="Put it where SessionMiddleware was.", id="tether.E002"))
    if _index(DJANGO_SESSIONS, middleware) is not None:
        errors.append(
            Error(
                f"{DJANGO_SESSIONS!r} is in MIDDLEWARE next to tether's",
                hint="Remove it: tether's middleware provides request.session.",
                id="tether.E003",
            )
        )
    auth = _index(AUTH, middleware)
    if ours is not None and auth is not None and auth < ours:
        errors.append(Error(f"{AUTH!r} comes before {MIDDLEWARE!r}", hint="Move tether's middleware above it.", id="tether.E004"))
    if settings.SESSION_ENGINE != ENGINE:
        errors.append(
            Warning(
                f"SESSION_ENGINE is {settings.SESSION_ENGINE!r}",
                hint=f"Set SESSION_ENGINE = {ENGINE!r} so that the test client's login() and clearsessions use tether.",
                id="tether.W001",
            )
        )
    if settings.SESSION_COOKIE_NAME != tether.config.cookie_name:
        errors.append(
            Warning(
                f"SESSION_COOKIE_NAME ({settings.SESSION_COOKIE_NAME!r}) differs from tether's cookie "
                f"({tether.config.cookie_name!r})",
                hint=f"Set SESSION_COOKIE_NAME = {tether.config.cookie_name!r}: Django's test client sets that cookie on login().",
                id="tether.W002",
            )
        )
    return errors + _check_urls(tether.config.prefix)


def _check_urls(prefix: str) -> list[Any]:
    if not getattr(settings, "ROOT_URLCONF", None):
        return []
    try:
        where = reverse("tether:endpoint", kwargs={"name": "status"})
    except NoReverseMatch:
        return [
            Error(
                "tether's endpoints are not in the URLconf",
                hint=f'Add path("{prefix.lstrip("/")}/", include("tether.contrib.django.urls")).',
                id="tether.E005",
            )
        ]
    except Exception:  # a broken URLconf is reported by Django's own checks
        return []
    if where != f"{prefix}/status":
        return [
            Error(
                f"tether's endpoints are included at {where.rsplit('/', 1)[0]}/ but TETHER['prefix'] is {prefix!r}",
                hint="Include them at the prefix, or set TETHER['prefix'] to where they are.",
                id="tether.E006",
            )
        ]
    return []
