"""Drives the Django quick start (docs/quickstart/django.md) in its own process, since
Django is configured once per process: ``python -m tests.docs_django_driver DIR`` with
the quick start's files written to DIR (see tests/test_docs.py)."""

from __future__ import annotations

import os
import sys


def main(root: str) -> None:
    sys.path.insert(0, root)
    os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from tests.test_docs import drive_sign_in

    setup_test_environment()  # lets the test client's "testserver" host in
    call_command("check", fail_level="WARNING")  # tether's checks pass on the quick start
    call_command("migrate", verbosity=0)
    User.objects.create_user("ada", password="lovelace")
    client = Client()

    class Wrapped:
        """Django's test client with the form posts the shared story sends."""

        def get(self, path: str, **kw: object) -> object:
            response = client.get(path.replace("/login", "/login/", 1), **kw)
            response.text = response.content.decode()  # type: ignore[attr-defined]
            return response

        def post(self, path: str, *, data: object = None, json: object = None, headers: object = None) -> object:
            path = path.replace("/login", "/login/", 1)
            if json is not None:
                response = client.post(path, json, content_type="application/json", headers=headers)
            else:
                response = client.post(path, data, headers=headers)
            response.text = response.content.decode()  # type: ignore[attr-defined]
            return response

    drive_sign_in(Wrapped(), form_url="/login")
    assert client.post("/logout/", headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/logout/", headers={"Origin": "http://testserver"}).status_code == 302
    assert client.get("/").status_code == 302
    print("quick start ok")


if __name__ == "__main__":
    main(sys.argv[1])
