"""Starlette and FastAPI: the ASGI middleware does the work; this hands routes the session.

FastAPI::

    from fastapi import Depends, FastAPI
    from tether import Session, TetherMiddleware
    from tether.contrib.starlette import get_session

    app = FastAPI()
    app.add_middleware(TetherMiddleware, store=AsyncSQLiteStore("sessions.db"))

    @app.get("/me")
    def me(session: Session = Depends(get_session)):
        return {"user": session.user}
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from .._session import Session


def get_session(conn: HTTPConnection) -> Session:
    """The request's tether handle (``scope["tether"]``); a clear error without the middleware."""
    try:
        return conn.scope["tether"]
    except KeyError:
        raise RuntimeError("no tether session on this request: add tether.TetherMiddleware to the app") from None


__all__ = ["get_session"]
