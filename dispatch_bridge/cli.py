"""The ``dispatch-bridge`` command: run, demo, rules test/check/evaluate, report."""

from __future__ import annotations

import argparse
import asyncio
import sys

from dispatch_bridge import __version__


def _run(args: argparse.Namespace) -> int:
    from dispatch_bridge.observability import configure_logging
    from dispatch_bridge.server import serve
    from dispatch_bridge.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(serve(settings))


def _demo(args: argparse.Namespace) -> int:
    from dispatch_bridge.demo.runner import run_demo

    return asyncio.run(run_demo(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dispatch-bridge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"dispatch-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the service (settings from DISPATCH_BRIDGE_* variables)")
    run.set_defaults(func=_run)

    demo = commands.add_parser("demo", help="embedded broker + service + a replayed sample shift")
    demo.add_argument("--keep-running", action="store_true", help="leave the stack up after the replay")
    demo.add_argument("--speed", type=float, default=None,
                      help="replay speed-up over real time (default: the shift in about a minute)")
    demo.add_argument("--calls", type=int, default=200, help="calls in the sample shift")
    demo.add_argument("--seed", type=int, default=7, help="seed of the sample shift")
    demo.add_argument("--port", type=int, default=0, help="HTTP port (default: a free one)")
    demo.set_defaults(func=_demo)

    from dispatch_bridge.triage.commands import register as register_rules

    register_rules(commands)
    try:
        from dispatch_bridge.outcomes.commands import register as register_report
    except ImportError:  # pragma: no cover - the outcomes package is optional during development
        pass
    else:
        register_report(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
