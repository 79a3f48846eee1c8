"""``tether demo`` without its extra: one line saying what to install, exit code 2.

A base install is simulated by hiding the extra's modules (``sys.modules[name] = None``
makes ``import name`` fail as if it were not installed) in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

BASE_INSTALL = ("jinja2", "starlette", "uvicorn", "python_multipart", "multipart", "flask", "werkzeug", "django")

RUN = """
import sys
for name in {hidden!r}:
    sys.modules[name] = None
from tether.cli import main
sys.exit(main({argv!r}))
"""


def demo_without(hidden: tuple[str, ...], *argv: str) -> subprocess.CompletedProcess[str]:
    code = RUN.format(hidden=hidden, argv=["demo", "--port", "1", *argv])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("framework", ["starlette", "flask", "django"])
def test_a_base_install_is_told_to_install_the_demo_extra(framework: str) -> None:
    out = demo_without(BASE_INSTALL, "--framework", framework)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "tether: the demo needs the jinja2 module: pip install 'tether[demo]'"
        " ('tether[demo,flask]' or 'tether[demo,django]' for those demos)"
    ]
    assert out.stdout == ""


@pytest.mark.parametrize(("framework", "hidden"), [("flask", ("flask",)), ("django", ("django",))])
def test_the_demo_extra_without_the_framework_names_both(framework: str, hidden: tuple[str, ...]) -> None:
    out = demo_without(hidden, "--framework", framework)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [f"tether: the demo needs the {framework} module: pip install 'tether[demo,{framework}]'"]
    assert "Traceback" not in out.stdout
