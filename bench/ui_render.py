"""Render and animate one step of a large state in headless Chromium.

Usage: python bench/ui_render.py [--vmas 64] [--frames 512]

Builds a session whose state has VMAS vmas and FRAMES frames (4 processes, VMAS/4 vmas
each, FRAMES/VMAS pages written per vma), opens the laboratory on it in Debian's
chromium (/usr/bin/chromium), then steps back and forth. Measured in the page with
performance.now(): the time to lay out and draw a step (the app's lastRenderMs), and
the longest frame (requestAnimationFrame gap) while the step animates. Target: under
16 ms per frame.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.api.server import Server

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

FRAME_GAPS = """() => new Promise(resolve => {
  const gaps = []; let last = performance.now(); let n = 0;
  function tick(t) { gaps.push(t - last); last = t; if (++n < 90) requestAnimationFrame(tick);
                     else resolve(gaps); }
  requestAnimationFrame(tick);
})"""


def scenario(vmas: int, frames: int) -> list[dict]:
    per = max(1, frames // vmas)
    ops = [{"op": "spawn", "pid": 1}]
    for v in range(vmas):
        base = 0x100000 + v * 0x100000
        ops.append({"op": "mmap", "pid": 1, "addr": base, "pages": per, "prot": "rw"})
        ops.append({"op": "write", "pid": 1, "addr": base, "value": v, "pages": per})
    ops += [
        {"op": "fork", "pid": 1, "child": 2},
        {"op": "write", "pid": 2, "addr": 0x100000, "value": 1},
        {"op": "reclaim", "pid": 1, "addr": 0x200000},
    ]
    return ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vmas", type=int, default=64)
    parser.add_argument("--frames", type=int, default=512)
    args = parser.parse_args()
    ops = scenario(args.vmas, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "ui.sqlite3").start()
        try:
            sid = httpx.post(
                server.url + "/api/sessions", json={"ops": ops, "at_step": len(ops) - 2}
            ).json()["id"]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
                page.goto(f"{server.url}/?session={sid}&step={len(ops) - 2}")
                page.wait_for_selector("body[data-ready='1']", timeout=60000)
                state = page.evaluate("window.rmaplab.view.designs[0].state")
                vmas = sum(len(m["vmas"]) for m in state["mms"])
                renders, worst = [], []
                for key in ["ArrowRight", "ArrowLeft"] * 5:
                    before = page.evaluate("window.rmaplab.session.step")
                    page.keyboard.press(key)
                    page.wait_for_function(
                        f"window.rmaplab.session.step !== {before} && !window.rmaplab.busy"
                    )
                    renders.append(page.evaluate("window.rmaplab.lastRenderMs"))
                    worst.append(max(page.evaluate(FRAME_GAPS)))
                page.wait_for_timeout(3000)
                idle = max(page.evaluate(FRAME_GAPS))
                nodes = page.evaluate("document.querySelectorAll('.panel .node').length")
                browser.close()
        finally:
            server.stop()
    print(
        f"state: {vmas} vmas, {len(state['pages'])} frames; {nodes} SVG nodes drawn "
        "(frames beyond 160 are grouped)"
    )
    print(
        f"layout+draw per step: median {statistics.median(renders):.1f} ms, "
        f"max {max(renders):.1f} ms"
    )
    print(
        f"longest animation frame: median {statistics.median(worst):.1f} ms, "
        f"max {max(worst):.1f} ms (idle page, for comparison: {idle:.1f} ms)"
    )


if __name__ == "__main__":
    main()
