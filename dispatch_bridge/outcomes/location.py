"""Reduce an incident location to the coarse key the agency allows us to keep (hundred block or beat).

The full address never reaches the store: "1234 N Main St Apt 5" becomes "1200 BLOCK N MAIN ST", the form
police open-data portals publish. Intersections ("MAIN ST / 1ST AVE") carry no house number and are kept as
the intersection. Without an address the block key falls back to the beat, so premise history still works.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dispatch_bridge.contracts import Location

# Unit designators and everything after them identify a dwelling, not a block.
_UNIT_SUFFIX = re.compile(r"(?:,|#|\b(?:APT|APARTMENT|UNIT|STE|SUITE|RM|ROOM|FL|FLOOR|BLDG|LOT|SPC)\b).*$")
_HOUSE_NUMBER = re.compile(r"^(\d+)[A-Z]?(?:-\d+[A-Z]?)?\s+(.+)$")
_SPACES = re.compile(r"\s+")
_BLOCK_PREFIX = re.compile(r"^(\d+)\s+BLOCK\s+(?:OF\s+)?(.+)$")


def block_of(address: str) -> str | None:
    """The hundred block of a street address, or the intersection; None when nothing usable is left."""
    # Every revision of a call repeats its address: four regexes per row were a measurable share of a store
    # write. Only address-sized text is cached, so a hostile 100,000-character "address" cannot pin memory.
    return _cached_block_of(address) if len(address) <= 256 else _block_of(address)


@lru_cache(maxsize=4096)
def _cached_block_of(address: str) -> str | None:
    return _block_of(address)


def _block_of(address: str) -> str | None:
    """The hundred block of a street address, or the intersection; None when nothing usable is left."""
    text = _SPACES.sub(" ", address.upper()).strip()
    text = _UNIT_SUFFIX.sub("", text).strip(" ,.")
    if not text:
        return None
    already = _BLOCK_PREFIX.match(text)
    if already:
        return f"{int(already.group(1)) // 100 * 100} BLOCK {already.group(2)}"
    numbered = _HOUSE_NUMBER.match(text)
    if numbered:
        return f"{int(numbered.group(1)) // 100 * 100} BLOCK {numbered.group(2)}"
    if text.replace("-", "").isdigit():  # a bare number: no street to name a block by
        return None
    return text


def location_key(location: Location | None, granularity: str) -> str | None:
    """The premise key for a location: ``block:<hundred block>`` or ``beat:<beat>``; None when unknown."""
    if location is None:
        return None
    if granularity == "block" and location.address:
        block = block_of(location.address)
        if block:
            return "block:" + block
    if location.beat:
        return "beat:" + location.beat.strip().upper()
    return None
