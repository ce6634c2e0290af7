"""Narrative matching: every phrase of a pack in one Aho-Corasick automaton, with cheap negation checks.

Cost per event is one pass over the normalised text, whatever the lexicon size; the negation / uncertainty check
runs only around the few hits. Facts come out tri-state (yes / no / unknown; a fact never mentioned is absent):
"knife" is yes, "no weapons seen" is no, "unk weaps" is unknown. When a narrative says several things about one
fact, yes beats unknown beats no: a later "no weapons" must not hide an earlier "has a knife" from a dispatcher.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick

YES = "yes"
NO = "no"
UNKNOWN = "unknown"
ABSENT = "absent"
FACT_STATES = (YES, NO, UNKNOWN, ABSENT)
_RANK = {NO: 1, UNKNOWN: 2, YES: 3}
Facts = dict[str, tuple[str, str]]  # fact -> (state, evidence span)
_NEUTRAL = ""  # a cue that consumes tokens without changing the state ("no longer", "no one")

# Clause breaks become "." so negation never reaches across them; every other non-alphanumeric ASCII character
# becomes a space (so "10-96" and "10 96", "UNK/WEAPS" and "unk weaps" read the same). "." itself stays, which
# keeps "9.41" intact and still ends a sentence.
_CLAUSE_BREAKS = ".,;!?\n\r|"
_TABLE = {
    c: (ord(chr(c).lower()) if chr(c).isalnum() else (ord(".") if chr(c) in _CLAUSE_BREAKS else ord(" ")))
    for c in range(128)
}
_TRANSLATION = str.maketrans(_TABLE)
_WORD_EDGE = " ."


def _normalise_py(text: str) -> str:
    """``normalise`` in pure Python: the reference, and the code that runs where ``_text.c`` was not built."""
    # The table lower-cases ASCII itself; str.lower() is only needed (and only paid) for non-ASCII text.
    mapped = text.translate(_TRANSLATION) if text.isascii() else text.lower().translate(_TRANSLATION)
    if not mapped.isascii():  # other Unicode spaces (NBSP, ideographic) need the general split
        return " ".join(mapped.split())
    # Each pass halves every run of spaces; cheaper than split/join, which builds a string per word.
    while "  " in mapped:
        mapped = mapped.replace("  ", " ")
    return mapped.strip()


try:
    from dispatch_bridge.triage._text import normalise_ascii as _normalise_ascii
except ImportError:  # installed where no C compiler was at hand (setup.py): the pure-Python code, same answers
    _normalise_ascii = None
_ASCII_TABLE = bytes(_TABLE[c] for c in range(128))
NORMALISE_COMPILED = _normalise_ascii is not None


def normalise(text: str) -> str:
    """Lower-case, clause punctuation to ".", other punctuation to spaces, whitespace collapsed."""
    # Compiled for ASCII (nearly every CAD text): one pass, about 0.3 us per KB against 4 in Python.
    if _normalise_ascii is not None and text.isascii():
        return _normalise_ascii(text, _ASCII_TABLE)  # type: ignore[no-any-return]
    return _normalise_py(text)


@dataclass(slots=True)
class PartsMemo:
    """What was read of one call's texts: how many parts, one hash of them all in order, and the facts they gave.

    Compact on purpose (one per open incident, tens of thousands of them): two integers and a small dict, however
    long the narrative. A hash, never text: the bridge does not keep narratives. (One hash of the parts' tuple,
    not one per part: the parts' own hashes are cached on the strings, so the tuple's costs about 0.1 us where
    an array of per-part hashes cost 1.6 us a revision, and only "the parts read before, unchanged" is asked.)
    """

    count: int = 0
    digest: int = 0
    merged: Facts = field(default_factory=dict)


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
    body = text.removesuffix("*")
    if "*" in body:
        return f"phrase {text!r}: '*' is only allowed at the end (any word ending)"
    if not normalise(body).strip(". "):
        return f"phrase {text!r} has no letters or digits"
    return None


_RESET = "reset"


class NarrativeMatcher:
    """All phrases AND cue words of a pack in one automaton; `facts(text)` gives each mentioned fact its state.

    Cue words ride in the same automaton as the phrases, so one left-to-right pass sees "no", "but" and
    "weapons" in order: a phrase hit only asks whether the last cue is close enough (a count of spaces between
    them, done in C) instead of re-reading the words before it. Multi-word cues ("not sure", "no one") and
    phrases that contain cue words ("no longer taking", "unk weaps") win by longest match.
    """

    def __init__(self, phrases: Iterable[Phrase], cues: CueWords) -> None:
        entries: dict[str, list[tuple[str, str, bool]]] = {}
        for phrase in phrases:
            wildcard = phrase.text.endswith("*")
            key = normalise(phrase.text[:-1] if wildcard else phrase.text).strip(". ")
            entries.setdefault(key, []).append((phrase.fact, phrase.state, wildcard))
        self.phrase_count = len(entries)
        before: dict[str, str] = {}
        for words, state in (
            (cues.neutral, _NEUTRAL),
            (cues.reset, _RESET),
            (cues.uncertainty, UNKNOWN),
            (cues.negation, NO),
        ):
            for cue in words:
                key = normalise(cue).strip(". ")
                if key:
                    before.setdefault(key, state)
        after = {normalise(w): UNKNOWN for w in cues.after_uncertainty} | {
            normalise(w): NO for w in cues.after_negation
        }
        self._automaton = ahocorasick.Automaton()
        for key in entries.keys() | before.keys() | after.keys():
            value = (len(key), tuple(entries.get(key, ())), before.get(key), after.get(key))
            # Every key starts a word: it is added behind each character that can end the word before it, and
            # the text is scanned behind a space. Unanchored, short cues matched inside words everywhere ("nt"
            # in "entrance", "od" in "code"): more than half the hits, each a tuple for Python to discard, and
            # one could overlap and hide a real hit after it (a cue inside "nephew" hid "off meds").
            for edge in _WORD_EDGE:
                self._automaton.add_word(edge + key, value)
        if entries:
            self._automaton.make_automaton()
        self._window = cues.window

    def facts_of_parts(self, parts: Sequence[str], memo: PartsMemo | None = None) -> Facts:
        """The facts of a call's texts (nature text, then each narrative comment, each its own clause).

        Negation and after-cues never reach across a clause, and a fact takes its strongest state with the
        evidence of the first clause that said so: the facts of a text followed by more text are the first
        text's facts merged with the rest's. A CAD snapshot repeats the call's earlier comments in order and
        appends new ones, so with the incident's ``memo`` a revision reads only the comments after those it
        has already read (and everything again when an earlier comment changed).
        """
        if memo is None:
            return self.facts(_joined(parts))
        read = memo.count
        if read and len(parts) >= read and hash(tuple(parts[:read])) == memo.digest:
            found = dict(memo.merged)
            if len(parts) > read:
                _merge(found, self.facts(_joined(parts[read:])))
        else:
            found = self.facts(_joined(parts))
        memo.count, memo.digest, memo.merged = len(parts), hash(tuple(parts)), found
        return dict(found)

    def facts(self, text: str) -> Facts:
        """Scan normalised text once: {fact: (state, evidence span)} for every fact it mentions."""
        found: Facts = {}
        if not text or not self.phrase_count:
            return found
        size = len(text)
        window = self._window
        cue_state = _NEUTRAL  # the last negation / uncertainty cue seen, until a reset word or a new cue
        cue_end = 0
        last_stop = -1  # end of the last phrase hit whose yes an after-cue ("weapons unk") may still change
        last_changes: list[tuple[str, tuple[str, str] | None]] = []
        # Scanned behind a space, so that the first word starts one too: an index in the scan is one past the
        # same character's index in ``text``, so the scan's ``end`` is the hit's stop in ``text``.
        for stop, (length, values, before, after) in self._automaton.iter_long(" " + text):
            start = stop - length
            whole_word = stop == size or text[stop] in _WORD_EDGE
            if after is not None and whole_word and last_changes:
                if text.count(" ", last_stop, start) <= 2 and text.find(".", last_stop, start) < 0:
                    for fact, previous in last_changes:
                        # Strictly stronger only: on a tie the earlier evidence stays, as everywhere else.
                        if previous is None or _RANK[after] > _RANK[previous[0]]:
                            found[fact] = (after, found[fact][1])
                        else:
                            found[fact] = previous
                    last_changes = []
            if before is not None and whole_word:
                if before == _RESET:
                    cue_state = _NEUTRAL
                elif before:
                    cue_state = before
                    cue_end = stop
            if not values:
                continue
            changes: list[tuple[str, tuple[str, str] | None]] = []
            cue: str | None = None
            for fact, state, wildcard in values:
                previous = found.get(fact)
                if previous is not None and previous[0] == YES:
                    continue  # yes is final
                if not whole_word:
                    if not wildcard:
                        continue
                    stop = _word_end(text, stop)
                if state == YES:
                    if cue is None:
                        cue = (
                            cue_state
                            if cue_state
                            and text.count(" ", cue_end, start) <= window
                            and text.find(".", cue_end, start) < 0
                            else _NEUTRAL
                        )
                    state = cue or YES
                    if state == YES:
                        changes.append((fact, previous))
                if previous is None or _RANK[state] > _RANK[previous[0]]:
                    found[fact] = (state, text[start:stop])
            last_changes = changes
            last_stop = stop
        return found


def _joined(parts: Iterable[str]) -> str:
    return normalise(" . ".join(part for part in parts if part))


def _merge(found: Facts, facts: Facts) -> None:
    """Fold later text's facts into earlier text's: the strongest state wins, the earlier evidence on a tie."""
    for fact, said in facts.items():
        previous = found.get(fact)
        if previous is None or _RANK[said[0]] > _RANK[previous[0]]:
            found[fact] = said


def _word_end(text: str, index: int) -> int:
    size = len(text)
    while index < size and text[index] not in _WORD_EDGE:
        index += 1
    return index

