from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class TetherConfig(AppConfig):
    name = "tether.contrib.django"
    label = "tether"
    verbose_name = "tether sessions"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from . import checks  # noqa: F401  (registers the system checks)

        user_logged_in.connect(_signed_in, dispatch_uid="tether.signed_in")


def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``django.contrib.auth.login()``: sign the tether session in as ``user`` (new token)."""
    from .session import SessionStore

    session = getattr(request, "session", None)
    if isinstance(session, SessionStore):
        session.signed_in(str(user.pk))
