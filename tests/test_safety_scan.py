"""The decoder's safety scan, compiled (``contracts/_scan.c``) and in pure Python, gives the same answer on any bytes.

The scan decides which records msgspec may decode (``contracts.structs``): the compiled one is what runs wherever
the package was built with a C compiler, the pure-Python one where it was not. Both must say "unsafe" for exactly
the same records: the equivalence of msgspec and pydantic (``test_structs_equivalence.py``) rests on it.
"""

from __future__ import annotations

import shutil

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_bridge.contracts import structs
from tests.test_structs_equivalence import documents



def test_the_compiled_scan_is_built_and_used_where_a_compiler_is_at_hand():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine: the package installs with the pure-Python scan")
    assert structs.SCAN_COMPILED
    assert structs._fast_path_safe is structs._fast_path_safe_compiled


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


@pytest.mark.parametrize("value", EDGES)
def test_both_scans_agree_on_every_edge(value):
    agree(value)


def test_the_edges_fall_on_both_sides():
    assert agree(b"[" * 127) and not agree(b"[" * 128)
    assert agree(b".123456") and not agree(b".1234567")
    assert agree(b"9" * 4301) is False and agree(b"9" * 4300)
    assert agree("caf\u00e9".encode()) and not agree(b"caf\xe9")


def test_both_scans_agree_on_every_demo_document():
    incidents, units = documents()
    safe = [agree(orjson.dumps(doc)) for doc in [*incidents, *units]]
    assert sum(safe) > 0.9 * len(safe)  # nearly every real record takes the fast path


# Bytes built from the characters the scan looks for, in runs, so that every threshold is met now and then.
_PIECES = st.sampled_from([b"{", b"[", b"}", b".", b"0", b"7", b"9" * 50, b"." + b"1" * 6, b"a", b" ", b"\"",
                           b"\xc3\xa9", b"\xe9", b"\xff", b"[" * 40, b"9" * 1000, b"\xf0\x9f\x9a\x91"])


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(st.tuples(_PIECES, st.integers(1, 8)), max_size=60), tail=st.binary(max_size=64))
def test_both_scans_agree_on_random_bytes(parts, tail):
    agree(b"".join(piece * times for piece, times in parts) + tail)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=st.binary(max_size=5000))
def test_both_scans_agree_on_arbitrary_bytes(value):
    agree(value)
