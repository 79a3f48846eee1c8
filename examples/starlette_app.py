"""tether on Starlette, in one file: ``uvicorn examples.starlette_app:app``.

Any name signs in; the page loads tether.js, which keeps the session alive while you
work, warns before it ends and signs every tab out together.
"""

from html import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tether import AsyncSQLiteStore, Policy, TetherMiddleware, script_tag
from tether.contrib.starlette import cross_site_refusal

PAGE = """<!doctype html><title>tether</title>{script}
<p>{who}</p>
<form method="post" action="/login"><input name="username" required><button>Sign in</button></form>
<form method="post" action="/logout"><button>Sign out</button></form>"""


async def home(request: Request) -> Response:
    session = request.scope["tether"]
    who = f"Signed in as {escape(session.user)}" if session.user else "Not signed in"
    return HTMLResponse(PAGE.format(script=script_tag(session), who=who))


def cross_site(request: Request) -> bool:
    """Forms obey the same same-origin rule as tether's own endpoints."""
    return cross_site_refusal(request) is not None


async def login(request: Request) -> Response:
    name = str((await request.form()).get("username") or "").strip()
    if cross_site(request) or not name:
        return Response("refused", status_code=403 if name else 400)
    request.scope["tether"].login(name)  # a new token and a new absolute window
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> Response:
    if cross_site(request):
        return Response("refused", status_code=403)
    request.scope["tether"].logout()
    return RedirectResponse("/", status_code=303)


routes = [Route("/", home), Route("/login", login, methods=["POST"]), Route("/logout", logout, methods=["POST"])]
app = TetherMiddleware(
    Starlette(routes=routes),
    store=AsyncSQLiteStore("tether-sessions.sqlite3"),
    policy=Policy(idle_timeout=20 * 60, absolute_timeout=12 * 3600),
)
