"""Prometheus metrics with one registry per app instance (no process-global collectors),
so several apps in one process — as in the tests — never clash.

HTTP requests are counted on every request, so they are kept as plain integers and floats in
this object and turned into Prometheus families only when ``/metrics`` is scraped: the client
library's labelled counters and histogram take a lock and walk their buckets per call, which
costs more than many of the requests they count.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

# Upper bounds of the latency histogram, in seconds (the client library's defaults).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


class _HttpCollector:
    """Requests by (family, method, route, status) and latency by (family, method)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str], int] = {}
        # (family, method) -> [count per bucket (+Inf last), sum of seconds]
        self.latency: dict[tuple[str, str], tuple[list[int], list[float]]] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "storygate_http_requests",
            "HTTP requests by family, method, route and status",
            labels=["family", "method", "route", "status"],
        )
        for key, count in sorted(self.counts.items()):
            requests.add_metric(list(key), count)
        yield requests
        latency = HistogramMetricFamily(
            "storygate_http_request_seconds",
            "HTTP request latency",
            labels=["family", "method"],
        )
        for pair, (buckets, total) in sorted(self.latency.items()):
            cumulative, running = [], 0
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), buckets, strict=True):
                running += count
                cumulative.append((_bound(bound), running))
            latency.add_metric(list(pair), cumulative, total[0])
        yield latency


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._http = _HttpCollector()
        self.registry.register(self._http)
        self.jobs = Counter(
            "storygate_jobs_finished_total",
            "Jobs reaching a final state",
            ["family", "kind", "status"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "storygate_ready", "1 when every backing service answers", registry=self.registry
        )

    def observe_request(
        self, family: str, method: str, route: str, status: int, seconds: float
    ) -> None:
        """One request; runs on the event loop only, so no lock is needed."""
        key = (family, method, route, str(status))
        counts = self._http.counts
        counts[key] = counts.get(key, 0) + 1
        slot = self._http.latency.get((family, method))
        if slot is None:
            slot = self._http.latency[(family, method)] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
        slot[0][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        slot[1][0] += seconds

    def render(self) -> bytes:
        return generate_latest(self.registry)
