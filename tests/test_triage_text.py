"""Narrative matching: normalisation, word boundaries, word forms, negation and uncertainty (tri-state facts)."""

from __future__ import annotations

import pytest

from dispatch_bridge.triage.text import (
    NO,
    UNKNOWN,
    YES,
    CueWords,
    NarrativeMatcher,
    Phrase,
    normalise,
    phrase_problem,
)

CUES = CueWords(
    window=6,
    negation=("no", "not", "neg", "denies", "w/o", "doesn't", "no sign of"),
    uncertainty=("unk", "possibly", "not sure"),
    after_negation=("none", "denied"),
    after_uncertainty=("unk",),
    neutral=("no longer", "no one"),
    reset=("but",),
)


@pytest.fixture(scope="module")
def matcher() -> NarrativeMatcher:
    phrases = [Phrase("weapon", YES, p) for p in ("knife", "gun*", "weapon*", "wpns")]
    phrases += [Phrase("weapon", UNKNOWN, "unk weaps"), Phrase("weapon", NO, "unarmed")]
    phrases += [Phrase("suicidal", YES, p) for p in ("si", "suicid*", "kill himself")]
    phrases += [Phrase("hold", YES, "9.41"), Phrase("edp", YES, "10-96"), Phrase("meds", YES, "no longer taking")]
    return NarrativeMatcher(phrases, CUES)


def facts(matcher: NarrativeMatcher, text: str) -> dict[str, tuple[str, str]]:
    return matcher.facts(normalise(text))


def test_normalise_lowercases_collapses_spacing_and_keeps_clause_breaks() -> None:
    assert normalise("  UNK/WEAPS   per  RP;  10-96\n9.41 ") == "unk weaps per rp. 10 96.9.41"


@pytest.mark.parametrize(
    ("text", "fact", "state", "evidence"),
    [
        ("RP SAYS SUBJ IS SUICIDAL", "suicidal", YES, "suicidal"),
        ("hx of suicide attempts", "suicidal", YES, "suicide"),
        ("subj w/ SI", "suicidal", YES, "si"),
        ("denies SI", "suicidal", NO, "si"),
        ("SI denied", "suicidal", NO, "si"),
        ("no weapons seen", "weapon", NO, "weapons"),
        ("NEG WEAPONS", "weapon", NO, "weapons"),
        ("no wpns", "weapon", NO, "wpns"),
        ("w/o weapons", "weapon", NO, "weapons"),
        ("he doesn't have a gun", "weapon", NO, "gun"),
        ("no sign of any knife", "weapon", NO, "knife"),
        ("guns none", "weapon", NO, "guns"),
        ("subject unarmed", "weapon", NO, "unarmed"),
        ("UNK WEAPS", "weapon", UNKNOWN, "unk weaps"),
        ("weapons unk", "weapon", UNKNOWN, "weapons"),
        ("possibly has a knife", "weapon", UNKNOWN, "knife"),
        ("not sure if he has a gun", "weapon", UNKNOWN, "gun"),
        ("doesn't have a gun but has a knife", "weapon", YES, "knife"),
        ("no weapons seen. now holding a knife", "weapon", YES, "knife"),
        ("no one knows why he has a gun", "weapon", YES, "gun"),
        ("pt on a 9.41", "hold", YES, "9.41"),
        ("10-96 at the library", "edp", YES, "10 96"),
        ("he is no longer taking them", "meds", YES, "no longer taking"),
    ],
)
def test_fact_states(matcher: NarrativeMatcher, text: str, fact: str, state: str, evidence: str) -> None:
    assert facts(matcher, text)[fact] == (state, evidence)


@pytest.mark.parametrize("text", ["side of the road", "gunnison street", "knifeless", "the sidewalk", "9.411"])
def test_word_boundaries_stop_partial_hits(matcher: NarrativeMatcher, text: str) -> None:
    found = facts(matcher, text)
    assert "suicidal" not in found
    assert "hold" not in found
    if text == "gunnison street":
        # gun* is a word form: any ending matches, but only from the start of a word
        assert found["weapon"] == (YES, "gunnison")
    else:
        assert "weapon" not in found


def test_yes_beats_unknown_beats_no(matcher: NarrativeMatcher) -> None:
    assert facts(matcher, "no weapons. unk weaps")["weapon"][0] == UNKNOWN
    assert facts(matcher, "unk weaps. has knife. no weapons")["weapon"][0] == YES


def test_negation_window_is_bounded(matcher: NarrativeMatcher) -> None:
    # "no" is seven words before "knife": too far to deny it.
    assert facts(matcher, "no answer at the door and then he had a knife")["weapon"][0] == YES


def test_evidence_is_the_span_not_the_narrative(matcher: NarrativeMatcher) -> None:
    narrative = "caller states her brother " + "has been pacing all night and " * 30 + "has a knife"
    assert facts(matcher, narrative)["weapon"] == (YES, "knife")


def test_a_phrase_inside_a_word_never_hides_one_that_starts_a_word() -> None:
    # "to gun" occurs inside "auto gun" without starting a word: it must not swallow the real "gun" after it.
    # (Found on the default pack, where a cue inside "nephew" hid "off meds".)
    found = NarrativeMatcher([Phrase("weapon", YES, "gun"), Phrase("threat", YES, "to gun")], CUES)
    assert found.facts(normalise("SUBJ IN AUTO GUN IN LAP")) == {"weapon": (YES, "gun")}
    assert found.facts(normalise("going to gun him down"))["threat"] == (YES, "to gun")


def test_a_cue_counts_only_where_it_starts_a_word(matcher: NarrativeMatcher) -> None:
    # "no" ends "casino" and "not" ends "knot": neither negates the knife after it.
    assert facts(matcher, "at the casino knife in hand")["weapon"] == (YES, "knife")
    assert facts(matcher, "tied a knot knife")["weapon"] == (YES, "knife")
    assert facts(matcher, "no knife")["weapon"] == (NO, "knife")


def test_one_automaton_holds_every_phrase(matcher: NarrativeMatcher) -> None:
    assert matcher.phrase_count == 12


@pytest.mark.parametrize(
    ("phrase", "problem"),
    [("sui*cide", "only allowed at the end"), ("***", "only allowed at the end"), ("--", "no letters")],
)
def test_invalid_phrases_are_reported(phrase: str, problem: str) -> None:
    found = phrase_problem(phrase)
    assert found is not None and problem in found


def test_valid_phrases_pass() -> None:
    assert phrase_problem("hallucinat*") is None
    assert phrase_problem("unk weaps") is None
