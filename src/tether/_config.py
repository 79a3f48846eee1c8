"""``Config``: everything an adapter needs besides the store, validated once at start-up."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ._clock import Clock, system_clock
from ._events import OnEvent
from ._policy import Policy
from ._records import Record
from .exceptions import ConfigurationError

OnEnd = Callable[[Record, str], Any]

#: The SameSite spellings a Config accepts, and how the cookie spells them.
SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
#: What a browser sends as ``Origin``: a scheme, a host and maybe a port; never a path.
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+")


@dataclass(frozen=True)
class Config:
    """Everything an adapter needs besides the store. Read once at start-up.

    - ``prefix``: where the endpoints live.
    - ``cookie_name``: the base name; ``__Host-`` is prepended on https.
    - ``secure``: force the Secure flag on or off; None means "when the request is https".
    - ``passive_paths``: path prefixes whose requests never count as activity
      (e.g. a polling API); the status endpoint and ``Tether-Passive: 1`` are always passive.
    - ``trusted_origins``: other origins allowed to POST to the endpoints (e.g. a sibling
      subdomain, or the public origin when a proxy changes scheme or host).
    - ``on_end(record, reason)``: called once per ended session (sync or async callable).
    - ``on_event(event)``: called with each :mod:`tether.events` event (sign-ins,
      heartbeats, touches, ends, refusals, store failures, sweeps); e.g. a
      :class:`tether.Metrics`. Called inline: keep it quick. None costs nothing.
    - ``record_ip``: keep the client address at sign-in in ``Meta.ip`` (off: privacy).
      It is the address the server saw; behind a proxy, that is the proxy's unless the
      server is told to trust forwarded headers (uvicorn ``--forwarded-allow-ips``,
      werkzeug ``ProxyFix``).
    - ``login_url``: where the browser client sends people whose session ended.
    - ``policy_for(user)``: a per-user policy (e.g. shorter timeouts for administrators);
      called with the signed-in user id (None for anonymous sessions). The browser always
      learns the policy in force from the server's answers.
    """

    policy: Policy = field(default_factory=Policy)
    prefix: str = "/_tether"
    cookie_name: str = "tether"
    cookie_path: str = "/"
    secure: bool | None = None
    same_site: str = "lax"
    passive_paths: Sequence[str] = ()
    trusted_origins: Sequence[str] = ()
    login_url: str = "/login"
    on_end: OnEnd | None = None
    on_event: OnEvent | None = None
    record_ip: bool = False
    policy_for: Callable[[str | None], Policy] | None = None
    clock: Clock = system_clock
    retry_after: int = 5
    max_body: int = 4096

    def __post_init__(self) -> None:
        if not isinstance(self.policy, Policy):
            raise ConfigurationError(f"policy must be a tether.Policy, got {type(self.policy).__name__}")
        if not isinstance(self.prefix, str) or not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ConfigurationError(f"prefix must start with '/' and not end with one, got {self.prefix!r}")
        if not isinstance(self.same_site, str) or self.same_site.lower() not in SAME_SITE:
            raise ConfigurationError(f"same_site must be lax, strict or none, got {self.same_site!r}")
        if self.same_site.lower() == "none" and self.secure is False:
            raise ConfigurationError("same_site='none' needs a Secure cookie; browsers drop it otherwise")
        if not isinstance(self.cookie_name, str) or not self.cookie_name or any(c in self.cookie_name for c in ";=, \t"):
            raise ConfigurationError(f"cookie_name {self.cookie_name!r} is not a valid cookie name")
        for origin in self.trusted_origins:
            # Compared whole with the browser's Origin header, which never has a path.
            if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
                raise ConfigurationError(f"trusted origin {origin!r} must look like 'https://host[:port]'")
        for path in self.passive_paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigurationError(f"passive path {path!r} must start with '/'")
        # Wrong types would otherwise pass here and go wrong later: secure="false" is
        # truthy (a Secure cookie on http), max_body="4096" fails on every request.
        if self.secure is not None and not isinstance(self.secure, bool):
            raise ConfigurationError(f"secure must be True, False or None, got {self.secure!r}")
        if not isinstance(self.record_ip, bool):
            raise ConfigurationError(f"record_ip must be True or False, got {self.record_ip!r}")
        if not isinstance(self.login_url, str) or not self.login_url:
            raise ConfigurationError(f"login_url must be a URL (a string), got {self.login_url!r}")
        if not isinstance(self.cookie_path, str) or not self.cookie_path.startswith("/"):
            raise ConfigurationError(f"cookie_path must start with '/', got {self.cookie_path!r}")
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int) or self.max_body < 2:
            raise ConfigurationError(f"max_body must be a whole number of bytes of at least 2, got {self.max_body!r}")
        if isinstance(self.retry_after, bool) or not isinstance(self.retry_after, int) or self.retry_after < 0:
            raise ConfigurationError(f"retry_after must be a whole number of seconds (0 or more), got {self.retry_after!r}")
        if self.on_end is not None and not callable(self.on_end):
            raise ConfigurationError("on_end must be callable as on_end(record, reason)")
        if self.on_event is not None and not callable(self.on_event):
            raise ConfigurationError("on_event must be callable as on_event(event)")
        if self.policy_for is not None and not callable(self.policy_for):
            raise ConfigurationError("policy_for must be callable as policy_for(user)")
        if not callable(self.clock):
            raise ConfigurationError("clock must be callable, returning the time in seconds")

    def policy_of(self, user: str | None) -> Policy:
        """The policy in force for ``user`` (``policy_for``'s, or the one policy)."""
        return self.policy if self.policy_for is None else self.policy_for(user)


__all__ = ["Config", "OnEnd", "SAME_SITE"]
