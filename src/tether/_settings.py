"""One configuration vocabulary for every adapter, validated once at start-up.

ASGI and WSGI ``TetherMiddleware(app, **settings)``, Flask ``TETHER_*`` and Django
``TETHER = {...}`` all read the same keys the same way: the :class:`~tether.Policy`
fields (or ``policy``), the :class:`~tether.Config` fields, ``store`` (an instance or a
store URL) and ``sweep_interval``. A typo is a :class:`~tether.ConfigurationError` naming
the setting as the user spelled it and the accepted ones, never a silently ignored key.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from typing import Any, Callable, Mapping

from ._config import Config
from ._policy import Policy
from .exceptions import ConfigurationError

POLICY_KEYS = frozenset(f.name for f in dataclasses.fields(Policy))
CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(Config)) - {"policy"}
ADAPTER_KEYS = frozenset({"store", "sweep_interval", "policy", "secret_key"})
KNOWN_KEYS = POLICY_KEYS | CONFIG_KEYS | ADAPTER_KEYS
#: A setting's name as a word in a Policy or Config message (not inside a quoted value, not a call).
_KEY_NAMES = "|".join(sorted(KNOWN_KEYS, key=len, reverse=True))
_KEY_WORD = re.compile(rf"(?<![\w'])(?:{_KEY_NAMES})(?![\w'(])")


@dataclasses.dataclass(frozen=True)
class Settings:
    config: Config
    store: Any  # an instance, or None for the default SQLite file
    sweep_interval: float | None


def import_object(path: str) -> Any:
    """``"package.module:name"`` or ``"package.module.name"``: for hooks named in settings files."""
    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"cannot import {path!r}: {exc}") from exc


def _respell(message: str, spell: Callable[[str], str]) -> str:
    if spell("idle_timeout") == "idle_timeout":
        return message
    return _KEY_WORD.sub(lambda match: spell(match.group(0)), message)


def build_settings(
    values: Mapping[str, Any], spell: Callable[[str], str] = str, *, asynchronous: bool = False
) -> Settings:
    """Settings from lower-case ``values``; ``spell(key)`` names a key the way the user wrote it.

    - ``store``: a store instance or a store URL, opened as its async twin when
      ``asynchronous`` (default: a SQLite file in the working directory).
    - ``policy`` (a :class:`Policy`) or its fields (``idle_timeout``, ...), not both.
    - ``secret_key``: signed-cookie mode's key(s), with ``store="cookie:"``.
    - ``sweep_interval``: seconds, or None for no sweeper thread.
    - every other :class:`Config` field; ``on_end``, ``on_event`` and ``clock`` may be dotted paths.
    """
    unknown = sorted(set(values) - KNOWN_KEYS)
    if unknown:
        raise ConfigurationError(
            f"unknown setting {', '.join(spell(k) for k in unknown)}; known: {', '.join(spell(k) for k in sorted(KNOWN_KEYS))}"
        )
    policy_values = {k: v for k, v in values.items() if k in POLICY_KEYS}
    policy = values.get("policy")
    if policy is not None and policy_values:
        raise ConfigurationError(f"set {spell('policy')} or {', '.join(map(spell, policy_values))}, not both")
    options = {k: v for k, v in values.items() if k in CONFIG_KEYS}
    for hook in ("on_end", "on_event", "clock"):
        if isinstance(options.get(hook), str):
            options[hook] = import_object(options[hook])
    for listing in ("passive_paths", "trusted_origins"):
        if isinstance(options.get(listing), str):
            raise ConfigurationError(f"{spell(listing)} must be a list of strings, not one string")
    try:
        config = Config(policy=Policy(**policy_values) if policy is None else policy, **options)
    except ConfigurationError as exc:
        # Policy and Config name their fields; say them as the user wrote them (TETHER_IDLE_TIMEOUT).
        raise ConfigurationError(_respell(str(exc), spell)) from exc
    store = values.get("store")
    if isinstance(store, str):
        from .stores.urls import open_store

        store = open_store(store, asynchronous=asynchronous, secret_key=values.get("secret_key"))
    elif values.get("secret_key") is not None:
        raise ConfigurationError(f"{spell('secret_key')} is for signed-cookie mode: set {spell('store')} to 'cookie:'")
    elif store is not None and not callable(getattr(store, "load", None)):
        raise ConfigurationError(f"{spell('store')} must be a store or a store URL, got {type(store).__name__}")
    sweep_interval = values.get("sweep_interval", 60.0)
    if sweep_interval is not None and (not isinstance(sweep_interval, (int, float)) or sweep_interval <= 0):
        raise ConfigurationError(f"{spell('sweep_interval')} must be a positive number of seconds or None")
    return Settings(config, store, sweep_interval)


__all__ = ["Settings", "build_settings", "import_object", "KNOWN_KEYS"]
