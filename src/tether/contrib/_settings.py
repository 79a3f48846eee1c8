"""Framework settings (Flask ``TETHER_*``, Django ``TETHER = {...}``) into one Config.

Shared by the framework adapters so that each reads its settings the same way, once, at
start-up, and a typo is a :class:`~tether.ConfigurationError` naming the setting rather
than a silently ignored key.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Mapping

from .._policy import Policy
from .._protocol import Config
from ..exceptions import ConfigurationError

POLICY_KEYS = frozenset(f.name for f in dataclasses.fields(Policy))
CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(Config)) - {"policy"}
ADAPTER_KEYS = frozenset({"store", "sweep_interval", "policy"})
KNOWN_KEYS = POLICY_KEYS | CONFIG_KEYS | ADAPTER_KEYS

DEFAULT_STORE = "sqlite:///tether-sessions.sqlite3"


@dataclasses.dataclass(frozen=True)
class Settings:
    config: Config
    store: Any
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


def build_settings(values: Mapping[str, Any], spell: Callable[[str], str]) -> Settings:
    """Settings from lower-case ``values``; ``spell(key)`` names a key the way the user wrote it.

    - ``store``: a sync store instance or a store URL (default: a SQLite file).
    - ``policy`` (a :class:`Policy`) or its fields (``idle_timeout``, ...), not both.
    - ``sweep_interval``: seconds, or None for no sweeper thread.
    - every other :class:`Config` field; ``on_end`` and ``clock`` may be dotted paths.
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
    if policy is None:
        policy = Policy(**policy_values)
    options = {k: v for k, v in values.items() if k in CONFIG_KEYS}
    for hook in ("on_end", "clock"):
        if isinstance(options.get(hook), str):
            options[hook] = import_object(options[hook])
    for listing in ("passive_paths", "trusted_origins"):
        if isinstance(options.get(listing), str):
            raise ConfigurationError(f"{spell(listing)} must be a list of strings, not one string")
    config = Config(policy=policy, **options)
    store = values.get("store") or DEFAULT_STORE
    if isinstance(store, str):
        from ..stores.urls import open_store

        store = open_store(store)
    sweep_interval = values.get("sweep_interval", 60.0)
    if sweep_interval is not None and (not isinstance(sweep_interval, (int, float)) or sweep_interval <= 0):
        raise ConfigurationError(f"{spell('sweep_interval')} must be a positive number of seconds or None")
    return Settings(config, store, sweep_interval)


def client_script(session: Any, config: Config, **options: Any) -> str:
    """The ``<script>`` tag for tether.js (``tether._script.script_tag``), or "" when the
    browser client is not part of this install."""
    try:
        from .._script import script_tag
    except ImportError:
        return ""
    options.setdefault("prefix", config.prefix)
    options.setdefault("login_url", config.login_url)
    return str(script_tag(session, **options))


__all__ = ["Settings", "build_settings", "import_object", "client_script", "KNOWN_KEYS"]
