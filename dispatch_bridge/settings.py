"""One frozen settings object, read from the environment in one place.

Every name here is a contract with deployments: ``DISPATCH_BRIDGE_`` prefix, nested groups joined by ``__``
(``DISPATCH_BRIDGE_KAFKA__BOOTSTRAP_SERVERS``). Credentials are ``SecretStr`` so that ``repr`` and logs show
``**********``. Build ``Settings()`` once in the entry point and pass it down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispatch_bridge.api.config import ApiSettings
from dispatch_bridge.outcomes.config import StoreSettings
from dispatch_bridge.recipients import TeamChannelSettings
from dispatch_bridge.recommend.config import RankingSettings
from dispatch_bridge.roster.config import RosterSettings
from dispatch_bridge.triage.config import RulesSettings


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Group):
    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "dispatch-bridge"
    client_id: str = "dispatch-bridge"
    # Creating topics is a deployment decision in production; the demo and the tests turn it on.
    create_topics: bool = False
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    # Idempotent producer is right for Apache Kafka; Tansu (demo/tests) does not support it.
    enable_idempotence: bool = True
    acks: Literal["all", "1", "0"] = "all"
    linger_ms: int = Field(default=2, ge=0)
    # Tansu does not wake waiting fetches on new data, so a long wait turns straight into latency.
    fetch_max_wait_ms: int = Field(default=20, ge=0)
    # The tables every instance reads whole (units, personnel, the team channel) and the feedback topic are read
    # in bulk: a fetch waits for this many bytes, or this long. A consumer polling an idle topic every 20 ms costs
    # the broker CPU (Tansu: about 4.5% of a core per consumer, measured), and a busy one fetches a few records
    # at a time; AVL a quarter of a second old ranks the same.
    table_fetch_max_wait_ms: int = Field(default=250, ge=0)
    table_fetch_min_bytes: int = Field(default=65_536, ge=1)
    # Records per consumed batch; twice this may be in flight (output unacknowledged or rows unwritten).
    max_batch_records: int = Field(default=1000, ge=1)
    poll_timeout_ms: int = Field(default=100, ge=1)
    commit_interval_ms: int = Field(default=500, ge=0)
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    max_poll_interval_ms: int = Field(default=60_000, ge=1000)
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    request_timeout_ms: int = Field(default=15_000, ge=1000)
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    # Security: PLAINTEXT for local use; SSL / SASL_SSL with PLAIN or SCRAM in production.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None


class TopicSettings(_Group):
    incidents: str = "cad.incidents"
    units: str = "cad.units"
    recommendations: str = "cit.recommendations"
    deadletter: str = "cit.deadletter"
    personnel: str = "cit.personnel"
    feedback: str = "cit.feedback"
    # The mobile crisis / co-responder teams' channel: recommendations with a team candidate, filtered of
    # criminal-justice information (see dispatch_bridge.recipients).
    team_recommendations: str = "cit.recommendations.teams"


class HttpSettings(_Group):
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)


class ProcessingSettings(_Group):
    # A run of consecutive invalid events this long means a bad deploy or a wrong topic, not bad data:
    # stop consuming and fail readiness instead of dead-lettering the whole stream (arroyo's DlqLimit).
    dlq_max_consecutive: int = Field(default=1000, ge=1)
    # /livez fails when the consume loop has not iterated for this long.
    liveness_stall_seconds: float = Field(default=60.0, gt=0)
    shutdown_drain_seconds: float = Field(default=20.0, gt=0)
    # While the outcome store is away, incident events go on being processed and their recommendations published
    # for up to this many records whose rows wait (held in memory, a few KB each; uncommitted, so a restart reads
    # them again); then fetching pauses until the store is back. 0: pause at once (after HOLD_AFTER_SECONDS).
    outage_buffer_records: int = Field(default=5_000, ge=0)
    # Open incidents kept in memory; the oldest are evicted beyond this bound (closed ones go at once).
    max_open_incidents: int = Field(default=50_000, ge=100)
    incident_idle_hours: float = Field(default=24.0, gt=0)
    produce_retry_max_seconds: float = Field(default=300.0, gt=0)
    # One log line per processed incident event (the canonical line); off = only the revisions of flagged calls
    # (crisis calls, and calls with a recommendation out) and dead letters are logged: an ordinary call's
    # created / updated / closed and stale snapshots are counted in metrics but not logged, which saves about
    # 12 us per ordinary event on a busy hub (one JSON line written; bench/results.md, per-stage cost).
    log_every_event: bool = True
    # How many top candidates must stay the same for a new revision to be "no change".
    material_top_candidates: int = Field(default=3, ge=1)
    # Rank and publish only the newest revision of an incident within a consumed batch (the older ones are
    # "superseded"). Live, a batch is one fetch (milliseconds): revisions seconds apart are decided one by one;
    # on a backlog it spares dispatch a burst of outdated recommendations and the bridge most of its ranking.
    # Off: every revision is decided on its own, as it comes.
    coalesce_revisions: bool = True


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DISPATCH_BRIDGE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    http: HttpSettings = HttpSettings()
    processing: ProcessingSettings = ProcessingSettings()
    rules: RulesSettings = RulesSettings()
    roster: RosterSettings = RosterSettings()
    ranking: RankingSettings = RankingSettings()
    store: StoreSettings = StoreSettings()
    api: ApiSettings = ApiSettings()
    team_channel: TeamChannelSettings = TeamChannelSettings()
    rules_dir: Path = Path("rules/default")
    # Certification records exported from training records (CSV or YAML); None = unit feed only.
    personnel_file: Path | None = None
    # Mobile crisis and co-responder teams: service hours, service area, capacity (YAML, reloaded on change).
    teams_file: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    environment: str = "local"
