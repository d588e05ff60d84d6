"""``rmaplab kernel-check FILE|NAME [--json]``: the subcommand, registered by app/cli.py."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType
from typing import Any

from ..engine import EngineError
from ..scenarios import load_scenario
from .check import CheckError, exit_status, kernel_check
from .render import render_check


def add_parser(sub: Any) -> None:
    """Add ``kernel-check`` to the subcommands; ``args.func`` runs it."""
    p = sub.add_parser(
        "kernel-check",
        help="run a scenario as real processes on this Linux kernel and compare every step "
        "with the simulator (anon_vma_chain)",
    )
    p.add_argument("scenario", help="a scenario file (.json) or the name of a built-in one")
    p.add_argument("--json", action="store_true", help="print the check document as JSON")
    p.add_argument(
        "--option",
        action="append",
        dest="options",
        default=[],
        metavar="NAME",
        help="an anon_vma_chain option (repeatable), e.g. v3_0_to_6_15 to compare "
        "the kernel with an older kernel's rules (expect differences)",
    )
    p.add_argument(
        "--no-swap",
        action="store_true",
        help="never make a temporary swap file (page-out steps become not "
        "checkable when no swap area is active)",
    )
    p.set_defaults(func=run)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    """Exit status: 1 if a step differs, 2 for a bad scenario or argument, else 0."""
    try:
        data = load_scenario(args.scenario)
    except EngineError as exc:
        print(f"rmaplab: {exc}", file=sys.stderr)
        return 2
    # SIGTERM unwinds like Ctrl-C, so the agents end and a swap file made here goes away.
    old = signal.signal(signal.SIGTERM, _terminate)
    try:
        doc = kernel_check(data, allow_swap_create=not args.no_swap, engine_options=args.options)
    except CheckError as exc:
        print(f"rmaplab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "rmaplab: kernel-check interrupted (its processes were ended and any swap file "
            "it made was removed)",
            file=sys.stderr,
        )
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_check(doc))
    return exit_status(doc)
