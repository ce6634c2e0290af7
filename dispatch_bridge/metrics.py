"""Every metric the service exports, in one catalogue (arroyo's metric_defs idea).

Names follow Prometheus conventions: ``dispatch_bridge_`` prefix, base units as suffix, counters declared
without ``_total`` (the client appends it). Labels are low-cardinality enums only: never an incident id,
address or unit id. One ``Metrics`` object per service on its own registry, so tests get fresh ones.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # Counter: records read from each input topic.
        self.events_consumed = Counter("dispatch_bridge_events_consumed", "Records consumed.", ["topic"], registry=r)
        # Counter: incident events by what became of them (enum: recommended, unchanged, superseded, not_crisis, stale, closed, dead_letter).
        self.events_processed = Counter(
            "dispatch_bridge_events_processed", "Incident events by outcome.", ["outcome"], registry=r)
        # Counter: records sent to the dead-letter topic, by reason class.
        self.dead_letters = Counter(
            "dispatch_bridge_dlq_messages", "Records sent to the dead-letter topic.", ["reason"], registry=r)
        # Counter: recommendations published, by response tier.
        self.recommendations = Counter(
            "dispatch_bridge_recommendations_published", "Recommendations published.", ["response"], registry=r)
        # Counter: rules that fired (rule ids come from the ruleset: bounded, reviewed cardinality).
        self.rule_matches = Counter("dispatch_bridge_rule_matches", "Rule firings.", ["rule_id"], registry=r)
        # Counter: fallbacks taken while ranking (no_cit_available, team_out_of_hours, ...).
        self.fallbacks = Counter("dispatch_bridge_fallbacks", "Ranking fallbacks taken.", ["fallback"], registry=r)
        # Histogram: time to process one consumed batch, from fetch to acknowledged output.
        self.batch_seconds = Histogram(
            "dispatch_bridge_batch_processing_seconds", "Batch processing time.", buckets=LATENCY_BUCKETS, registry=r)
        # Histogram: CAD event time (occurred_at) to recommendation acknowledged by the broker.
        self.end_to_end_seconds = Histogram(
            "dispatch_bridge_end_to_end_latency_seconds", "CAD event to recommendation acknowledged.",
            buckets=LATENCY_BUCKETS, registry=r)
        # Counter: partition assignment changes (kind: assigned, revoked, lost).
        self.rebalances = Counter("dispatch_bridge_rebalances", "Rebalance callbacks.", ["kind"], registry=r)
        # Counter: offset commits that failed (the group rebalanced meanwhile; redelivery is harmless).
        self.commit_failures = Counter("dispatch_bridge_commit_failures", "Failed offset commits.", registry=r)
        # Counter: produce attempts that failed and were retried.
        self.produce_retries = Counter("dispatch_bridge_produce_retries", "Produce retries.", registry=r)
        # Gauge: unix time of the last consume-loop iteration (backs /livez).
        self.last_poll = Gauge("dispatch_bridge_last_poll_timestamp_seconds", "Last loop iteration.", registry=r)
        # Gauge: 1 while a consumer (group: its consumer group) holds fetching because the outcome store is away
        # and its outage buffer is full: for the incident group, recommendations are paused.
        self.consumption_held = Gauge(
            "dispatch_bridge_consumption_held", "1 while fetching is held for the outcome store.", ["group"],
            registry=r)
        # Gauge: records handled whose output or outcome rows are not yet written (their offsets wait).
        self.unwritten_records = Gauge(
            "dispatch_bridge_unwritten_records", "Records awaiting acknowledgement or outcome rows.", ["group"],
            registry=r)
        # Gauge: 1 when ready (started, rules loaded, broker reachable, DLQ guard not tripped).
        self.ready = Gauge("dispatch_bridge_ready", "1 when the service is ready.", registry=r)
        # Gauge: 1 once the DLQ guard stopped consumption after too many consecutive invalid events.
        self.dlq_guard_tripped = Gauge("dispatch_bridge_dlq_guard_tripped", "DLQ guard tripped.", registry=r)
        # Gauge: open incidents held in memory.
        self.open_incidents = Gauge("dispatch_bridge_open_incidents", "Open incidents in memory.", registry=r)
        # Gauge: units in the roster table.
        self.roster_units = Gauge("dispatch_bridge_roster_units", "Units in the roster.", registry=r)
        # Gauge: CIT-certified officers on duty / available now, per district ("all" = whole agency).
        self.cit_on_duty = Gauge(
            "dispatch_bridge_cit_officers_on_duty", "CIT-certified officers on duty.", ["district"], registry=r)
        self.cit_available = Gauge(
            "dispatch_bridge_cit_officers_available", "CIT-certified officers available.", ["district"], registry=r)
        # Gauge: configured minimum of CIT officers on duty per district (for the coverage alert).
        self.cit_coverage_minimum = Gauge(
            "dispatch_bridge_cit_coverage_minimum", "Configured minimum CIT officers per district.", registry=r)
        # Gauge: the active ruleset (value 1), labelled with its version and hash.
        self.ruleset_info = Gauge(
            "dispatch_bridge_ruleset_info", "Active ruleset.", ["version", "sha256"], registry=r)
        # Counter: ruleset reload attempts by result (loaded, rejected).
        self.ruleset_reloads = Counter(
            "dispatch_bridge_ruleset_reloads", "Ruleset reload attempts.", ["result"], registry=r)
        # Counter: shadow ruleset disagreements with the live one.
        self.shadow_disagreements = Counter(
            "dispatch_bridge_shadow_disagreements", "Shadow ruleset disagreements.", registry=r)
        # Counter: roster table records that could not be read (table: units, personnel); the next snapshot wins.
        self.invalid_table_records = Counter(
            "dispatch_bridge_invalid_table_records", "Unreadable roster records.", ["table"], registry=r)
        # Counter: outcome store batch writes that failed and were retried.
        self.store_retries = Counter("dispatch_bridge_store_retries", "Outcome store write retries.", registry=r)
        # Counter: outcome rows the store refused on their own (bad data it cannot hold); dropped, not retried.
        self.store_rows_dropped = Counter(
            "dispatch_bridge_store_rows_dropped", "Outcome rows refused by the store and dropped.", registry=r)
        # Counter: open incidents a re-ranking could not rank (a bug: logged with the error class); skipped.
        self.rerank_failures = Counter(
            "dispatch_bridge_rerank_failures", "Open incidents a re-ranking failed on.", registry=r)
        # Counter: HTTP requests refused for a missing or wrong token.
        self.auth_failures = Counter("dispatch_bridge_http_unauthorized", "Requests refused with 401.", registry=r)
