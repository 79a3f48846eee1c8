"""The committed tether.min.js is built from the current tether.js, and within budget.

These checks need no browser. The header check needs no Node either; the exact rebuild
runs when the pinned terser is installed (``npm ci``), and must run in CI.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "tether" / "static"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Bytes, gzipped, everything included. Issue 3 set 5,000 (4,977 used); issue 13 item 5,
# issue 8 and issue 10 items 4-5 raised it by the minimum: 5,605 used. Each feature's
# cost, measured by removing it from the final file (gzip is not additive: within ±5):
#   readable locals, state in objects, the pure schedule()    +292
#   its CommonJS export for node --test                        +59
#   the warning confirmed with the server first                +47
#   a page rendered signed out confirmed once, not per tab     +25
#   the reason on the login redirect                           +34
#   dark colour scheme and the narrow-screen fit (CSS)        +104
#   ::part names title, message, actions                       +12
#   multi-tab fixes: an ended leader keeps the lock until its
#   page goes, a late close event is not a Stay, quiet focus  +77
BUDGET = 5605


def test_min_file_records_the_current_source():
    source = (STATIC / "tether.js").read_bytes()
    first_line = (STATIC / "tether.min.js").read_text().splitlines()[0]
    match = re.fullmatch(r"/\*! tether\.js src:([0-9a-f]{16}) \*/", first_line)
    assert match, first_line
    assert match.group(1) == hashlib.sha256(source).hexdigest()[:16], "tether.min.js is stale: run `npm run build`"


def test_min_file_is_exactly_what_the_pinned_terser_builds():
    if shutil.which("node") is None or not (ROOT / "node_modules" / "terser").is_dir():
        if IN_CI:
            pytest.fail("node and `npm ci` are required in CI")
        pytest.skip("terser is not installed (npm ci)")
    run = subprocess.run(["node", "scripts/build-js.mjs", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_min_file_fits_the_budget():
    size = len(gzip.compress((STATIC / "tether.min.js").read_bytes(), compresslevel=9))
    print(f"\ntether.min.js: {size} bytes gzipped (budget {BUDGET})")
    assert size <= BUDGET


def test_the_client_has_no_eval_and_no_inline_styles():
    source = (STATIC / "tether.js").read_text()
    code = re.sub(r"//.*", "", source)
    for forbidden in ("eval(", "new Function", "innerHTML", "setAttribute(\"style\"", "createElement(\"style\")", "insertAdjacentHTML"):
        assert forbidden not in code, forbidden


def test_types_cover_the_api_and_every_event():
    types = (STATIC / "tether.d.ts").read_text()
    source = (STATIC / "tether.js").read_text()
    emitted = set(re.findall(r'emit\(\s*"(\w+)"', source)) | {"ended", "expired", "online", "offline"}
    for name in emitted:
        assert f'"tether:{name}"' in types, name
    for member in ("extend()", "end()", "state", "online", "leader", "expiresAt", "pending"):
        assert member in types
