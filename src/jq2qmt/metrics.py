"""Prometheus metrics for one server process (text format at /metrics).

Each app gets its own registry, so tests and several apps in one process do not
mix their counts. Several server processes each expose their own counters: let
Prometheus scrape every process (one target per port) and sum in the query; the
client library's multiprocess mode is not used (see docs/operations.md, 指标与日志 / metrics).
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

ORDER_OUTCOMES = ("placed", "cancelled", "rejected", "skipped", "errors")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The counters, gauges and histograms of one app."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.uploads = Counter(
            "jq2qmt_uploads",
            "Snapshot uploads by result (accepted or HTTP status)",
            ["result"],
            registry=registry,
        )
        self.reads = Counter(
            "jq2qmt_reads",
            "Reads of positions and plans by endpoint",
            ["endpoint"],
            registry=registry,
        )
        self.not_modified = Counter(
            "jq2qmt_not_modified",
            "304 Not Modified answers by endpoint",
            ["endpoint"],
            registry=registry,
        )
        self.longpolls = Gauge(
            "jq2qmt_longpolls_waiting", "Plan long-polls currently waiting", registry=registry
        )
        self.rounds = Counter(
            "jq2qmt_follower_rounds",
            "Follower rounds reported, by status",
            ["status"],
            registry=registry,
        )
        self.orders = Counter(
            "jq2qmt_orders",
            "Orders in follower reports, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.notifications = Counter(
            "jq2qmt_notifications",
            "Notifications by event and status",
            ["event", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "jq2qmt_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def count_report(self, report):
        """Follower rounds and orders by outcome from one accepted report body."""
        if not isinstance(report, dict) or report.get("kind") != "round":
            return
        self.rounds.labels(status=str(report.get("status") or "unknown")[:20]).inc()
        for outcome in ORDER_OUTCOMES:
            items = report.get(outcome)
            if isinstance(items, list) and items:
                self.orders.labels(outcome=outcome).inc(len(items))

    def render(self):
        return generate_latest(self.registry)
