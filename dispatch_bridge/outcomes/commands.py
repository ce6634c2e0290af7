"""``dispatch-bridge report``: the coordinator's evaluation for a period, as HTML, CSV or JSON."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from dispatch_bridge.outcomes.render import render_csv, render_html, render_json
from dispatch_bridge.outcomes.report import build_report
from dispatch_bridge.outcomes.store import open_store

RENDERERS = {"html": render_html, "csv": render_csv, "json": render_json}


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="CIT program evaluation for a period (store from DISPATCH_BRIDGE_STORE__URL)",
        description="Build the coordinator's evaluation from the outcome store for local dates FROM..TO inclusive.",
    )
    parser.add_argument("--from", dest="start", type=_date, required=True, metavar="DATE", help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=_date, required=True, metavar="DATE", help="last day, YYYY-MM-DD")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="html")
    parser.add_argument("--output", type=Path, default=None, metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--personnel", type=Path, default=None, metavar="FILE",
        help="certification records (CSV/YAML) for the expiry list; default DISPATCH_BRIDGE_PERSONNEL_FILE",
    )
    parser.add_argument(
        "--as-of", dest="as_of", type=_date, default=None, metavar="DATE",
        help="start of the 'expiring in the next 90 days' window (default: the last day of the period)",
    )
    parser.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from dispatch_bridge.settings import Settings

    if args.end < args.start:
        print("report: --to is before --from", file=sys.stderr)
        return 2
    settings = Settings()
    personnel = None
    personnel_file = args.personnel or settings.personnel_file
    if personnel_file is not None:
        from dispatch_bridge.roster.personnel import load_personnel_file

        personnel = load_personnel_file(personnel_file)
    report = asyncio.run(_build(settings, args, personnel))
    text = RENDERERS[args.format](report)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


async def _build(settings: Any, args: argparse.Namespace, personnel: Any) -> dict[str, Any]:
    store = await open_store(settings.store)
    try:
        return await build_report(
            store,
            args.start,
            args.end,
            personnel=personnel,
            coverage_min=settings.roster.coverage_min_per_district,
            as_of=args.as_of,
        )
    finally:
        await store.close()
