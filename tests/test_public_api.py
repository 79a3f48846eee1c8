"""The exported names are what we mean: adding or removing one is a decision."""

import tether


def test_public_names():
    assert sorted(tether.__all__) == sorted(
        [
            "__version__", "Policy", "Config", "Clock", "system_clock", "Session", "Meta", "Record",
            "EndReason", "new_token", "hash_token", "Store", "AsyncStore", "MemoryStore",
            "AsyncMemoryStore", "SQLiteStore", "AsyncSQLiteStore", "TetherMiddleware", "Protocol",
            "Request", "Response", "run_sync", "run_async", "TetherError", "ConfigurationError",
            "StoreUnavailable", "script_tag", "safe_next", "cross_site_refusal", "Metrics", "device_label",
        ]
    )
    for name in tether.__all__:
        assert hasattr(tether, name), name


def test_optional_backends_stay_out_of_the_package():
    import subprocess
    import sys

    code = "import sys, tether; print(sorted(m for m in ('redis', 'flask', 'django', 'starlette', 'jinja2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_tokens_are_256_bits_and_stored_hashed():
    token = tether.new_token()
    assert len(token) == 43  # 32 bytes, URL-safe base64 without padding
    assert tether.new_token() != token
    key = tether.hash_token(token)
    assert len(key) == 64 and token not in key


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    assert tether.__version__ == version("tether")
