"""The conformance factory for Django: one configured process, ``TETHER`` overridden per client."""

from __future__ import annotations

from typing import Any

import httpx

from . import PASSIVE
from .django_setup import setup
from .transport import wsgi_test_client


class DjangoClient(httpx.Client):
    """An httpx client over Django's WSGI handler; ``TETHER`` applies while it is open."""

    tether: dict[str, Any] = {}

    def __enter__(self) -> DjangoClient:
        from django.test import override_settings

        self._override = override_settings(TETHER=self.tether)
        self._override.enable()
        return super().__enter__()

    @property
    def runtime(self) -> Any:
        """The configured runtime, while the client is open."""
        from tether.contrib.django.conf import runtime

        return runtime()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        self._override.disable()


def django_client(store: Any, clock: Any, **config: Any) -> DjangoClient:
    setup()
    from django.core.wsgi import get_wsgi_application

    client = wsgi_test_client(get_wsgi_application(), DjangoClient)
    client.tether = {"store": store, "clock": clock, "sweep_interval": None, "passive_paths": PASSIVE, **config}
    return client
