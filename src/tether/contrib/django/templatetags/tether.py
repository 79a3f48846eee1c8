"""``{% load tether %}{% tether_script %}``: the one ``<script>`` tag that loads tether.js."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from ...._script import TEXTS, script_tag


register = template.Library()


@register.simple_tag(takes_context=True)
def tether_script(context: Any, **options: Any) -> SafeString:
    request = getattr(context, "request", None) or context.get("request")
    session = getattr(getattr(request, "session", None), "tether", None)
    if session is None:
        return mark_safe("")
    options["texts"] = {**translated_texts(), **(options.get("texts") or {})}
    return mark_safe(str(script_tag(session, **options)))


def translated_texts() -> dict[str, str]:
    """The client's texts through Django's gettext, in the request's active language.

    The English defaults are the message ids, so a project translates them in its own
    ``.po`` files; only texts that differ are sent, keeping the tag small.
    """
    return {key: text for key, default in TEXTS.items() if (text := gettext(default)) != default}
