"""The conformance app's routes (tests/apps.py) on Django, plus Django-auth sign-in."""

from __future__ import annotations

import json

from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.models import User
from django.http import HttpRequest, JsonResponse
from django.template import engines
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST


@require_GET
def whoami(request: HttpRequest) -> JsonResponse:
    handle = request.session.tether
    body = {"user": handle.user, "data": dict(request.session), "ended": handle.ended_reason}
    return JsonResponse(body, headers={"Vary": "Accept-Language"})


@csrf_exempt
@require_POST
def login(request: HttpRequest) -> JsonResponse:
    request.session.tether.login(json.loads(request.body)["user"])
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def logout(request: HttpRequest) -> JsonResponse:
    request.session.tether.logout()
    request.session.update(json.loads(request.body) if request.body else {})
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def end_others(request: HttpRequest) -> JsonResponse:
    request.session.tether.end_other_sessions()
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def data(request: HttpRequest) -> JsonResponse:
    request.session.update(json.loads(request.body))
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def auth_sign_in(request: HttpRequest) -> JsonResponse:
    """django.contrib.auth.login with a real user."""
    name = json.loads(request.body)["user"]
    user, _ = User.objects.get_or_create(username=name)
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse({"ok": True, "pk": user.pk})


@csrf_exempt
@require_POST
def auth_sign_out(request: HttpRequest) -> JsonResponse:
    auth_logout(request)
    return JsonResponse({"ok": True})


def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username() or None, "tether_user": request.session.tether.user})


def page(request: HttpRequest):
    from django.http import HttpResponse

    template = engines["django"].from_string("{% load tether %}<body>{% tether_script %}</body>")
    return HttpResponse(template.render({}, request))


urlpatterns = [
    path("whoami", whoami),
    path("api/poll/whoami", whoami),
    path("login", login),
    path("logout", logout),
    path("data", data),
    path("end-others", end_others),
    path("auth/login", auth_sign_in),
    path("auth/logout", auth_sign_out),
    path("auth/me", me),
    path("page", page),
    path("_tether/", include("tether.contrib.django.urls")),
]
