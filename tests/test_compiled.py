"""The compiled parts (setup.py) give the same answers as the pure-Python code beside them, on any input.

- The decoder's safety scan (``contracts/_scan.c``) decides which records msgspec may decode: both versions must
  say "unsafe" for exactly the same records, since the equivalence of msgspec and pydantic
  (``test_structs_equivalence.py``) rests on it.
- Triage's ``normalise`` (``triage/_text.c``) prepares every text the keyword automaton reads: any difference
  would be a different reading of a call.

The compiled code runs wherever the package was built with a C compiler, the pure-Python code where it was not.
"""

from __future__ import annotations

import shutil

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_bridge.contracts import structs
from dispatch_bridge.triage import text
from tests.test_structs_equivalence import documents


def test_the_compiled_parts_are_built_and_used_where_a_compiler_is_at_hand():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine: the package installs with the pure-Python code")
    assert structs.SCAN_COMPILED
    assert structs._fast_path_safe is structs._fast_path_safe_compiled
    assert text.NORMALISE_COMPILED


# Without a C compiler there is nothing compiled to compare; the test above says whether that may be so here.
needs_compiled_scan = pytest.mark.skipif(not structs.SCAN_COMPILED, reason="contracts/_scan.c not built here")
needs_compiled_text = pytest.mark.skipif(not text.NORMALISE_COMPILED, reason="triage/_text.c not built here")


def agree(value: bytes) -> bool:
    verdict = structs._fast_path_safe_py(value)
    assert structs._fast_path_safe_compiled(value) is verdict, value[:200]
    return verdict


EDGES = [
    b"", b"{", b"[" * 127, b"[" * 128, b"{" * 64 + b"[" * 64, b"{" * 64 + b"[" * 63, b".123456", b".1234567",
    b"x.1234567", b"1.123456x", b"2026-11-20T14:00:00.1234567Z", b"2026-11-20T14:00:00.123456Z", b"...1234567",
    b".12345.67", b".123456", b"9" * 4300, b"9" * 4301, b"x" + b"9" * 4301, b"9" * 4300 + b"x" + b"9" * 4300,
    "caf\u00e9".encode(), b"caf\xe9", b"\xff", b"\xc3", "\u2028".encode(), b"\x00\x7f", b"{\"a\": \"\xed\xa0\x80\"}",
]


@needs_compiled_scan
@pytest.mark.parametrize("value", EDGES)
def test_both_scans_agree_on_every_edge(value):
    agree(value)


@needs_compiled_scan
def test_the_edges_fall_on_both_sides():
    assert agree(b"[" * 127) and not agree(b"[" * 128)
    assert agree(b".123456") and not agree(b".1234567")
    assert agree(b"9" * 4301) is False and agree(b"9" * 4300)
    assert agree("caf\u00e9".encode()) and not agree(b"caf\xe9")


@needs_compiled_scan
def test_both_scans_agree_on_every_demo_document():
    incidents, units = documents()
    safe = [agree(orjson.dumps(doc)) for doc in [*incidents, *units]]
    assert sum(safe) > 0.9 * len(safe)  # nearly every real record takes the fast path


# Bytes built from the characters the scan looks for, in runs, so that every threshold is met now and then.
_PIECES = st.sampled_from([b"{", b"[", b"}", b".", b"0", b"7", b"9" * 50, b"." + b"1" * 6, b"a", b" ", b"\"",
                           b"\xc3\xa9", b"\xe9", b"\xff", b"[" * 40, b"9" * 1000, b"\xf0\x9f\x9a\x91"])


@needs_compiled_scan
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(st.tuples(_PIECES, st.integers(1, 8)), max_size=60), tail=st.binary(max_size=64))
def test_both_scans_agree_on_random_bytes(parts, tail):
    agree(b"".join(piece * times for piece, times in parts) + tail)


@needs_compiled_scan
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=st.binary(max_size=5000))
def test_both_scans_agree_on_arbitrary_bytes(value):
    agree(value)


# -- triage's normalise ------------------------------------------------------------------------------------------


def normalised_alike(value: str) -> str:
    expected = text._normalise_py(value)
    assert text.normalise(value) == expected, repr(value)
    return expected


@needs_compiled_text
@pytest.mark.parametrize("value", [
    "", " ", "  ", "a", " a ", "  UNK/WEAPS   per  RP;  10-96\n9.41 ", "...", " . . ", "\t\x0b\x0c\x1c\x1f",
    "".join(map(chr, range(128))), "NO WEAPONS SEEN,,  SUBJ CALM", "x" * 5000 + "  " * 300 + "Y",
    "caf\u00e9 CRISIS", "\u00a0NBSP\u3000IDEOGRAPHIC", "SELF HARM\u2028NEW LINE",
])
def test_normalise_compiled_reads_every_edge_as_python_does(value):
    normalised_alike(value)


@needs_compiled_text
def test_normalise_compiled_reads_the_demo_narratives_as_python_does():
    incidents, _ = documents()
    seen = 0
    for doc in incidents:
        incident = doc["incident"]
        for part in [incident.get("nature_text", ""), *(entry["text"] for entry in incident.get("narrative", []))]:
            normalised_alike(part)
            seen += 1
    assert seen > 500


@needs_compiled_text
@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=st.text(alphabet=st.characters(max_codepoint=127), max_size=400))
def test_normalise_compiled_reads_random_ascii_as_python_does(value):
    normalised_alike(value)


@needs_compiled_text
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=st.text(max_size=200))
def test_normalise_reads_any_text_as_python_does(value):
    normalised_alike(value)


@needs_compiled_text
def test_normalise_rejects_a_wrong_table():
    from dispatch_bridge.triage._text import normalise_ascii

    with pytest.raises(TypeError):
        normalise_ascii("x", b"short")
    assert normalise_ascii("caf\u00e9", text._ASCII_TABLE) is None  # not ASCII: Python's path
