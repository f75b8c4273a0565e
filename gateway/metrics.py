"""Prometheus metrics with one registry per app instance (no process-global collectors),
so several apps in one process — as in the tests — never clash."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "storygate_http_requests_total",
            "HTTP requests by family, method, route and status",
            ["family", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "storygate_http_request_seconds",
            "HTTP request latency",
            ["family", "method"],
            registry=self.registry,
        )
        self.jobs = Counter(
            "storygate_jobs_finished_total",
            "Jobs reaching a final state",
            ["family", "kind", "status"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "storygate_ready", "1 when every backing service answers", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
