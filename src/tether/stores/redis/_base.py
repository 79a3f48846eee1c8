"""What both Redis twins share: how a store is made (from a client or a URL), and how
Redis' errors reach callers (always as StoreUnavailable)."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.exceptions import RedisClusterException, RedisError

from ...exceptions import ConfigurationError, StoreUnavailable
from ._layout import Layout

DEFAULT_PREFIX = "tether:"
DEFAULT_SHARDS = 64
DEFAULT_TTL_GRACE = 300.0

ERRORS = (RedisError, RedisClusterException, OSError)


def unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"redis store unavailable: {type(exc).__name__}: {exc}", retry_after=2)


def each_ok(results: list[Any]) -> list[Any]:
    """``results`` when no call failed; the first call's error as StoreUnavailable."""
    for result in results:
        if isinstance(result, BaseException):
            raise unavailable(result) from result
    return results


def _client_options(url: str, options: dict[str, Any]) -> tuple[str, bool, dict[str, Any], dict[str, Any]]:
    """Split a store URL into redis-py's URL, cluster flag, store options and client options.

    ``redis://``, ``rediss://``, ``unix://`` as redis-py reads them; ``valkey://`` and
    ``valkeys://`` as aliases; a ``+cluster`` scheme suffix (``redis+cluster://``) or
    ``?cluster=1`` for Redis Cluster; ``?prefix=`` and ``?shards=`` for the store.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    cluster = scheme.endswith("+cluster")
    scheme = scheme.removesuffix("+cluster")
    scheme = {"valkey": "redis", "valkeys": "rediss"}.get(scheme, scheme)
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(f"not a redis store URL: {url!r}")
    store: dict[str, Any] = {}
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            store["prefix"] = value
        elif name == "shards":
            try:
                store["shards"] = int(value)
            except ValueError:
                raise ConfigurationError(f"shards in {url!r} must be an integer") from None
        elif name == "cluster":
            cluster = value.lower() in ("1", "true", "yes", "on")
        else:
            query.append((name, value))
    # Fail fast so that a heartbeat answers 503 quickly while Redis is away; the browser
    # retries with back-off.
    client = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0, **options}
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment)), cluster, store, client


S = TypeVar("S", bound="RedisStoreBase")


class RedisStoreBase:
    """What both twins share: the key layout and how a store is made from a URL."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = DEFAULT_PREFIX,
        shards: int = DEFAULT_SHARDS,
        ttl_grace: float = DEFAULT_TTL_GRACE,
        owns_client: bool = False,
    ):
        self.client = client
        self._layout = Layout(prefix, shards, ttl_grace)
        self._owns_client = owns_client

    @staticmethod
    def _client_class(cluster: bool) -> Any:
        raise NotImplementedError

    @staticmethod
    def _retry(cluster: bool) -> Any:
        """redis-py's retry policy for a client ``from_url`` makes, of the twin's own kind
        (an async client needs ``redis.asyncio.retry.Retry``: given the sync class, it
        never retries). One immediate retry of a ``ConnectionError``: a pooled connection
        that a restarted Redis closed fails before Redis reads the command, and the new
        connection runs it; ``_lua`` says why each script may run twice. Timeouts are not
        retried: a hung Redis would make every request wait twice before its 503."""
        raise NotImplementedError

    @classmethod
    def from_url(cls: type[S], url: str, *, prefix: str | None = None, shards: int | None = None,
                 ttl_grace: float = DEFAULT_TTL_GRACE, **client_options: Any) -> S:
        """A store on a client made from ``url`` (see the module notes for the forms); no
        connection is made until first use."""
        redis_url, cluster, store, options = _client_options(url, client_options)
        options.setdefault("retry", cls._retry(cluster))
        client = cls._client_class(cluster).from_url(redis_url, **options)
        return cls(client, prefix=store.get("prefix", DEFAULT_PREFIX) if prefix is None else prefix,
                   shards=store.get("shards", DEFAULT_SHARDS) if shards is None else shards,
                   ttl_grace=ttl_grace, owns_client=True)


