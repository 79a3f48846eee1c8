"""``{% load tether %}{% tether_script %}``: the one ``<script>`` tag that loads tether.js."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from ...._script import script_tag

register = template.Library()


@register.simple_tag(takes_context=True)
def tether_script(context: Any, **options: Any) -> SafeString:
    request = getattr(context, "request", None) or context.get("request")
    session = getattr(getattr(request, "session", None), "tether", None)
    if session is None:
        return mark_safe("")
    return mark_safe(str(script_tag(session, **options)))
