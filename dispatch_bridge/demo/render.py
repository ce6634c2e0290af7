"""Recommendations in words a dispatcher reads at a glance, and the end-of-demo summary.

Pure functions over the recommendation as it is on the wire (a dict). They never print the rules' ``evidence``
(a span of the caller's narrative, which is protected health information), only the rules' one-line ``because``
and the ranker's ``why``. Example::

    16:42  INC-0042 rev 3  CRISIS → CIT officer (score 0.82)  ⚠ weapon
      because: caller reports suicidal statements; off medication
      send: 1) P-114  CIT: Ofc 4411, available, 1.2 km, ~3 min, same beat
            2) P-121  CIT: Ofc 5120, available, 2.9 km, ~6 min
      fallback: mobile crisis team out of hours → CIT officer
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

# Response tiers (contracts.recommendation.ResponseTier) and fallback codes (recommend.rank) in plain words.
TIER_WORDS: dict[str, str] = {
    "cit_officer": "CIT officer",
    "mobile_crisis": "mobile crisis team",
    "co_response": "co-responder (CIT officer + clinician)",
    "ems_with_cit": "EMS with a CIT officer",
    "police_only": "police only",
    "none": "no special response",
}
FALLBACK_WORDS: dict[str, str] = {
    "team_out_of_hours": "mobile crisis team out of hours",
    "team_out_of_area": "mobile crisis team does not cover this area",
    "team_busy": "mobile crisis team busy",
    "team_out_of_service": "mobile crisis team out of service",
    "no_team_configured": "no mobile crisis team in this city",
    "no_cit_available": "no CIT officer available",
    "nobody_available": "no unit available",
    "no_incident_location": "call has no location, units not ranked by distance",
    "ems_by_cad": "EMS sent by the CAD's own rules",
    "no_response_needed": "no response needed",
    "unknown_tier": "unknown response tier, CIT officer instead",
    "no_longer_crisis": "no longer a crisis call",
    "cit_responder_assigned": "a CIT-certified unit is already assigned",
    "crisis_team_assigned": "a mobile crisis team is already assigned",
}
SAFETY_WORDS: dict[str, str] = {
    "weapon": "weapon",
    "weapon_unknown": "weapons unknown",
    "firearm": "firearm",
    "violence": "violence",
    "self_harm": "self-harm",
    "medical": "medical",
    "overdose": "overdose",
    "jumper": "jumper",
    "officer_safety": "officer safety",
    "phone_988": "988 phone option",
}
KIND_WORDS: dict[str, str] = {
    "patrol": "patrol",
    "mobile_crisis": "mobile crisis team",
    "co_responder": "co-responder",
    "ems": "EMS",
}

_BOLD, _RED, _YELLOW, _GREEN, _DIM, _RESET = "\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[2m", "\x1b[0m"
_INDENT = "  "


def wants_colour(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    if "NO_COLOR" in environ or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def words(table: Mapping[str, str], code: str) -> str:
    """A code in plain words; an unknown code (``code:detail`` allowed) still reads as words, never as a key."""
    head, _, detail = code.partition(":")
    phrase = table.get(head) or head.replace("_", " ")
    return f"{phrase} ({detail})" if detail else phrase


def _clock(rec: Mapping[str, Any]) -> str:
    """The call's own clock time (the CAD event's), not the replay's wall clock."""
    for key in ("occurred_at", "produced_at"):
        value = rec.get(key)
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value).strftime("%H:%M")
            except ValueError:
                continue
        if isinstance(value, dt.datetime):
            return value.strftime("%H:%M")
    return "--:--"


def _paint(text: str, code: str, colour: bool) -> str:
    return f"{code}{text}{_RESET}" if colour else text


def _candidate(cand: Mapping[str, Any]) -> str:
    unit = str(cand.get("unit_id", "?"))
    why = str(cand.get("why") or "").strip()
    kind = str(cand.get("kind", "patrol"))
    if why:  # the ranker's own words already say what the unit is
        return f"{unit}  {why}"
    label = "" if kind == "patrol" else f"{words(KIND_WORDS, kind)}: "
    parts = []
    members = cand.get("cit_members") or []
    if members:
        parts.append("CIT: " + ", ".join(f"Ofc {m}" for m in members))
    elif kind == "patrol":
        parts.append("no CIT officer aboard")
    if cand.get("distance_m") is not None:
        parts.append(f"{cand['distance_m'] / 1000:.1f} km")
    if cand.get("eta_seconds") is not None:
        parts.append(f"~{max(1, round(cand['eta_seconds'] / 60))} min")
    return f"{unit}  {label}{', '.join(parts)}"


def _fell_back_to(candidates: Sequence[Mapping[str, Any]]) -> str:
    if not candidates:
        return "dispatcher's choice"
    top = candidates[0]
    kind = str(top.get("kind", "patrol"))
    if kind == "patrol":
        return "CIT officer" if top.get("cit_members") else "nearest patrol unit (no CIT)"
    return words(KIND_WORDS, kind)


