"""A minimal Django project on tether: ``python manage.py migrate && python manage.py runserver``.

What tether needs is marked; the rest is Django's usual minimum. Files (the database and
the session store) are written to the working directory.
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "change-me"  # noqa: S105 - an example
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
ROOT_URLCONF = "urls"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "tether.contrib.django",  # tether: checks, the template tag, tether_sessions
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tether.contrib.django.middleware.TetherMiddleware",  # tether: where SessionMiddleware was
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
SESSION_ENGINE = "tether.contrib.django.session"  # tether: for the test client and clearsessions
SESSION_COOKIE_NAME = "tether"  # tether: the cookie tether sets
TETHER = {
    "store": "sqlite:///tether-sessions.sqlite3",
    "idle_timeout": 20 * 60,
    "absolute_timeout": 12 * 3600,
    "login_url": "/",
}

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request", "django.contrib.auth.context_processors.auth"]},
    }
]
