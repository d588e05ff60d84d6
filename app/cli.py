"""The ``rmaplab`` command: run scenarios through the engine from a terminal."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .engine import (
    DESIGN_NAMES,
    DesignUnavailable,
    EngineError,
    compare_scenario,
    design_catalogue,
    design_class,
    run_scenario,
)
from .engine.check import MODES, set_mode
from .engine.compare import parse_variant
from .kernelcheck.cli import add_parser as add_kernel_check
from .render import render_compare, render_run
from .scenarios import load_scenario, summaries


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rmaplab", description="A laboratory for Linux anonymous-page reverse mapping (rmap)."
    )
    parser.add_argument("--version", action="version", version=f"rmaplab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario and print every step and the final state")
    run.add_argument("scenario", help="a scenario file (.json) or the name of a built-in one")
    run.add_argument(
        "--design", choices=DESIGN_NAMES, help="run under this design instead of the scenario's own"
    )
    run.add_argument(
        "--option",
        action="append",
        dest="options",
        metavar="NAME",
        help="a design option (repeatable); replaces the scenario's options",
    )
    run.add_argument("--json", action="store_true", help="print the run document as JSON")
    run.add_argument(
        "--all-states",
        action="store_true",
        help="with --json, include the full state after every step",
    )
    run.set_defaults(func=_run)
    comp = sub.add_parser("compare", help="run a scenario through several designs, side by side")
    comp.add_argument("scenario", help="a scenario file (.json) or the name of a built-in one")
    comp.add_argument(
        "--designs",
        default="all",
        metavar="all|NAME[+OPTION...],...",
        help="the designs to compare (default: all available, each with the "
        "scenario's options that belong to it); each NAME[+OPTION...] runs "
        "exactly as written, e.g. anon_vma_267,anon_vma_267+exact_267",
    )
    comp.add_argument(
        "--json",
        action="store_true",
        help="print the compare document (with each design's run document)",
    )
    comp.set_defaults(func=_compare)
    for command in (run, comp):
        command.add_argument(
            "--check",
            choices=MODES,
            default="incremental",
            help="after each step, check the invariants of what the step "
            "touched (incremental, the default) or of the whole state "
            "(full: slower, the test suite's)",
        )
    serve = sub.add_parser("serve", help="serve the laboratory and the API (uvicorn)")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 for a room)",
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes on the port (default 1), each with its own "
        "engine workers; more than one needs the shared store "
        "(RMAPLAB_STORE=redis://HOST:PORT/DB, docs/deploy.md)",
    )
    serve.set_defaults(func=_serve)
    scen = sub.add_parser("scenarios", help="list the built-in scenarios")
    scen.add_argument(
        "--json",
        action="store_true",
        help="print each scenario's name, title, description, design, options and length as JSON",
    )
    scen.set_defaults(func=_scenarios)
    sub.add_parser("designs", help="list the designs and their options").set_defaults(
        func=_designs_list
    )
    add_kernel_check(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a bad scenario or argument).

    Output cut short by a closed pipe (``rmaplab run X --json | head``) ends quietly.
    """
    args = _parser().parse_args(argv)
    try:
        try:
            return int(args.func(args))
        except EngineError as exc:
            print(f"rmaplab: {exc}", file=sys.stderr)
            return 2
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away: send what is left of stdout nowhere, so that the
        # interpreter's own flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _serve(args: argparse.Namespace) -> int:
    """uvicorn with the app factory; ``--workers N`` starts N processes on one port."""
    import uvicorn

    from .api.config import Settings

    settings = Settings.from_env()  # a bad variable stops here, once, in one line
    if args.workers < 1:
        print("rmaplab: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1 and not settings.store:
        print(
            f"rmaplab: --workers {args.workers} needs the shared store: set "
            "RMAPLAB_STORE=redis://HOST:PORT/DB (the SQLite store, RMAPLAB_DB, serves one "
            "process; docs/deploy.md)",
            file=sys.stderr,
        )
        return 2
    if args.workers == 1:
        uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port)
        return 0
    return _serve_many(args.host, args.port, args.workers)


def _listen(host: str, port: int) -> socket.socket:
    """A socket on host:port that other processes may bind too (SO_REUSEPORT): the kernel
    spreads new connections evenly over them."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _serve_one(sock: socket.socket) -> None:
    """One server process of ``serve --workers N``, on its own socket."""
    import uvicorn

    uvicorn.Server(uvicorn.Config("app.main:create_app", factory=True)).run(sockets=[sock])


def _serve_many(host: str, port: int, n: int) -> int:
    """N server processes, each with its own socket on the port (SO_REUSEPORT); one that
    dies is replaced; SIGTERM or SIGINT stops them all (each finishes its requests)."""
    ctx = multiprocessing.get_context("spawn")
    try:
        sockets = [_listen(host, port) for _ in range(n)]
    except OSError as exc:
        print(f"rmaplab: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    procs = [
        ctx.Process(target=_serve_one, args=(sock,), name="rmaplab-server") for sock in sockets
    ]
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc in procs:
        proc.start()
    while not stopping:
        for i, proc in enumerate(procs):
            if not proc.is_alive() and not stopping:
                print(
                    f"rmaplab: server process {proc.pid} exited ({proc.exitcode}); "
                    "starting another",
                    file=sys.stderr,
                )
                procs[i] = ctx.Process(target=_serve_one, args=(sockets[i],), name="rmaplab-server")
                procs[i].start()
        time.sleep(0.5)
    for proc in procs:
        proc.join(30)
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    if args.json:
        _print_json(summaries())
    else:
        for item in summaries():
            print(f"{item['name']:<28} {item['title']}")
    return 0


def _designs_list(args: argparse.Namespace) -> int:
    for entry in design_catalogue():
        name = entry["name"]
        if not entry["available"]:
            print(f"{name:<16} (not yet available)")
            continue
        cls = design_class(name)
        print(f"{name:<16} {entry['title']} ({entry['era']})")
        print(f"{'':<18}functions named as in: {cls.era_for().title}")
        for opt, text in entry["options"].items():
            era = f" [functions of {cls.era_for((opt,)).title}]" if opt in cls.option_eras else ""
            print(f"{'':<18}--option {opt}: {text}{era}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    set_mode(args.check)
    doc = compare_scenario(load_scenario(args.scenario), _designs(args.designs))
    _output(args, doc, render_compare)
    return 0


def _run(args: argparse.Namespace) -> int:
    set_mode(args.check)
    doc = run_scenario(
        load_scenario(args.scenario),
        design=args.design,
        options=args.options,
        all_states=args.all_states,
    )
    _output(args, doc, render_run)
    return 0


def _output(
    args: argparse.Namespace, doc: dict[str, Any], render: Callable[[dict[str, Any]], str]
) -> None:
    """The document as JSON with ``--json``, else as text."""
    if args.json:
        _print_json(doc)
    else:
        sys.stdout.write(render(doc))


def _print_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


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
