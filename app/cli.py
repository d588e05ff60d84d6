"""The ``rmaplab`` command: run scenarios through the engine from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .engine import (
    DESIGN_NAMES,
    DesignUnavailable,
    EngineError,
    available_designs,
    compare_scenario,
    design_class,
    run_scenario,
)
from .engine.check import MODES, set_mode
from .engine.compare import parse_variant
from .render import render_compare, render_run
from .scenarios import builtin_names, load_builtin, load_scenario


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rmaplab",
        description="A laboratory for Linux anonymous-page reverse mapping (rmap).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario and print every step and the final state")
    run.add_argument("scenario", help="a scenario file (.json) or the name of a built-in one")
    run.add_argument("--design", choices=DESIGN_NAMES,
                     help="run under this design instead of the scenario's own")
    run.add_argument("--option", action="append", dest="options", metavar="NAME",
                     help="a design option (repeatable); replaces the scenario's options")
    run.add_argument("--json", action="store_true", help="print the run document as JSON")
    run.add_argument("--all-states", action="store_true",
                     help="with --json, include the full state after every step")
    comp = sub.add_parser("compare", help="run a scenario through several designs, side by side")
    comp.add_argument("scenario", help="a scenario file (.json) or the name of a built-in one")
    comp.add_argument("--designs", default="all", metavar="all|NAME[+OPTION...],...",
                      help="the designs to compare (default: all available, each with the "
                           "scenario's options that belong to it); each NAME[+OPTION...] runs "
                           "exactly as written, e.g. anon_vma_267,anon_vma_267+exact_267")
    comp.add_argument("--json", action="store_true",
                      help="print the compare document (with each design's run document)")
    for command in (run, comp):
        command.add_argument("--check", choices=MODES, default="incremental",
                             help="after each step, check the invariants of what the step "
                                  "touched (incremental, the default) or of the whole state "
                                  "(full: slower, the test suite's)")
    serve = sub.add_parser("serve", help="serve the laboratory and the API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for a room)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sub.add_parser("scenarios", help="list the built-in scenarios")
    sub.add_parser("designs", help="list the designs and their options")
    from .kernelcheck.cli import add_parser as add_kernel_check
    add_kernel_check(sub)  # rmaplab kernel-check; sets args.kernel_check
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a bad scenario or argument)."""
    args = _parser().parse_args(argv)
    if getattr(args, "kernel_check", None):
        return int(args.kernel_check(args))
    if args.command == "serve":
        import uvicorn

        uvicorn.run("app.main:app", host=args.host, port=args.port)
        return 0
    if args.command in ("run", "compare"):
        set_mode(args.check)
    try:
        if args.command == "scenarios":
            for name in builtin_names():
                print(f"{name:<28} {load_builtin(name).get('title', '')}")
            return 0
        if args.command == "designs":
            for name in DESIGN_NAMES:
                if name in available_designs():
                    cls = design_class(name)
                    print(f"{name:<16} {cls.title} ({cls.era})")
                    for opt, text in cls.option_help.items():
                        print(f"{'':<18}--option {opt}: {text}")
                else:
                    print(f"{name:<16} (not yet available)")
            return 0
        if args.command == "compare":
            doc = compare_scenario(load_scenario(args.scenario), _designs(args.designs))
            text = render_compare(doc)
        else:
            doc = run_scenario(load_scenario(args.scenario), design=args.design,
                               options=args.options, all_states=args.all_states)
            text = render_run(doc)
    except EngineError as exc:
        print(f"rmaplab: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text)
    return 0


def _designs(spec: str) -> list[str] | None:
    """``all`` (None: every design, with the scenario's options) or a comma-separated list
    of design variants, each checked."""
    if spec == "all":
        return None
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise DesignUnavailable("--designs: give 'all' or design names separated by commas")
    for name in names:
        parse_variant(name)
    return names


if __name__ == "__main__":
    sys.exit(main())