def render_recommendation(
    rec: Mapping[str, Any],
    *,
    colour: bool = False,
    max_candidates: int = 3,
    max_reasons: int = 5,
    width: int = 110,
) -> str:
    """A recommendation as a few short lines: headline, why (wrapped at ``width``), whom to send, fallbacks."""
    crisis = bool(rec.get("crisis"))
    tier = str(rec.get("response", "none"))
    score = float(rec.get("score", 0.0))
    head = f"{_clock(rec)}  {rec.get('incident_id', '?')} rev {rec.get('incident_revision', '?')}  "
    if crisis:
        verdict = _paint("CRISIS", _BOLD + _RED, colour) + f" → {words(TIER_WORDS, tier)} (score {score:.2f})"
    else:
        verdict = f"not a crisis call (any more) → {words(TIER_WORDS, tier)} (score {score:.2f})"
    flags = [str(f) for f in rec.get("safety_flags") or ()]
    warning = "  " + _paint("  ".join(f"⚠ {words(SAFETY_WORDS, f)}" for f in flags), _BOLD + _YELLOW, colour)
    lines = [head + verdict + (warning if flags else "")]

    reasons = [str(r.get("because", "")).strip() for r in rec.get("reasons") or () if isinstance(r, Mapping)]
    reasons = [r for r in dict.fromkeys(reasons) if r]
    if reasons:
        text = "; ".join(reasons[:max_reasons])
        if len(reasons) > max_reasons:
            text += f" (+{len(reasons) - max_reasons} more)"
        lead = _INDENT + "because: "
        for line in textwrap.wrap(text, width, initial_indent=lead, subsequent_indent=" " * len(lead)):
            lines.append(_paint(line, _DIM, colour))

    candidates = [c for c in rec.get("candidates") or () if isinstance(c, Mapping)]
    shown = candidates[:max_candidates]
    if shown:
        lead = _INDENT + "send: "
        for i, cand in enumerate(shown, start=1):
            text = f"{i}) {_candidate(cand)}"
            if cand.get("cit_members"):
                text = _paint(text, _GREEN, colour)
            lines.append((lead if i == 1 else " " * len(lead)) + text)
        if len(candidates) > len(shown):
            lines.append(" " * len(lead) + f"(+{len(candidates) - len(shown)} more)")
    elif crisis:
        lines.append(_INDENT + "send: " + _paint("no unit to suggest", _YELLOW, colour))

    fallbacks = [str(f) for f in rec.get("fallbacks") or ()]
    if fallbacks:
        taken = "; ".join(words(FALLBACK_WORDS, f) for f in fallbacks)
        lines.append(_INDENT + _paint(f"fallback: {taken} → {_fell_back_to(candidates)}", _YELLOW, colour))
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f} ms"


def render_summary(stats: Mapping[str, Any], *, colour: bool = False) -> str:
    """The end-of-demo summary. Keys (all optional; see ``demo.tally.Tally.stats``):

    ``calls``, ``events``, ``behavioral_truth`` (crisis calls in the sample), ``crisis`` (incidents flagged),
    ``by_tier`` {tier: incidents}, ``recommendations``, ``with_cit_candidate`` (recommendations whose first
    candidate has a CIT member), ``fallbacks`` {code: recommendations}, ``dead_letters``, ``latency_p50_ms``,
    ``latency_p99_ms``, ``duration_s`` (replay wall time).
    """
    calls = int(stats.get("calls", 0))
    crisis = int(stats.get("crisis", 0))
    recs = int(stats.get("recommendations", 0))
    lines = [_paint("── shift summary " + "─" * 40, _BOLD, colour)]
    replayed = f"calls replayed         {calls}"
    if stats.get("events") is not None:
        replayed += f"  ({stats['events']} CAD events"
        replayed += f" in {float(stats['duration_s']):.0f} s)" if stats.get("duration_s") is not None else ")"
    lines.append(replayed)
    flagged = f"crisis calls flagged   {crisis}  ({_pct(crisis, calls)} of calls)"
    if stats.get("behavioral_truth") is not None:
        flagged += f"; the sample holds {stats['behavioral_truth']}"
    lines.append(flagged)
    by_tier: Mapping[str, int] = stats.get("by_tier") or {}
    for tier, count in sorted(by_tier.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  → {words(TIER_WORDS, tier):<38} {count}")
    lines.append(f"recommendations        {recs}")
    with_cit = int(stats.get("with_cit_candidate", 0))
    lines.append(f"  first choice has CIT  {with_cit}  ({_pct(with_cit, recs)})")
    fallbacks: Mapping[str, int] = stats.get("fallbacks") or {}
    if fallbacks:
        lines.append("fallbacks taken")
        for code, count in sorted(fallbacks.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {words(FALLBACK_WORDS, code):<40} {count}")
    dead = int(stats.get("dead_letters", 0))
    lines.append("dead letters           " + (_paint(str(dead), _YELLOW, colour) if dead else "0"))
    lines.append(f"latency p50 / p99      {_ms(stats.get('latency_p50_ms'))} / {_ms(stats.get('latency_p99_ms'))}")
    return "\n".join(lines)
