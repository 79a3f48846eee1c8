"""Django: tether sessions behind ``request.session``, with Django's own auth.

Add ``"tether.contrib.django"`` to ``INSTALLED_APPS``; in ``MIDDLEWARE`` put
``"tether.contrib.django.middleware.TetherMiddleware"`` where
``SessionMiddleware`` was; set ``SESSION_ENGINE = "tether.contrib.django.session"``;
add ``path("_tether/", include("tether.contrib.django.urls"))`` to the URLconf; and
configure with ``TETHER = {"store": "sqlite:///sessions.db", "idle_timeout": 1200, ...}``.
``python manage.py check`` explains whatever is missing.
"""
