"""The demo's shared rules, framework-free."""

import pytest

from tether.demo.pages import safe_next


@pytest.mark.parametrize("value", ["/", "/form", "/form?saved=1#top", "/sessions/x%2Fy", "/caf%C3%A9"])
def test_local_paths_are_kept(value):
    assert safe_next(value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "form", "//evil.example", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
     "/\n/evil.example", "/\r\n/x", "/ /evil", "https://evil.example", "/\x00", "/\u2028/evil", "javascript:alert(1)"],
)
def test_anything_else_goes_home(value):
    assert safe_next(value) == "/"
