"""Narrative matching: every phrase of a pack in one Aho-Corasick automaton, with cheap negation checks.

Cost per event is one pass over the normalised text, whatever the lexicon size; the negation / uncertainty check
runs only around the few hits. Facts come out tri-state (yes / no / unknown; a fact never mentioned is absent):
"knife" is yes, "no weapons seen" is no, "unk weaps" is unknown. When a narrative says several things about one
fact, yes beats unknown beats no: a later "no weapons" must not hide an earlier "has a knife" from a dispatcher.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

YES = "yes"
NO = "no"
UNKNOWN = "unknown"
ABSENT = "absent"
FACT_STATES = (YES, NO, UNKNOWN, ABSENT)
_RANK = {NO: 1, UNKNOWN: 2, YES: 3}
_NEUTRAL = ""  # a cue that consumes tokens without changing the state ("no longer", "no one")

# Clause breaks become "." so negation never reaches across them; every other non-alphanumeric ASCII character
# becomes a space (so "10-96" and "10 96", "UNK/WEAPS" and "unk weaps" read the same). "." itself stays, which
# keeps "9.41" intact and still ends a sentence.
_CLAUSE_BREAKS = ".,;!?\n\r|"
_TABLE = {c: (c if chr(c).isalnum() else (ord(".") if chr(c) in _CLAUSE_BREAKS else ord(" "))) for c in range(128)}
_TRANSLATION = str.maketrans(_TABLE)
_WORD_EDGE = " ."


def normalise(text: str) -> str:
    """Lower-case, clause punctuation to ".", other punctuation to spaces, whitespace collapsed."""
    return " ".join(text.lower().translate(_TRANSLATION).split())


@dataclass(frozen=True, slots=True)
class Phrase:
    """One lexicon entry as written in the pack: `text` may end in `*` to match any word ending."""

    fact: str
    state: str  # YES, NO or UNKNOWN: what a plain (un-negated) hit means
    text: str


@dataclass(frozen=True, slots=True)
class CueWords:
    """The words around a hit that change its meaning, from the pack's `narrative:` section (normalised)."""

    window: int
    negation: tuple[str, ...]  # before a hit: "no", "denies", "neg"
    uncertainty: tuple[str, ...]  # before a hit: "unk", "possible", "not sure"
    after_negation: tuple[str, ...]  # right after a hit: "weapons none", "SI denied"
    after_uncertainty: tuple[str, ...]  # right after a hit: "weapons unk"
    neutral: tuple[str, ...]  # look like negation but are not: "no longer", "no one"
    reset: tuple[str, ...]  # end the window: "but", "however"


def phrase_problem(text: str) -> str | None:
    """Why a lexicon phrase cannot be compiled, or None when it is fine."""
    body = text[:-1] if text.endswith("*") else text
    if "*" in body:
        return f"phrase {text!r}: '*' is only allowed at the end (any word ending)"
    if not normalise(body).strip(". "):
        return f"phrase {text!r} has no letters or digits"
    return None


class NarrativeMatcher:
    """All phrases of a pack compiled once; `facts(text)` gives each mentioned fact its state and evidence."""

    def __init__(self, phrases: Iterable[Phrase], cues: CueWords) -> None:
        entries: dict[str, list[tuple[str, str, bool]]] = {}
        for phrase in phrases:
            wildcard = phrase.text.endswith("*")
            key = normalise(phrase.text[:-1] if wildcard else phrase.text).strip(". ")
            entries.setdefault(key, []).append((phrase.fact, phrase.state, wildcard))
        self._automaton = ahocorasick.Automaton()
        for key, values in entries.items():
            self._automaton.add_word(key, (len(key), tuple(values)))
        self.phrase_count = len(entries)
        if entries:
            self._automaton.make_automaton()
        self._window = cues.window
        single: dict[str, str] = {}
        multi: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for words, state in (
            (cues.negation, NO),
            (cues.uncertainty, UNKNOWN),
            (cues.neutral, _NEUTRAL),
        ):
            for cue in words:
                tokens = tuple(normalise(cue).split())
                if len(tokens) == 1:
                    single[tokens[0]] = state
                elif tokens:
                    multi.setdefault(tokens[0], []).append((tokens, state))
        for options in multi.values():
            options.sort(key=lambda option: -len(option[0]))  # longest cue first
        self._single = single
        self._multi = multi
        self._reset = frozenset(normalise(w) for w in cues.reset)
        self._after = {normalise(w): NO for w in cues.after_negation} | {
            normalise(w): UNKNOWN for w in cues.after_uncertainty
        }

    def facts(self, text: str) -> dict[str, tuple[str, str]]:
        """Scan normalised text once: {fact: (state, evidence span)} for every fact it mentions."""
        found: dict[str, tuple[str, str]] = {}
        if not text or not self.phrase_count:
            return found
        size = len(text)
        for end, (length, values) in self._automaton.iter_long(text):
            start = end - length + 1
            if start > 0 and text[start - 1] not in _WORD_EDGE:
                continue
            stop = end + 1
            whole_word = stop == size or text[stop] in _WORD_EDGE
            cue: str | None = None
            for fact, state, wildcard in values:
                previous = found.get(fact)
                if previous is not None and previous[0] == YES:
                    continue  # yes is final: a repeated mention costs no cue check
                if not whole_word:
                    if not wildcard:
                        continue
                    stop = _word_end(text, stop)
                if state == YES:
                    if cue is None:
                        cue = self._cue(text, start, stop)
                    state = cue or YES
                if previous is None or _RANK[state] > _RANK[previous[0]]:
                    found[fact] = (state, text[start:stop])
        return found

    def _cue(self, text: str, start: int, stop: int) -> str:
        """NO / UNKNOWN when a cue word sits just before (or right after) the hit in the same clause, else ""."""
        before = text[max(0, start - 12 * self._window) : start]
        clause = before.rfind(".")
        tokens = before[clause + 1 :].split()[-self._window :]
        state = _NEUTRAL
        i = 0
        count = len(tokens)
        while i < count:
            token = tokens[i]
            if token in self._reset:
                state = _NEUTRAL
                i += 1
                continue
            options = self._multi.get(token)
            if options is not None:
                matched = next((o for o in options if tuple(tokens[i : i + len(o[0])]) == o[0]), None)
                if matched is not None:
                    # A neutral cue ("no longer", "no one") only consumes its words.
                    state = matched[1] or state
                    i += len(matched[0])
                    continue
            cue_state = self._single.get(token)
            if cue_state is not None:
                state = cue_state
            i += 1
        if state:
            return state
        after = text[stop : stop + 24]
        clause = after.find(".")
        for token in (after if clause < 0 else after[:clause]).split()[:2]:
            cue_state = self._after.get(token)
            if cue_state is not None:
                return cue_state
        return _NEUTRAL


def _word_end(text: str, index: int) -> int:
    size = len(text)
    while index < size and text[index] not in _WORD_EDGE:
        index += 1
    return index


def merged_text(nature_text: str, entries: Iterable[str]) -> str:
    """Nature text and every narrative comment as one normalised string, each as its own clause."""
    parts = [nature_text, *entries]
    return normalise(" . ".join(part for part in parts if part))
