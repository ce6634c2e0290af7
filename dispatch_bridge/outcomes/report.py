"""The coordinator's program evaluation, built from the outcome store for a period of local dates.

Everything is computed on event time (when the CAD said things happened) in the agency's time zone, never on
the wall clock, so re-running a report over replayed data gives the same figures. The result is a plain
JSON-ready dict: ``render_json`` / ``render_csv`` / ``render_html`` only format it.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from dispatch_bridge.domain import MOBILE_CRISIS
from dispatch_bridge.outcomes.store import OutcomeStore
from dispatch_bridge.outcomes.views import IncidentOutcome

Report = dict[str, Any]
FUNNEL_STEPS = ("calls", "flagged", "cit_recommended", "cit_dispatched", "cit_on_scene")
UNKNOWN = "unknown"
NOT_FLAGGED = "not_flagged"


class ShiftClock:
    """Maps an instant to the agency's shift name by local start hour (a shift may run past midnight)."""

    def __init__(self, timezone: str, shift_starts: dict[str, int]) -> None:
        self.zone = ZoneInfo(timezone)
        ordered = sorted(shift_starts.items(), key=lambda item: item[1])
        self.names = tuple(name for name, _ in ordered)
        # One lookup table for the 24 local hours, built once.
        by_hour = []
        for hour in range(24):
            current = ordered[-1][0]  # before the first start of the day: still last night's shift
            for name, start in ordered:
                if start <= hour:
                    current = name
            by_hour.append(current)
        self._by_hour = tuple(by_hour)

    def shift_of(self, instant: dt.datetime) -> str:
        return self._by_hour[instant.astimezone(self.zone).hour]


async def build_report(
    store: OutcomeStore,
    start: dt.date,
    end: dt.date,
    *,
    personnel: Iterable[Any] | None = None,
    coverage_min: int = 2,
    expiry_days: int = 90,
    as_of: dt.date | None = None,
    top_n: int = 10,
) -> Report:
    """The evaluation for local dates ``start`` to ``end`` inclusive.

    ``personnel``: certification records (``roster.personnel.PersonnelRecord``, ``contracts.CrewMember`` or
    ``(officer_id, expires_on)`` pairs) for the expiry list; ``as_of`` (default ``end``) is the day the
    "expiring in the next ``expiry_days`` days" window starts. ``coverage_min``: CIT officers a district needs
    on duty (``RosterSettings.coverage_min_per_district``).
    """
    if end < start:
        raise ValueError("the report period ends before it starts")
    settings = store.settings
    clock = ShiftClock(settings.timezone, settings.shift_starts)
    window_start = dt.datetime.combine(start, dt.time(0), clock.zone)
    window_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), clock.zone)

    hourly_calls = await store.calls_per_hour(window_start, window_end)
    outcomes = await store.crisis_outcomes(window_start, window_end)
    roster = await store.roster_hours(window_start, window_end)
    flagged = [o for o in outcomes if o.flagged]
    reference = as_of or end

    return {
        "title": "CIT program evaluation",
        "period": {"from": start.isoformat(), "to": end.isoformat(), "timezone": settings.timezone},
        "store": {"backend": store.backend_name, "schema_version": await store.schema_version()},
        "data_sources": _data_sources(personnel is not None),
        "caveats": _caveats(settings.location_granularity),
        "funnel": _funnel(hourly_calls, flagged, clock),
        "response_times": _response_times(flagged),
        "mobile_crisis": _mobile_crisis(outcomes, settings.fallback_categories),
        "overrides": _overrides(outcomes, settings.feedback_reason_codes),
        "missed_at_intake": _missed_at_intake(outcomes),
        "coverage": _coverage(roster, clock, coverage_min, (window_end - window_start).total_seconds()),
        "certifications": _certifications(personnel, reference, expiry_days),
        "cit_class_candidates": _cit_class_candidates(outcomes, top_n),
    }


# -- funnel ----------------------------------------------------------------------------------------------------


def _empty_steps() -> dict[str, int]:
    return dict.fromkeys(FUNNEL_STEPS, 0)


