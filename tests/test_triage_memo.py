"""The triage memo: a CAD snapshot costs only what is new in it, and the answer never differs from a fresh triage.

A CAD publishes the whole call on every change; the memo (one per open incident) skips the revisions that change
nothing triage reads and re-reads only the narrative comments that are new. These tests hold it to the one
property that matters, the same assessment as without it, over the demo shift's real revision sequences and over
the changes that must invalidate it (a comment edited or moved, the hour crossing a schedule, premise history, a
reloaded pack), and check that it does the work it claims to skip and keeps no narrative text.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dispatch_bridge.contracts import structs
from dispatch_bridge.demo.shift import build_shift
from dispatch_bridge.triage import (
    Ruleset,
    TriageContext,
    TriageMemo,
    load_ruleset,
    triage,
)
from tests.harness import T0

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    return load_ruleset(REPO / "rules" / "default")


def event(*comments: str, nature_code: str = "EDP", at: str = "2026-03-03T14:00:00-06:00", revision: int = 1,
          **incident: Any) -> structs.IncidentEvent:
    doc = {
        "schema_version": 1, "event_id": f"e{revision}", "event_type": "incident.updated", "occurred_at": at,
        "agency": "metro", "incident": {"id": "INC-1", "revision": revision, "nature_code": nature_code,
                                        "narrative": [{"text": c} for c in comments], **incident},
    }
    return structs.decode_incident_event(msgspec.json.encode(doc))


class CountingMatcher:
    """The pack's matcher, keeping the (normalised) texts it actually scans."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.matcher = ruleset.matcher
        self.texts: list[str] = []
        self._facts = self.matcher.facts

    @property
    def reads(self) -> int:
        return len(self.texts)

    def __enter__(self) -> CountingMatcher:
        def counted(text: str) -> Any:
            self.texts.append(text)
            return self._facts(text)

        self.matcher.facts = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.matcher.facts


def test_every_revision_of_the_demo_shift_triages_the_same_with_the_memo(ruleset):
    shift = build_shift(11, T0, 300)
    memos: dict[str, TriageMemo] = defaultdict(TriageMemo)
    revisions = hits = 0
    for record in shift.records():
        if record.kind != "incidents":
            continue
        ev = structs.decode_incident_event(record.value)
        memo = memos[ev.incident.id]
        reused = memo.assessment
        with_memo = triage(ev, ruleset, None, memo)
        assert with_memo == triage(ev, ruleset), ev.incident.id
        revisions += 1
        hits += with_memo is reused
    assert revisions > 1000
    assert hits > revisions / 3, "most CAD revisions change nothing triage reads: the memo answers them"


def test_a_revision_that_adds_a_comment_reads_only_that_comment(ruleset):
    memo = TriageMemo()
    first = ["caller says her son is off his meds", "hearing voices, pacing in the yard"]
    triage(event(*first), ruleset, None, memo)
    with CountingMatcher(ruleset) as counting:
        grown = triage(event(*first, "now says he has a knife", revision=2), ruleset, None, memo)
    assert counting.texts == ["now says he has a knife"]
    assert grown == triage(event(*first, "now says he has a knife", revision=2), ruleset)
    assert "weapon" in grown.safety_flags or grown.response == "police_only"


def test_a_unit_status_change_reuses_the_assessment_without_reading_anything(ruleset):
    memo = TriageMemo()
    comments = ["RP states brother threatening suicide, has pills"]
    first = triage(event(*comments), ruleset, None, memo)
    with CountingMatcher(ruleset) as counting:
        again = triage(event(*comments, revision=2, units=[{"unit_id": "P-1"}]), ruleset, None, memo)
    assert counting.reads == 0
    assert again is first


