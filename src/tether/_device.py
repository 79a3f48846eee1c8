"""A device label from a User-Agent, for "where am I signed in" (e.g. "Firefox on Linux").

Deliberately tiny: a person recognises a session by browser and system, not by version,
so a few ordered substring checks are enough. Order matters because browsers borrow each
other's tokens: Edge and Opera say "Chrome", Chrome says "Safari", every iOS browser is
Safari underneath. Anything unrecognised (bots, curl, scripts) gets None.
"""

from __future__ import annotations

#: (token in the User-Agent, browser name), first match wins.
_BROWSERS = (
    ("Edg", "Edge"),  # Edg/ (desktop), EdgA/ (Android), EdgiOS/
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),  # Safari proper carries "Version/x Safari/y"
)

_SYSTEMS = (
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)

_NOT_A_BROWSER = ("bot", "crawl", "spider", "headless")


def device_label(user_agent: str | None) -> str | None:
    """"Chrome on Android", "Safari on iOS", …; None when the agent is not a known browser."""
    if not user_agent or not user_agent.startswith("Mozilla/"):
        return None  # curl/8.5, python-httpx/0.27, Wget: scripts, not a device a person knows
    lowered = user_agent.lower()
    if any(word in lowered for word in _NOT_A_BROWSER):
        return None
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    if browser is None or (browser == "Safari" and "Safari/" not in user_agent):
        return None
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    return browser if system is None else f"{browser} on {system}"


__all__ = ["device_label"]