def _count_into(steps: dict[str, int], outcome: IncidentOutcome) -> None:
    # A nested funnel: each step counts only calls that passed the step before it.
    steps["flagged"] += 1
    if outcome.cit_recommended:
        steps["cit_recommended"] += 1
        if outcome.cit_dispatched:
            steps["cit_dispatched"] += 1
            if outcome.cit_on_scene:
                steps["cit_on_scene"] += 1


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _funnel(
    hourly_calls: Sequence[tuple[str | None, dt.datetime, int]], flagged: Sequence[IncidentOutcome], clock: ShiftClock
) -> dict[str, Any]:
    total = _empty_steps()
    by_district: dict[str, dict[str, int]] = defaultdict(_empty_steps)
    by_shift: dict[str, dict[str, int]] = {name: _empty_steps() for name in clock.names}
    by_tier: dict[str, dict[str, int]] = defaultdict(_empty_steps)
    for district, hour, count in hourly_calls:
        total["calls"] += count
        by_district[district or UNKNOWN]["calls"] += count
        by_shift[clock.shift_of(hour)]["calls"] += count
    for outcome in flagged:
        tier = by_tier[outcome.flag_tier or UNKNOWN]
        tier["calls"] += 1
        for steps in (total, by_district[outcome.district or UNKNOWN], by_shift[clock.shift_of(outcome.first_seen_at)], tier):
            _count_into(steps, outcome)
    by_tier[NOT_FLAGGED]["calls"] = total["calls"] - total["flagged"]
    return {
        **total,
        "rates": {
            "flagged_of_calls": _rate(total["flagged"], total["calls"]),
            "cit_recommended_of_flagged": _rate(total["cit_recommended"], total["flagged"]),
            "cit_dispatched_of_recommended": _rate(total["cit_dispatched"], total["cit_recommended"]),
            "cit_on_scene_of_recommended": _rate(total["cit_on_scene"], total["cit_recommended"]),
        },
        "by_tier": dict(sorted(by_tier.items())),
        "by_district": dict(sorted(by_district.items())),
        "by_shift": by_shift,
    }


# -- response times --------------------------------------------------------------------------------------------


def _summary(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"calls": 0, "median_seconds": None, "p90_seconds": None}
    ordered = sorted(seconds)
    # Nearest-rank 90th percentile: an observed value, easy to check by hand.
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return {"calls": len(ordered), "median_seconds": round(statistics.median(ordered), 1), "p90_seconds": round(p90, 1)}


def _response_times(flagged: Sequence[IncidentOutcome]) -> dict[str, Any]:
    first_unit = [s for o in flagged if (s := o.seconds_to_first_on_scene(cit_only=False)) is not None]
    first_cit = [s for o in flagged if (s := o.seconds_to_first_on_scene(cit_only=True)) is not None]
    return {"first_unit_on_scene": _summary(first_unit), "first_cit_on_scene": _summary(first_cit)}


# -- mobile crisis ---------------------------------------------------------------------------------------------


