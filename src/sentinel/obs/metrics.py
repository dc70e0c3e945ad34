"""Every Prometheus metric sentinel exports, on one injected registry.

Each test builds ``Metrics(CollectorRegistry())`` and reads values back with
``registry.get_sample_value``. Labels are bounded: platform, source, watch and channel
names come from the config, never from post content.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from sentinel import __version__

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build_info = Info("sentinel_build", "sentinel version", registry=r)
        self.build_info.info({"version": __version__})

        # sources
        self.posts_ingested = Counter(
            "sentinel_posts_ingested_total", "New posts stored", ["platform", "source"], registry=r
        )
        self.posts_duplicate = Counter(
            "sentinel_posts_duplicate_total", "Posts seen again (counters updated, not re-scored)",
            ["platform", "source"], registry=r,
        )
        self.posts_rejected = Counter(
            "sentinel_posts_rejected_total", "Records rejected as invalid", ["source", "reason"], registry=r
        )
        self.fetch_errors = Counter(
            "sentinel_fetch_errors_total", "Source fetch errors by kind", ["source", "kind"], registry=r
        )
        self.source_last_success = Gauge(
            "sentinel_source_last_success_timestamp_seconds", "Last successful collection run",
            ["source"], registry=r,
        )
        self.source_blocked = Gauge(
            "sentinel_source_blocked", "1 while the platform blocks this source", ["source"], registry=r
        )
        self.source_consecutive_failures = Gauge(
            "sentinel_source_consecutive_failures", "Failed runs in a row", ["source"], registry=r
        )
        self.source_items = Counter(
            "sentinel_source_items_total", "Items a source produced", ["source"], registry=r
        )

        # bus, classifier, store
        self.bus_depth = Gauge("sentinel_bus_depth", "Posts waiting on the bus", registry=r)
        self.classify_seconds = Histogram(
            "sentinel_classify_seconds", "Time to classify one batch", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.classify_batch_size = Histogram(
            "sentinel_classify_batch_size", "Posts per classifier batch", buckets=_BATCH_BUCKETS, registry=r
        )
        self.store_write_seconds = Histogram(
            "sentinel_store_write_seconds", "Time of one store transaction", ["op"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.store_write_failures = Counter(
            "sentinel_store_write_failures_total",
            "Store write transactions that failed (each is retried; posts are not acknowledged meanwhile)",
            ["op"], registry=r,
        )
        self.store_healthy = Gauge(
            "sentinel_store_healthy",
            "1 while store writes succeed; 0 from a write failing for a storage reason "
            "(locked, disk full, unreachable) until one succeeds again",
            registry=r,
        )
        self.store_healthy.set(1)
        self.pipeline_latency_seconds = Histogram(
            "sentinel_pipeline_latency_seconds", "From a post entering the bus to its scores being stored",
            buckets=_LATENCY_BUCKETS, registry=r,
        )

        # risk
        self.watch_risk = Gauge("sentinel_watch_risk_score", "Risk score 0-100", ["watch"], registry=r)
        self.watch_level = Gauge(
            "sentinel_watch_level", "Warning level: 0 none, 1 blue, 2 yellow, 3 orange, 4 red",
            ["watch"], registry=r,
        )
        self.watch_negative_share = Gauge(
            "sentinel_watch_negative_ratio", "Share of negative posts in the short window", ["watch"], registry=r
        )
        self.watch_volume = Gauge(
            "sentinel_watch_volume_posts", "Posts in the short window", ["watch"], registry=r
        )
        self.watch_baseline = Gauge(
            "sentinel_watch_baseline_posts", "Expected posts in the short window", ["watch"], registry=r
        )
        self.alert_events = Counter(
            "sentinel_alert_events_total", "Alert events", ["watch", "level", "event"], registry=r
        )
        self.risk_index_evictions = Counter(
            "sentinel_risk_index_evictions_total",
            "Story-index entries dropped by its count caps (max_story_posts, max_stories)",
            ["kind"], registry=r,
        )

        # notifications
        self.notifications = Counter(
            "sentinel_notifications_total", "Notification attempts by result", ["channel", "result"], registry=r
        )
        self.outbox_pending = Gauge("sentinel_outbox_pending", "Messages waiting to be sent", registry=r)
        self.outbox_dead = Gauge("sentinel_outbox_dead", "Messages parked after too many tries", registry=r)
