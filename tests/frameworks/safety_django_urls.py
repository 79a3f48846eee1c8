"""A URLconf with one form guarded by ``require_same_origin`` (tests/frameworks/test_same_origin.py)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from tether.contrib.django.safety import require_same_origin

RAN: list[str] = []  # the test puts its own list here


@csrf_exempt  # the test is about tether's check alone
@require_same_origin
def form(request: HttpRequest) -> JsonResponse:
    RAN.append("ran")
    return JsonResponse({"ok": True})


@csrf_exempt
@require_same_origin
async def async_form(request: HttpRequest) -> JsonResponse:
    RAN.append("ran")
    return JsonResponse({"ok": True})


urlpatterns = [path("form", form), path("async-form", async_form)]
