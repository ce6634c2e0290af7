"""Safe hot reload: a new pack goes live only after it loads, validates and passes its own tests.

The service drives this class: it calls `changed_on_disk()` every `RulesSettings.reload_poll_seconds`, and
`reload()` then, on SIGHUP and on `POST /v1/rules/reload`. A broken pack never replaces the live one: the old
ruleset keeps serving and `status()` (served at `GET /v1/rules`) shows the last failed attempt and its errors.
Swapping is one attribute assignment, so a reader on the event loop sees either the old or the new ruleset.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatch_bridge.triage.cases import CaseFileError, run_pack_tests
from dispatch_bridge.triage.loader import RulesetError, load_ruleset
from dispatch_bridge.triage.model import Ruleset

Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    attempted_at: dt.datetime
    version: str | None = None  # of the pack attempted, when it loaded far enough to know
    sha256: str | None = None
    errors: tuple[str, ...] = ()  # `file:line: message` lines and test failures
    swapped: bool = False  # the active ruleset changed (an identical pack reloads as ok, not swapped)
    cases: int = 0  # test cases run and passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "attempted_at": self.attempted_at.isoformat(),
            "version": self.version,
            "sha256": self.sha256,
            "errors": list(self.errors),
            "swapped": self.swapped,
            "cases": self.cases,
        }


def check_pack(path: Path, *, run_tests: bool = True) -> tuple[Ruleset | None, tuple[str, ...], int]:
    """Load a pack and run its tests: (ruleset or None, error lines, cases passed)."""
    try:
        ruleset = load_ruleset(path)
    except RulesetError as exc:
        return None, exc.problems, 0
    if not run_tests:
        return ruleset, (), 0
    try:
        report = run_pack_tests(ruleset)
    except CaseFileError as exc:
        return ruleset, exc.problems, 0
    if not report.ok:
        errors = [f"{len(report.failures)} of {report.total} test cases failed"]
        errors += [failure.render() for failure in report.failures]
        return ruleset, tuple(errors), report.passed
    return ruleset, (), report.total


def pack_fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, mtimes and sizes of the pack's YAML files: a stat per file, no reads (cheap to poll)."""
    entries: list[tuple[str, int, int]] = []
    try:
        with os.scandir(path) as scan:
            for entry in scan:
                if entry.name.endswith(".yaml") and entry.is_file():
                    info = entry.stat()
                    entries.append((entry.name, info.st_mtime_ns, info.st_size))
    except OSError:
        return ()
    return tuple(sorted(entries))


class RulesetHolder:
    """The live ruleset of one pack directory; constructing it loads the pack or raises RulesetError."""

    def __init__(self, path: Path, *, run_tests: bool = True, clock: Clock = _utc_now) -> None:
        self.path = Path(path)
        self._run_tests = run_tests
        self._clock = clock
        self._fingerprint = pack_fingerprint(self.path)
        ruleset, errors, cases = check_pack(self.path, run_tests=run_tests)
        if ruleset is None or errors:
            raise RulesetError(list(errors))
        self.current: Ruleset = ruleset
        self.loaded_at = clock()
        self._cases = cases
        self._last_failure: ReloadResult | None = None
        self._loaded = 1
        self._rejected = 0

    def changed_on_disk(self) -> bool:
        """True when a YAML file of the pack was added, removed or modified since the last (attempted) load."""
        return pack_fingerprint(self.path) != self._fingerprint

    def reload(self) -> ReloadResult:
        # Fingerprint before reading: a file saved while we load shows up as a change on the next poll.
        self._fingerprint = pack_fingerprint(self.path)
        attempted_at = self._clock()
        ruleset, errors, cases = check_pack(self.path, run_tests=self._run_tests)
        if ruleset is None or errors:
            self._rejected += 1
            result = ReloadResult(
                ok=False,
                attempted_at=attempted_at,
                version=None if ruleset is None else ruleset.version,
                sha256=None if ruleset is None else ruleset.sha256,
                errors=errors,
                cases=cases,
            )
            self._last_failure = result
            return result
        swapped = ruleset.sha256 != self.current.sha256
        self._loaded += 1
        if swapped:
            self.current = ruleset  # the atomic swap
            self.loaded_at = attempted_at
            self._cases = cases
        return ReloadResult(
            ok=True, attempted_at=attempted_at, version=ruleset.version, sha256=ruleset.sha256, swapped=swapped, cases=cases
        )

    def status(self) -> dict[str, Any]:
        """JSON-ready view for `GET /v1/rules`."""
        ruleset = self.current
        return {
            "path": str(self.path),
            "active": {
                "version": ruleset.version,
                "sha256": ruleset.sha256,
                "loaded_at": self.loaded_at.isoformat(),
                "include_rules": len(ruleset.include),
                "route_rules": len(ruleset.route),
                "phrases": ruleset.matcher.phrase_count,
                "test_cases_passed": self._cases,
            },
            "reloads": {"loaded": self._loaded, "rejected": self._rejected},
            "last_failure": None if self._last_failure is None else self._last_failure.to_dict(),
        }
