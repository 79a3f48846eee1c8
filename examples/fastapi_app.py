"""tether on FastAPI: ``uvicorn examples.fastapi_app:app``. Routes get the session
through the ``get_session`` dependency."""

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from tether import AsyncSQLiteStore, Session, TetherMiddleware
from tether.contrib.starlette import get_session, require_same_origin

app = FastAPI()
app.add_middleware(TetherMiddleware, store=AsyncSQLiteStore("tether-sessions.sqlite3"))


class SignIn(BaseModel):
    user: str


@app.get("/me")
def me(session: Session = Depends(get_session)) -> dict:
    return {"user": session.user, "state": session.state()}


@app.post("/login", dependencies=[Depends(require_same_origin)])  # 403 from other sites
def login(body: SignIn, session: Session = Depends(get_session)) -> dict:
    session.login(body.user)
    return {"ok": True}


@app.post("/logout", dependencies=[Depends(require_same_origin)])
def logout(session: Session = Depends(get_session)) -> dict:
    session.logout()
    return {"ok": True}
