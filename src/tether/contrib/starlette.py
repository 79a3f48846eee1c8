"""Starlette and FastAPI: the ASGI middleware does the work; this hands routes the session
and guards the app's own forms.

FastAPI::

    from fastapi import Depends, FastAPI
    from tether import AsyncSQLiteStore, Session, TetherMiddleware
    from tether.contrib.starlette import get_session, require_same_origin

    app = FastAPI()
    app.add_middleware(TetherMiddleware, store=AsyncSQLiteStore("sessions.db"))

    @app.get("/me")
    def me(session: Session = Depends(get_session)):
        return {"user": session.user}

    @app.post("/logout", dependencies=[Depends(require_same_origin)])
    def logout(session: Session = Depends(get_session)):
        session.logout()
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request

from .. import _safety
from .._session import Session
from ..asgi import request_from_scope


def get_session(conn: HTTPConnection) -> Session:
    """The request's tether handle (``scope["tether"]``); a clear error without the middleware."""
    try:
        handle: Session = conn.scope["tether"]
        return handle
    except KeyError:
        raise RuntimeError("no tether session on this request: add tether.TetherMiddleware to the app") from None


def cross_site_refusal(request: Request) -> str | None:
    """Why this request must be refused as coming from another site, or None (safe methods
    always pass); see :func:`tether.cross_site_refusal`."""
    return _safety.cross_site_refusal(get_session(request), request_from_scope(request.scope))


def require_same_origin(request: Request) -> None:
    """A FastAPI dependency, or a call at the top of a Starlette endpoint: a request from
    another site stops here with 403."""
    reason = cross_site_refusal(request)
    if reason is not None:
        raise HTTPException(403, detail=reason, headers={"Cache-Control": "no-store"})


__all__ = ["get_session", "cross_site_refusal", "require_same_origin"]
