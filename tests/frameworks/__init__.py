"""The WSGI adapters (bare WSGI, Flask, Django) under the shared conformance suite."""

PASSIVE = ["/api/poll"]  # the same passive path as tests/apps.py