def test_a_comment_that_says_nothing_a_rule_reads_reuses_the_assessment(ruleset):
    """Read, but the same facts as before: the rules are not evaluated again, and the answer is a fresh one's."""
    memo = TriageMemo()
    comments = ["RP states brother threatening suicide, has pills", "no weapons seen"]
    first = triage(event(*comments), ruleset, None, memo)
    neutral = event(*comments, "UNITS ADVISED OF LOCATION DETAILS OVER THE AIR, ACK BY RADIO",
                    "RP states brother threatening suicide", revision=2)  # a repeat keeps the first evidence
    with CountingMatcher(ruleset) as counting:
        again = triage(neutral, ruleset, None, memo)
    assert counting.reads == 1  # the new comments were read ...
    assert again is first  # ... and changed no fact: the same assessment object, no rule evaluated
    assert again == triage(neutral, ruleset)
    knife = event(*comments, "UNITS ADVISED OF LOCATION DETAILS OVER THE AIR, ACK BY RADIO",
                  "RP states brother threatening suicide", "now he has a knife", revision=3)
    assert triage(knife, ruleset, None, memo) == triage(knife, ruleset) != first


@pytest.mark.parametrize("change", [
    {"comments": ["RP states brother threatening suicide", "no weapons seen"]},  # a comment edited
    {"comments": ["no weapons seen", "RP states brother threatening suicide, has pills"]},  # moved
    {"nature_code": "WELFARE"},
    {"priority": 1},
    {"flags": ["WEAPON"]},
    {"caller_party": "first"},
    {"determinant": "25B3"},
    {"apco_type": "SUICIDE"},
    {"at": "2026-03-03T23:30:00-06:00"},  # after the mobile crisis team's hours
])
def test_any_change_a_rule_reads_is_seen(ruleset, change):
    memo = TriageMemo()
    base = {"comments": ["RP states brother threatening suicide, has pills", "no weapons seen"]}
    triage(event(*base["comments"]), ruleset, None, memo)
    merged = {**base, **change}
    comments = merged.pop("comments")
    changed = event(*comments, revision=2, **merged)
    assert triage(changed, ruleset, None, memo) == triage(changed, ruleset)


def test_the_hour_matters_only_through_the_packs_schedules(ruleset):
    memo = TriageMemo()
    comments = ["caller reports her adult son is having a mental health crisis, hearing voices"]
    day = triage(event(*comments, at="2026-03-03T14:00:00-06:00"), ruleset, None, memo)
    later = triage(event(*comments, at="2026-03-03T15:10:00-06:00", revision=2), ruleset, None, memo)
    night = triage(event(*comments, at="2026-03-03T23:30:00-06:00", revision=3), ruleset, None, memo)
    assert later is day, "an hour later, still inside the team's hours: nothing a rule reads changed"
    assert night == triage(event(*comments, at="2026-03-03T23:30:00-06:00"), ruleset)
    assert night.response != day.response, (day.response, night.response)


def test_premise_history_and_a_reloaded_pack_invalidate_the_memo(ruleset, tmp_path):
    memo = TriageMemo()
    comments = ["neighbor says man yelling at people who are not there"]
    without = triage(event(*comments), ruleset, None, memo)
    history = TriageContext(premise_crisis_calls=4, premise_window_days=90)
    with_history = triage(event(*comments, revision=2), ruleset, history, memo)
    assert with_history == triage(event(*comments), ruleset, history)
    assert {r.rule for r in with_history.reasons} != {r.rule for r in without.reasons}

    pack = tmp_path / "pack"
    shutil.copytree(REPO / "rules" / "default", pack)
    (pack / "pack.yaml").write_text((pack / "pack.yaml").read_text().replace("include_threshold: 0.5",
                                                                               "include_threshold: 0.95"))
    stricter = load_ruleset(pack)
    assert stricter.sha256 != ruleset.sha256
    assert triage(event(*comments, revision=3), stricter, history, memo) == triage(event(*comments), stricter, history)


