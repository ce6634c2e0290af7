"""Count what the demo saw, in the shape ``render.render_summary`` reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any


class Tally:
    """Feed it every recommendation read back (and its end-to-end latency); ask for ``stats()`` at the end."""

    __slots__ = ("_tier_by_incident", "_crisis", "_recommendations", "_with_cit", "_fallbacks", "_latencies")

    def __init__(self) -> None:
        self._tier_by_incident: dict[str, str] = {}
        self._crisis: set[str] = set()
        self._recommendations = 0
        self._with_cit = 0
        self._fallbacks: Counter[str] = Counter()
        self._latencies: list[float] = []

    def add(self, rec: Mapping[str, Any], latency_ms: float | None = None) -> None:
        incident = str(rec.get("incident_id", ""))
        self._recommendations += 1
        if rec.get("crisis"):
            self._crisis.add(incident)
            # The latest recommendation for an incident is the one that counts for its tier.
            self._tier_by_incident[incident] = str(rec.get("response", "none"))
        else:
            self._tier_by_incident.pop(incident, None)
        candidates = rec.get("candidates") or ()
        if candidates and candidates[0].get("cit_members"):
            self._with_cit += 1
        self._fallbacks.update(str(f).partition(":")[0] for f in rec.get("fallbacks") or ())
        if latency_ms is not None:
            self._latencies.append(latency_ms)

    def stats(self, **extra: Any) -> dict[str, Any]:
        """Counts so far, plus whatever the caller knows (``calls``, ``events``, ``dead_letters``, ...)."""
        ordered = sorted(self._latencies)
        return {
            "crisis": len(self._crisis),
            "by_tier": dict(Counter(self._tier_by_incident.values())),
            "recommendations": self._recommendations,
            "with_cit_candidate": self._with_cit,
            "fallbacks": dict(self._fallbacks),
            "latency_p50_ms": _quantile(ordered, 0.50),
            "latency_p99_ms": _quantile(ordered, 0.99),
            **extra,
        }


def _quantile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q), at least 1
    return ordered[int(rank) - 1]
