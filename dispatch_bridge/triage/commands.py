"""`dispatch-bridge rules test|check|evaluate`: what a CIT coordinator runs before a pack goes live.

All three exit non-zero on failure so CI and a coordinator's own pipeline can gate on them. `cli.py` calls
`register(subparsers)`; `python -m dispatch_bridge.triage.commands rules ...` works without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from dispatch_bridge.triage.cases import CaseFileError, load_cases, run_cases
from dispatch_bridge.triage.loader import RulesetError, load_ruleset
from dispatch_bridge.triage.model import Ruleset
from dispatch_bridge.triage.replay import (
    LABELS_HELP,
    LabelError,
    assess_all,
    disagreements,
    read_events,
    read_labels,
    score_labels,
    summarise,
    tier_changes,
)

DEFAULT_DIR = Path("rules/default")
EXIT_OK = 0
EXIT_FAILED = 1  # a test case failed, or the pack / a file is invalid


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = subparsers.add_parser(
        "rules",
        help="test, lint and replay behavioral-crisis rule packs",
        description="Work on a rule pack (a directory of YAML rules with *.test.yaml cases beside them).",
    )
    commands = rules.add_subparsers(dest="rules_command", required=True, metavar="{test,check,evaluate}")

    test = commands.add_parser(
        "test", help="load the pack and run every *.test.yaml case; print a diff for each failure"
    )
    test.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="pack directory (default: rules/default)")
    test.add_argument("-q", "--quiet", action="store_true", help="print failures and the summary only")
    test.set_defaults(func=run_test)

    check = commands.add_parser("check", help="lint the pack and its test files without running the cases")
    check.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="pack directory (default: rules/default)")
    check.set_defaults(func=run_check)

    evaluate = commands.add_parser(
        "evaluate",
        help="replay historical incident events through the pack",
        description=(
            "Replay incident events (JSON lines, wire contract v1) through the pack and report how many calls "
            "each tier would get and how often each rule fired; each incident is judged on its last event. "
            "With --labels, report precision and recall of the crisis decision; with --compare, list the "
            "incidents on which another pack decides differently."
        ),
    )
    evaluate.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="pack directory (default: rules/default)")
    evaluate.add_argument("--events", type=Path, required=True, help="incident events, one JSON object per line")
    evaluate.add_argument("--labels", type=Path, help=LABELS_HELP)
    evaluate.add_argument("--compare", type=Path, metavar="OTHER_DIR", help="a second pack to compare with")
    evaluate.add_argument("--limit", type=int, default=50, help="disagreements to list (default 50)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON report instead of text")
    evaluate.set_defaults(func=run_evaluate)


def _load(directory: Path, out: TextIO) -> Ruleset | None:
    try:
        return load_ruleset(directory)
    except RulesetError as exc:
        _print_problems(f"INVALID {directory}", exc.problems, out)
        return None


def _print_problems(title: str, problems: Sequence[str], out: TextIO) -> None:
    print(f"{title}: {len(problems)} problem(s)", file=out)
    for problem in problems:
        print(f"  {problem}", file=out)


def _load_with_cases(directory: Path, out: TextIO) -> tuple[Ruleset, list[Any]] | None:
    """The pack and its test cases, or None after printing every problem (the caller exits non-zero)."""
    ruleset = _load(directory, out)
    if ruleset is None:
        return None
    try:
        return ruleset, list(load_cases(ruleset.test_files, ruleset))
    except CaseFileError as exc:
        _print_problems(f"INVALID test files in {directory}", exc.problems, out)
        return None


def run_test(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    loaded = _load_with_cases(args.dir, out)
    if loaded is None:
        return EXIT_FAILED
    ruleset, cases = loaded
    if not cases:
        print(f"FAILED {args.dir}: no test cases (add NAME.test.yaml beside the rule files)", file=out)
        return EXIT_FAILED
    report = run_cases(ruleset, cases)
    for failure in report.failures:
        print(failure.render(), file=out)
        print(file=out)
    label = f"{args.dir} version {ruleset.version} (sha256 {ruleset.sha256[:12]})"
    if report.ok:
        if not getattr(args, "quiet", False):
            print(f"ok: all {report.total} cases pass in {len(ruleset.test_files)} test files, {label}", file=out)
        return EXIT_OK
    print(f"FAILED: {len(report.failures)} of {report.total} cases, {label}", file=out)
    return EXIT_FAILED


def run_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    loaded = _load_with_cases(args.dir, out)
    if loaded is None:
        return EXIT_FAILED
    ruleset, cases = loaded
    print(
        f"ok: {args.dir} version {ruleset.version} (sha256 {ruleset.sha256[:12]}): {len(ruleset.include)} include "
        f"rules, {len(ruleset.route)} route rules, {ruleset.matcher.phrase_count} phrases, {len(cases)} test cases",
        file=out,
    )
    return EXIT_OK


def run_evaluate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    ruleset = _load(args.dir, out)
    if ruleset is None:
        return EXIT_FAILED
    other = None
    if args.compare is not None:
        other = _load(args.compare, out)
        if other is None:
            return EXIT_FAILED
    if not args.events.is_file():
        print(f"no such events file: {args.events}", file=out)
        return EXIT_FAILED
    labels = None
    if args.labels is not None:
        try:
            labels = read_labels(args.labels)
        except (LabelError, OSError) as exc:
            print(str(exc), file=out)
            return EXIT_FAILED
    events = read_events(args.events)
    assessments = assess_all(ruleset, events.incidents)
    report: dict[str, Any] = {
        "pack": {"dir": str(args.dir), "version": ruleset.version, "sha256": ruleset.sha256},
        "events": events.events,
        "invalid_lines": events.bad_lines,
        "summary": summarise(assessments),
    }
    if labels is not None:
        report["labels"] = score_labels(assessments, labels)
    if other is not None:
        other_assessments = assess_all(other, events.incidents)
        found = list(disagreements(assessments, other_assessments))
        report["compare"] = {
            "pack": {"dir": str(args.compare), "version": other.version, "sha256": other.sha256},
            "summary": summarise(other_assessments),
            "disagreements": len(found),
            "tier_changes": tier_changes(found),
            "listed": [d.to_dict() for d in found[: args.limit]],
        }
        if labels is not None:
            report["compare"]["labels"] = score_labels(other_assessments, labels)
    if args.json:
        print(json.dumps(report, indent=2), file=out)
    else:
        _print_report(report, out)
    return EXIT_OK


def _print_report(report: dict[str, Any], out: TextIO) -> None:
    pack = report["pack"]
    summary = report["summary"]
    print(f"pack {pack['dir']} version {pack['version']} (sha256 {pack['sha256'][:12]})", file=out)
    print(f"events read: {report['events']}; incidents: {summary['incidents']}", file=out)
    if report["invalid_lines"]:
        shown = ", ".join(str(n) for n in report["invalid_lines"][:20])
        print(f"invalid lines skipped: {len(report['invalid_lines'])} (lines {shown})", file=out)
    _print_summary(summary, out)
    if "labels" in report:
        _print_labels(report["labels"], out)
    if "compare" in report:
        compare = report["compare"]
        other = compare["pack"]
        print(f"\ncompared with {other['dir']} version {other['version']} (sha256 {other['sha256'][:12]})", file=out)
        _print_summary(compare["summary"], out)
        if "labels" in compare:
            _print_labels(compare["labels"], out)
        print(f"\ndisagreements: {compare['disagreements']} of {summary['incidents']} incidents", file=out)
        for change, count in compare["tier_changes"].items():
            print(f"  {change:<32} {count}", file=out)
        for item in compare["listed"]:
            base, other_decision = item["base"], item["other"]
            print(
                f"  {item['incident_id']}: {base['response']} (crisis={str(base['crisis']).lower()}) -> "
                f"{other_decision['response']} (crisis={str(other_decision['crisis']).lower()})"
                f"  only base: {', '.join(item['rules_only_base']) or '-'}"
                f"  only other: {', '.join(item['rules_only_other']) or '-'}",
                file=out,
            )


def _print_summary(summary: dict[str, Any], out: TextIO) -> None:
    total = summary["incidents"] or 1
    print(f"crisis: {summary['crisis']} ({100 * summary['crisis'] / total:.1f}%)", file=out)
    print("calls per tier:", file=out)
    for tier, count in summary["tiers"].items():
        print(f"  {tier:<14} {count:>7}  {100 * count / total:5.1f}%", file=out)
    print("rules fired (incidents):", file=out)
    for rule, count in summary["rules"].items():
        print(f"  {rule:<32} {count:>7}", file=out)
    if summary["flags"]:
        print("safety flags:", file=out)
        for flag, count in summary["flags"].items():
            print(f"  {flag:<32} {count:>7}", file=out)


def _print_labels(scores: dict[str, Any], out: TextIO) -> None:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    print(
        f"labels: {scores['labelled']} incidents; precision {pct(scores['precision'])}, recall "
        f"{pct(scores['recall'])}, F1 {pct(scores['f1'])} (tp {scores['true_positive']}, fp "
        f"{scores['false_positive']}, fn {scores['false_negative']}, tn {scores['true_negative']})",
        file=out,
    )
    if scores["tier_labelled"]:
        print(f"tier agreement: {pct(scores['tier_agreement'])} of {scores['tier_labelled']} labelled tiers", file=out)
        for change, count in scores["tier_mistakes"].items():
            print(f"  want->got {change:<28} {count}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dispatch-bridge")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