def test_the_memo_keeps_hashes_and_facts_never_the_narrative(ruleset):
    memo = TriageMemo()
    secret = "caller disclosed a bipolar diagnosis and lithium prescription, says hes not taking it"
    filler = ["gate code 4411 provided", "rp will meet units out front"]
    triage(event(secret, *filler), ruleset, None, memo)
    assert memo.parts.count == 4  # nature text and three comments
    kept = repr(memo.parts) + repr(memo.inputs)
    for text in (secret, *filler, "bipolar diagnosis", "lithium", "gate code"):
        assert text not in kept and text.upper() not in kept


def test_a_long_narrative_keeps_a_small_memo(ruleset):
    memo = TriageMemo()
    comments = [f"UNIT ADVISED OF LOCATION DETAILS, UPDATE {n}" for n in range(200)]
    triage(event("hearing voices", *comments), ruleset, None, memo)
    assert memo.parts.count == 202 and isinstance(memo.parts.digest, int), "one hash for all the parts read"
    assert len(memo.parts.merged) <= 2, "facts for what the narrative mentions, nothing per comment"


def test_times_are_compared_as_instants_not_as_text(ruleset):
    memo = TriageMemo()
    a = event("hearing voices", at="2026-03-03T20:00:00Z")
    b = msgspec.structs.replace(a, occurred_at=dt.datetime(2026, 3, 3, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6))))
    assert triage(a, ruleset, None, memo) is triage(b, ruleset, None, memo)


def test_a_comment_edited_in_the_middle_means_reading_the_narrative_again(ruleset):
    memo = TriageMemo()
    comments = ["caller says son is off his meds", "gate code 4411 provided", "rp will meet units out front"]
    triage(event(*comments), ruleset, None, memo)
    edited = [comments[0], "gate code 4411 provided, son has a knife", comments[2]]
    with CountingMatcher(ruleset) as counting:
        assessment = triage(event(*edited, revision=2), ruleset, None, memo)
    assert counting.reads == 1 and "son is off his meds" in counting.texts[0] and "knife" in counting.texts[0]
    assert assessment == triage(event(*edited), ruleset)


def test_appended_text_merges_exactly_as_the_whole_text_reads(ruleset):
    """The property the memo rests on: facts of a text then more text = first facts merged with the rest's,
    evidence included, for any split of the narrative (negation and after-cues stay inside their clause)."""
    comments = ["unk weaps", "RP says he has a knife, no guns", "weapons unk", "denies SI", "now states he is suicidal",
                "no weapons seen", "hearing voices, not taking meds", "weapons none"]
    whole = triage(event(*comments), ruleset)
    for split in range(1, len(comments)):
        memo = TriageMemo()
        triage(event(*comments[:split]), ruleset, None, memo)
        assert triage(event(*comments, revision=2), ruleset, None, memo) == whole, split


def test_a_reason_that_quotes_the_local_time_is_never_stale(ruleset):
    """The team-off-duty rule's evidence is the minute it judged: after hours, a later revision must quote its own."""
    memo = TriageMemo()
    comments = ["caller says her son is hearing voices"]
    first = triage(event(*comments, at="2026-03-03T23:05:00-06:00"), ruleset, None, memo)
    assert ("mobile-team-off-duty", "local_time=23:05") in [(r.rule, r.evidence) for r in first.reasons]
    later = triage(event(*comments, at="2026-03-03T23:40:00-06:00", revision=2), ruleset, None, memo)
    assert later == triage(event(*comments, at="2026-03-03T23:40:00-06:00"), ruleset)
    assert ("mobile-team-off-duty", "local_time=23:40") in [(r.rule, r.evidence) for r in later.reasons]
    same_minute = triage(event(*comments, at="2026-03-03T23:40:30-06:00", revision=3), ruleset, None, memo)
    assert same_minute is later


@pytest.mark.parametrize("at", ["0001-01-01T03:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-05:00"])
def test_a_time_at_the_edge_of_the_calendar_triages_as_without_the_memo(ruleset, at):
    ordinary = event("lost wallet reported", nature_code="THEFT", at=at)
    assert triage(ordinary, ruleset, None, TriageMemo()) == triage(ordinary, ruleset)