def _mobile_crisis(outcomes: Sequence[IncidentOutcome], categories: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    recommended = [o for o in outcomes if any(r.response == MOBILE_CRISIS for r in o.recommendations)]
    missed = dict.fromkeys(categories, 0)
    missed_total = 0
    for outcome in outcomes:
        if outcome.team_dispatched:
            continue  # a team went after all: not a missed call
        fallbacks = {f.lower() for r in outcome.recommendations for f in r.fallbacks}
        hit = [name for name, fragments in categories.items() if any(frag in f for f in fallbacks for frag in fragments)]
        for name in hit:
            missed[name] += 1
        missed_total += bool(hit)
    return {
        "team_recommended": len(recommended),
        "team_dispatched": sum(o.team_dispatched for o in outcomes),
        "team_dispatched_when_recommended": sum(o.team_dispatched for o in recommended),
        "eligible_missed": {"total": missed_total, **missed},
    }


# -- overrides -------------------------------------------------------------------------------------------------


def _overrides(outcomes: Sequence[IncidentOutcome], reason_codes: Sequence[str]) -> dict[str, Any]:
    judged = [o for o in outcomes if o.followed is not None]
    overridden = [o for o in judged if o.followed is False]
    reasons: Counter[str] = Counter(dict.fromkeys(reason_codes, 0))
    sources: Counter[str] = Counter()
    unexplained = 0
    for outcome in overridden:
        if not outcome.feedback:
            unexplained += 1
        reasons.update({f.reason_code for f in outcome.feedback})
        sources.update({f.source for f in outcome.feedback})
    return {
        "judged": len(judged),
        "followed": len(judged) - len(overridden),
        "not_followed": len(overridden),
        "follow_rate": _rate(len(judged) - len(overridden), len(judged)),
        "no_unit_assigned": sum(1 for o in outcomes if o.actionable and not o.units),
        "reasons": dict(reasons),
        "no_reason_recorded": unexplained,
        "reason_sources": dict(sorted(sources.items())),
    }


# -- calls the rules missed ------------------------------------------------------------------------------------


def _missed_at_intake(outcomes: Sequence[IncidentOutcome]) -> dict[str, Any]:
    ended = [o for o in outcomes if o.ended_crisis]
    per_type: dict[str, dict[str, int]] = defaultdict(lambda: {"not_flagged": 0, "flagged_later": 0})
    for outcome in ended:
        if not outcome.flagged:
            per_type[outcome.initial_nature]["not_flagged"] += 1
        elif not outcome.intake_crisis:
            per_type[outcome.initial_nature]["flagged_later"] += 1
    rows = [{"initial_call_type": code, **counts} for code, counts in per_type.items()]
    rows.sort(key=lambda r: (-(r["not_flagged"] + r["flagged_later"]), r["initial_call_type"]))
    return {
        "ended_as_crisis": len(ended),
        "not_flagged": sum(r["not_flagged"] for r in rows),
        "flagged_later": sum(r["flagged_later"] for r in rows),
        "by_initial_call_type": rows,
    }


# -- coverage and certifications -------------------------------------------------------------------------------


def _coverage(
    roster: Sequence[tuple[dt.datetime, str, int, int]], clock: ShiftClock, minimum: int, period_seconds: float
) -> dict[str, Any]:
    hours_in_period = round(period_seconds / 3600)
    samples: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for hour, district, on_duty, _available in roster:
        samples[district][clock.shift_of(hour)].append(on_duty)
    districts: dict[str, Any] = {}
    for district in sorted(samples):
        shifts = {}
        for name in clock.names:
            values = samples[district].get(name, [])
            shifts[name] = {
                "hours": len(values),
                "mean_on_duty_cit": round(statistics.fmean(values), 2) if values else None,
                "min_on_duty_cit": min(values) if values else None,
                "hours_below_minimum": sum(v < minimum for v in values),
            }
        with_data = sum(s["hours"] for s in shifts.values())
        districts[district] = {
            "hours_with_data": with_data,
            "hours_without_data": max(0, hours_in_period - with_data),
            "hours_below_minimum": sum(s["hours_below_minimum"] for s in shifts.values()),
            "by_shift": shifts,
        }
    return {
        "minimum_per_district": minimum,
        "hours_in_period": hours_in_period,
        "hours_below_minimum": sum(d["hours_below_minimum"] for d in districts.values()),
        "districts": districts,
    }


def _certification_of(record: Any) -> tuple[str, dt.date | None]:
    if isinstance(record, tuple):
        return record[0], record[1]
    if hasattr(record, "officer_id"):
        return record.officer_id, record.expires_on
    return record.id, record.cit_certified_until


def _certifications(personnel: Iterable[Any] | None, as_of: dt.date, days: int) -> dict[str, Any]:
    if personnel is None:
        return {"provided": False, "as_of": as_of.isoformat(), "window_days": days}
    horizon = as_of + dt.timedelta(days=days)
    records = [_certification_of(r) for r in personnel]
    expiring = sorted(
        ((until, officer) for officer, until in records if until is not None and as_of <= until <= horizon)
    )
    return {
        "provided": True,
        "as_of": as_of.isoformat(),
        "window_days": days,
        "officers": len(records),
        "expired": sum(1 for _, until in records if until is not None and until < as_of),
        "expiring": [{"officer_id": officer, "expires_on": until.isoformat()} for until, officer in expiring],
    }


def _cit_class_candidates(outcomes: Sequence[IncidentOutcome], top_n: int) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        counts.update({u.unit_id for u in outcome.units if not u.cit and not u.team})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_n]
    return [{"unit_id": unit, "crisis_calls_without_cit": n} for unit, n in ranked]


# -- words -----------------------------------------------------------------------------------------------------


def _data_sources(with_personnel: bool) -> list[str]:
    sources = [
        "CAD incident events (cad.incidents) as consumed by dispatch-bridge: every revision of every call, "
        "crisis or not, with assigned units and their dispatch, en-route, on-scene and clear times.",
        "Recommendations dispatch-bridge published (cit.recommendations): tier, candidate units, fallbacks.",
        "Override reasons from CAD dispositions, the cit.feedback topic and the feedback API.",
        "Hourly CIT roster snapshots per district, derived from the unit feed (cad.units).",
    ]
    if with_personnel:
        sources.append("Certification records from the training-records export, supplied with this report.")
    return sources


def _caveats(granularity: str) -> list[str]:
    return [
        "Calls are counted in the period of the first CAD event seen for them, by event time in the agency's "
        "time zone; calls the bridge did not receive (outage, feed filter) are missing.",
        "The funnel is nested: 'CIT dispatched' counts flagged calls where a CIT officer was recommended and a "
        "unit with a CIT-certified member (at the time) was assigned; 'CIT on scene' those where that unit "
        "arrived.",
        "Response times run from the first CAD event to the first on-scene time; median and 90th percentile "
        "(nearest rank). CADs that do not stamp on-scene times leave calls out of these figures.",
        "A recommendation counts as followed when a recommended unit, or any CIT unit for a CIT tier, or any "
        "team for a mobile crisis tier, was assigned. Calls with no unit assigned are not judged.",
        "'Ended as crisis' uses the configured final call types and disposition codes.",
        "Coverage is the lowest count of on-duty CIT officers reported in each hour; hours without a roster "
        "snapshot are listed as without data, not as below the minimum.",
        "CIT class candidates are units (cars), not named officers: the store keeps unit ids only.",
        f"Privacy: no narrative, caller identity or address is stored; locations are kept at {granularity} level.",
    ]
