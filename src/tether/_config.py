"""``Config``: everything an adapter needs besides the store, validated once at start-up."""

from __future__ import annotations

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
        if not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ConfigurationError(f"prefix must start with '/' and not end with one, got {self.prefix!r}")
        if self.same_site.lower() not in SAME_SITE:
            raise ConfigurationError(f"same_site must be lax, strict or none, got {self.same_site!r}")
        if self.same_site.lower() == "none" and self.secure is False:
            raise ConfigurationError("same_site='none' needs a Secure cookie; browsers drop it otherwise")
        if not self.cookie_name or any(c in self.cookie_name for c in ";=, \t"):
            raise ConfigurationError(f"cookie_name {self.cookie_name!r} is not a valid cookie name")
        for origin in self.trusted_origins:
            if "://" not in origin or origin.endswith("/"):
                raise ConfigurationError(f"trusted origin {origin!r} must look like 'https://host[:port]'")
        if self.on_end is not None and not callable(self.on_end):
            raise ConfigurationError("on_end must be callable as on_end(record, reason)")
        if self.on_event is not None and not callable(self.on_event):
            raise ConfigurationError("on_event must be callable as on_event(event)")

    def policy_of(self, user: str | None) -> Policy:
        """The policy in force for ``user`` (``policy_for``'s, or the one policy)."""
        return self.policy if self.policy_for is None else self.policy_for(user)


__all__ = ["Config", "OnEnd", "SAME_SITE"]
