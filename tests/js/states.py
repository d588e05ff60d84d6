"""Real state documents for the node tests of app/static/js/layout.js, with the design
catalogue the page receives: `python -m tests.js.states > states.json`."""

from __future__ import annotations

import json
from typing import Any

from app.engine import run_scenario
from app.pages import catalogue
from app.scenarios import load_builtin

#: (scenario, design or None for the scenario's own, step or None for the end): states that
#: cover every kind of box and arrow: PageDirect, the swap cache, the zero page, each
#: design's rmap objects, a freed anon_vma still pointed at, and the limits' summaries.
CASES: list[tuple[str, str | None, int | None]] = [
    ("seed-story", None, None),
    ("seed-story", None, 5),
    ("s2-zero-page", None, 3),
    ("s3-fork-shares", "pte_chain", None),
    ("s9-fork-cow-mremap", "pte_chain", 7),
    ("s3-fork-shares", "anonmm", None),
    ("s3-fork-shares", "anon_vma_rfc2", None),
    ("s3-fork-shares", "anon_vma_267", None),
    ("s3-fork-shares", "anon_vma_chain", None),
    ("s13-grandchild", "anonmm", None),
    ("rc3-oops", None, None),
    ("aim7-shape", "anon_vma_chain", None),
    ("tons-of-vmas", None, None),
]


def layout_states() -> dict[str, Any]:
    """``{"designs": the page's catalogue, "states": [{"name", "state"}]}``."""
    states = []
    for scenario, design, step in CASES:
        doc = run_scenario(load_builtin(scenario), design=design, all_states=step is not None)
        state = doc["state"] if step is None else doc["steps"][step - 1]["state"]
        name = f"{scenario} under {state['design']} at step {step or 'end'}"
        states.append({"name": name, "state": state})
    return {"designs": catalogue()["designs"], "states": states}


if __name__ == "__main__":
    print(json.dumps(layout_states()))
