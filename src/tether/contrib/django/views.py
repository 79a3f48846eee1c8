"""The protocol's endpoints as one Django view (``include("tether.contrib.django.urls")``)."""

from __future__ import annotations

import dataclasses

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from .conf import request_facts, runtime, to_django


@csrf_exempt  # the protocol refuses cross-site POSTs itself (Origin/Sec-Fetch-Site + JSON only)
def endpoint(request: HttpRequest, name: str) -> HttpResponse:
    tether = runtime()
    facts = dataclasses.replace(request_facts(request), path=f"{tether.config.prefix}/{name}")
    body: bytes | None = b""
    if facts.method == "POST":
        try:
            body = request.read(tether.config.max_body + 1)
        except OSError:  # UnreadablePostError: broken framing is a 400 refusal, never a 500
            body = None
    return to_django(tether.answer(facts, body))
