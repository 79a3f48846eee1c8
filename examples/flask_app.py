"""tether on Flask, in one file: ``flask --app examples.flask_app run``.

``flask.session`` is the tether session; sign in with ``sign_in(name)`` (or Flask-Login's
``login_user``, which tether follows), and ``{{ tether_script() }}`` loads the client.
"""

from flask import Flask, abort, redirect, render_template_string, request

from tether.contrib.flask import Tether, cross_site_refusal, current_session, sign_in, sign_out

app = Flask(__name__)
app.config.update(
    TETHER_STORE="sqlite:///tether-sessions.sqlite3",
    TETHER_IDLE_TIMEOUT=20 * 60,
    TETHER_ABSOLUTE_TIMEOUT=12 * 3600,
)
tether = Tether(app)

PAGE = """<!doctype html><title>tether</title>{{ tether_script() }}
<p>{% if user %}Signed in as {{ user }}{% else %}Not signed in{% endif %}</p>
<form method="post" action="/login"><input name="username" required><button>Sign in</button></form>
<form method="post" action="/logout"><button>Sign out</button></form>"""


@app.before_request
def same_origin_forms() -> None:
    """Forms obey the same same-origin rule as tether's own endpoints."""
    if request.method == "POST" and cross_site_refusal():
        abort(403)


@app.get("/")
def home() -> str:
    return render_template_string(PAGE, user=current_session().user)


@app.post("/login")
def login():
    name = request.form.get("username", "").strip()
    if not name:
        abort(400)
    sign_in(name)  # a new token and a new absolute window
    return redirect("/", code=303)


@app.post("/logout")
def logout():
    sign_out()
    return redirect("/", code=303)
