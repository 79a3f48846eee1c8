"""Django is configured once per process (``settings.configure``); tests change only
``TETHER`` (through ``override_settings``), which tether re-reads when it changes."""

from __future__ import annotations

import django
from django.conf import settings

MIDDLEWARE = [
    "tether.contrib.django.middleware.TetherMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]


def setup() -> None:
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["testserver", "localhost", "127.0.0.1"],
        ROOT_URLCONF="tests.frameworks.django_urls",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.messages",
            "django.contrib.sessions",  # only for its clearsessions command
            "tether.contrib.django",
        ],
        MIDDLEWARE=MIDDLEWARE,
        SESSION_ENGINE="tether.contrib.django.session",
        SESSION_COOKIE_NAME="tether",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "OPTIONS": {}}],
        USE_TZ=True,
        TETHER={"store": "memory://", "sweep_interval": None},
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)
