"""The demo on Django, through the ``tether.contrib.django`` app: the same pages and
routes as the Starlette demo. Django is configured here, once per process."""

from __future__ import annotations

import logging
from pathlib import Path
import sys
from types import ModuleType
from typing import Any, Callable

from . import missing_extra

try:
    from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
    from django.urls import include, path
    from django.views.static import serve
except ImportError as exc:
    raise missing_extra(exc, "demo,django") from None

from .._records import Record, short_key
from ..exceptions import NotInCookieMode
from ..stores.urls import open_store
from .pages import HEADERS, DemoSettings, client_script, end_notice, login_redirect, render, session_rows, valid_username

logger = logging.getLogger("tether.demo")

URLCONF = "tether.demo._django_urls"  # built at start-up from the demo's settings


def log_end(record: Record, reason: str) -> None:
    logger.info("session %s of %s ended: %s", short_key(record.key), record.meta.user or "anonymous", reason)


def see_other(to: str) -> HttpResponse:
    response = HttpResponseRedirect(to)
    response.status_code = 303
    return response


def routes(settings: DemoSettings) -> list[Any]:
    from ..contrib.django.conf import runtime
    from ..contrib.django.safety import cross_site_refusal, safe_next

    def page(request: HttpRequest, template: str, code: int = 200, **context: Any) -> HttpResponse:
        session = request.session.tether
        html = render(template, session=session, settings=settings, script=client_script(session, settings), **context)
        return HttpResponse(html, status=code, headers=dict(HEADERS), content_type="text/html; charset=utf-8")

    def refused(request: HttpRequest) -> HttpResponse | None:
        """The demo's own forms obey the same same-origin rule as tether's endpoints, and a
        form body that cannot be read (e.g. ``Content-Length: 2x``) is a 400, never a 500."""
        reason = cross_site_refusal(request)
        if reason:
            return page(request, "error.html", 403, status=403, message=reason)
        try:
            request.POST  # noqa: B018 - parsed here so that a broken body is refused here
        except (ValueError, OSError) as exc:  # Django's int(CONTENT_LENGTH), a cut connection
            logger.info("unreadable form body: %r", exc)
            return page(request, "error.html", 400, status=400, message="The form could not be read.")
        return None

    def signed_in(where: str, methods: tuple[str, ...] = ("GET",)) -> Callable[..., Any]:
        """Only these methods; signed-out visitors go to the login page first."""

        def wrap(view: Callable[..., HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
            def guarded(request: HttpRequest) -> HttpResponse:
                if request.method not in methods:
                    return HttpResponse(status=405, headers={"Allow": ", ".join(methods)})
                if where and not request.session.tether.active:
                    return see_other(login_redirect(where))
                if request.method == "POST" and (refusal := refused(request)) is not None:
                    return refusal
                return view(request, request.session.tether)

            return guarded

        return wrap

    @signed_in("/")
    def home(request: HttpRequest, session: Any) -> HttpResponse:
        return page(request, "index.html")

    @signed_in("", ("GET", "POST"))
    def login(request: HttpRequest, session: Any) -> HttpResponse:
        if request.method == "GET":
            return page(request, "login.html", next=safe_next(request, request.GET.get("next")), notice=end_notice(request.GET.get("reason"), settings.policy))
        target = safe_next(request, request.POST.get("next"))
        name = valid_username(request.POST.get("username"))
        if name is None:
            return page(request, "login.html", 400, next=target, error="Enter a name of 1 to 64 characters.")
        session.login(name)
        return see_other(target)

    @signed_in("", ("POST",))
    def logout(request: HttpRequest, session: Any) -> HttpResponse:
        session.logout()
        return see_other("/login")

    @signed_in("/form", ("GET", "POST"))
    def form(request: HttpRequest, session: Any) -> HttpResponse:
        if request.method == "POST":
            session.data["last_report"] = str(request.POST.get("title") or "(untitled)")[:200]
            return see_other("/form?saved=1")
        saved = session.data.get("last_report") if request.GET.get("saved") else None
        return page(request, "form.html", saved=saved)

    def sessions_page(request: HttpRequest, session: Any, revoked: str | None = None) -> HttpResponse:
        try:
            records, unlisted = runtime().store.list_by_user(session.user), None
        except NotInCookieMode as exc:  # signed-cookie mode: say so, never invent rows
            records, unlisted = [], str(exc)
        current = session.record.key if session.record else None
        others = "others" in request.GET
        rows = session_rows(records, current, session.now)
        return page(request, "sessions.html", rows=rows, revoked=revoked, others=others, unlisted=unlisted)

    @signed_in("/sessions")
    def sessions(request: HttpRequest, session: Any) -> HttpResponse:
        return sessions_page(request, session)

    @signed_in("/sessions", ("POST",))
    def revoke(request: HttpRequest, session: Any) -> HttpResponse:
        tether = runtime()
        if request.POST.get("everywhere"):
            tether.revoke(user=session.user)
            session.logout()
            return see_other("/login")
        key = request.POST.get("key", "")
        record = tether.store.load(key) if key else None
        if record is None or record.meta.user != session.user:
            return page(request, "error.html", 404, status=404, message="No such session of yours.")
        if session.record is not None and key == session.record.key:
            session.logout()  # this browser: a plain sign-out, no tombstone needed
            return see_other("/login")
        tether.revoke(key)
        return sessions_page(request, session, revoked=short_key(key))

    @signed_in("/sessions", ("POST",))
    def sign_out_others(request: HttpRequest, session: Any) -> HttpResponse:
        session.end_other_sessions()
        return see_other("/sessions?others=1")

    static = Path(__file__).parent / "static"
    return [
        path("", home),
        path("login", login),
        path("logout", logout),
        path("form", form),
        path("sessions", sessions),
        path("sessions/revoke", revoke),
        path("sessions/others", sign_out_others),
        path("static/<path:path>", serve, {"document_root": static}),
        path(settings.prefix.strip("/") + "/", include("tether.contrib.django.urls")),
    ]


def build(settings: DemoSettings, **options: Any) -> Any:
    """The demo as a WSGI app. ``options`` go to ``TETHER`` (e.g. ``clock``)."""
    import django
    from django.conf import settings as django_settings
    from django.core.wsgi import get_wsgi_application

    options.setdefault("on_end", log_end)
    tether = {"store": open_store(settings.store_url), "policy": settings.policy, "prefix": settings.prefix, **options}
    django_settings.configure(
        DEBUG=False,
        SECRET_KEY="tether-demo",  # noqa: S106 - signs nothing: the demo uses no Django signing
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=URLCONF,
        INSTALLED_APPS=["tether.contrib.django"],
        MIDDLEWARE=["tether.contrib.django.middleware.TetherMiddleware"],
        SESSION_ENGINE="tether.contrib.django.session",
        SESSION_COOKIE_NAME="tether",
        TETHER=tether,
    )
    django.setup()
    urls = sys.modules[URLCONF] = ModuleType(URLCONF)
    urls.urlpatterns = routes(settings)  # type: ignore[attr-defined]
    return get_wsgi_application()


__all__ = ["build"]
