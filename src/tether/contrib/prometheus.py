"""Prometheus metrics for tether (``pip install 'tether[prometheus]'``).

::

    from tether.contrib.prometheus import metrics_asgi_app, register

    metrics = register()                      # a tether.Metrics, exported from the registry
    app = TetherMiddleware(app, on_event=metrics)
    # mount metrics_asgi_app() at /metrics (or metrics_wsgi_app() under WSGI)

A collector reads the :class:`tether.Metrics` counters at scrape time, so counting stays a
dict increment per event and nothing here runs on a request. Every label value that can
occur is exported from the start (at 0), so a rate over a reason that never happened yet
is 0, not missing.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, make_asgi_app, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from .._events import Metrics

REASONS = ("idle", "absolute", "logout", "revoked")
REFUSALS = (400, 403, 404, 405, 413, 415)
HEARTBEATS = ("active", "ended")


def _labelled(name: str, doc: str, label: str, counts: Any, known: Iterable[Any]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for value in sorted({*known, *counts}, key=str):
        family.add_metric([str(value)], counts.get(value, 0))
    return family


class TetherCollector(Collector):
    """Exports one :class:`tether.Metrics` as ``<namespace>_*_total`` counters."""

    def __init__(self, metrics: Metrics, namespace: str = "tether") -> None:
        self.metrics = metrics
        self.namespace = namespace

    def collect(self) -> Iterator[Metric]:
        m, ns = self.metrics, self.namespace
        yield CounterMetricFamily(f"{ns}_sessions_started", "Sessions created (sign-ins and first data writes).", value=m.sessions_started)
        yield _labelled(f"{ns}_heartbeats", "Heartbeats answered, by result.", "result", m.heartbeats, HEARTBEATS)
        yield CounterMetricFamily(f"{ns}_touches", "Idle expiries slid in the store.", value=m.touches)
        yield _labelled(f"{ns}_sessions_ended", "Sessions ended, by reason.", "reason", m.ends, REASONS)
        yield _labelled(f"{ns}_refusals", "Endpoint requests refused, by HTTP status.", "status", m.refusals, REFUSALS)
        yield CounterMetricFamily(f"{ns}_store_errors", "Store calls that failed (unreachable, locked).", value=m.store_errors)
        yield CounterMetricFamily(f"{ns}_unavailable", "Requests answered 503 because of the store.", value=m.unavailable)
        yield CounterMetricFamily(f"{ns}_sweeps", "Sweeps run.", value=m.sweeps)
        yield CounterMetricFamily(f"{ns}_swept", "Expired sessions claimed by sweeps.", value=m.swept)
        yield CounterMetricFamily(f"{ns}_sweep_seconds", "Time spent sweeping, in seconds.", value=m.sweep_seconds)


def register(
    metrics: Metrics | None = None, registry: CollectorRegistry = REGISTRY, namespace: str = "tether"
) -> Metrics:
    """Export ``metrics`` (a new :class:`tether.Metrics` by default) from ``registry``
    (the global one by default); returns it, to pass as ``on_event``."""
    metrics = Metrics() if metrics is None else metrics
    registry.register(TetherCollector(metrics, namespace))
    return metrics


def metrics_asgi_app(registry: CollectorRegistry = REGISTRY) -> Any:
    """An ASGI app answering the Prometheus text format (mount it at ``/metrics``)."""
    return make_asgi_app(registry)


def metrics_wsgi_app(registry: CollectorRegistry = REGISTRY) -> Any:
    """A WSGI app answering the Prometheus text format (mount it at ``/metrics``)."""
    return make_wsgi_app(registry)


__all__ = ["TetherCollector", "register", "metrics_asgi_app", "metrics_wsgi_app"]
