"""Catalogue, stateless runs and comparisons, health, headers, and the OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import main
from app.pages import catalogue

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TINY = {
    "name": "tiny",
    "ops": [
        {"op": "spawn", "pid": 1},
        {"op": "mmap", "pid": 1, "addr": "0x1000", "pages": 1, "prot": "rw"},
        {"op": "write", "pid": 1, "addr": "0x1000", "value": 5},
        {"op": "reclaim", "pfn": 1},
    ],
}


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert "anon_vma_rfc2" in r.json()["designs"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_designs_catalogue(client):
    designs = {d["name"]: d for d in client.get("/api/designs").json()}
    assert list(designs) == [
        "pte_chain",
        "anonmm",
        "anon_vma_rfc2",
        "anon_vma_267",
        "anon_vma_chain",
    ]
    rfc2 = designs["anon_vma_rfc2"]
    assert rfc2["available"] and "rfc2_literal" in rfc2["options"]
    assert rfc2["sizes"]["struct anon_vma (spinlock + list_head, SMP)"] == 12


def test_the_page_and_the_cli_show_the_apis_catalogue(client, capsys):
    api = [d for d in client.get("/api/designs").json() if d["available"]]
    page = catalogue()["designs"]
    assert [d["name"] for d in page] == [d["name"] for d in api]
    assert all(p.items() <= a.items() for p, a in zip(page, api, strict=True))
    assert main(["designs"]) == 0
    listed = capsys.readouterr().out
    assert all(f"{d['name']:<16} {d['title']} ({d['era']})" in listed for d in api)


def test_scenarios_catalogue_matches_the_files(client):
    listed = client.get("/api/scenarios").json()
    assert sorted(s["name"] for s in listed) == sorted(p.stem for p in SCENARIOS.glob("*.json"))
    one = client.get("/api/scenarios/s3-fork-shares").json()
    assert one == json.loads((SCENARIOS / "s3-fork-shares.json").read_text())
    assert client.get("/api/scenarios/nope").status_code == 404


def test_runs_give_the_cli_document(client):
    from app.engine import run_scenario

    r = client.post(
        "/api/runs", json={"scenario": TINY, "designs": ["anon_vma_rfc2", "anon_vma_267"]}
    )
    assert r.status_code == 200
    runs = r.json()["runs"]
    assert [d["design"] for d in runs] == ["anon_vma_rfc2", "anon_vma_267"]
    assert runs[0] == json.loads(json.dumps(run_scenario(TINY)))
    all_states = client.post("/api/runs", json={"scenario": TINY, "states": "all"}).json()
    assert all("state" in s for s in all_states["runs"][0]["steps"])


def test_runs_errors(client):
    bad = {"name": "bad", "ops": [{"op": "spawn", "pid": 1}, {"op": "exit", "pid": 2}]}
    r = client.post("/api/runs", json={"scenario": bad})
    assert r.status_code == 409
    assert r.json() == {
        "detail": "step 2 (exit pid=2): unknown pid 2",
        "design": "anon_vma_rfc2",
        "step": 2,
    }
    r = client.post("/api/runs", json={"scenario": TINY, "options": ["turbo"]})
    assert r.status_code == 422
    r = client.post("/api/runs", json={"scenario": {**TINY, "extra": 1}})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "scenario", "extra"]


def test_compare_document(client):
    r = client.post("/api/compare", json={"scenario": TINY})
    assert r.status_code == 200
    doc = r.json()
    assert {"scenario", "designs", "agreement"} <= set(doc) and doc["agreement"]["ok"]
    r = client.post("/api/compare", json={"scenario": TINY, "designs": ["anon_vma_267+nope"]})
    assert r.status_code == 422


def test_run_op_limit(small_client):
    ops = [{"op": "spawn", "pid": 1}] + [{"op": "read", "pid": 1, "addr": 0}] * 12
    r = small_client.post("/api/runs", json={"scenario": {"ops": ops}})
    assert r.status_code == 422 and "limit is 12" in r.json()["errors"][0]["msg"]


def test_openapi_declares_every_error_status(client):
    spec = client.get("/openapi.json").json()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            if path.startswith("/api/sessions/{session_id}"):
                assert {"404", "422"} <= codes, (method, path)
            if (
                method == "post"
                and path != "/api/sessions/{session_id}/undo"
                and path != "/api/sessions/{session_id}/redo"
            ):
                assert "422" in codes, (method, path)


def test_internal_errors_hide_the_trace(monkeypatch):
    from fastapi.testclient import TestClient

    from app.api import routes
    from app.api.config import Settings
    from app.main import create_app

    client = TestClient(create_app(Settings(db=":memory:")), raise_server_exceptions=False)

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(routes, "summaries", boom)
    r = client.get("/api/scenarios")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert "secret" not in r.text


def test_scenarios_may_say_how_the_laboratory_shows_them(client):
    """``designs`` and ``at_step`` (the laboratory's export) are part of the format."""
    shown = {
        **TINY,
        "designs": [{"design": "anon_vma_267", "options": ["exact_267"]}, {"design": "pte_chain"}],
        "at_step": 3,
    }
    assert client.post("/api/runs", json={"scenario": shown}).status_code == 200
    for bad, where in (
        ({"at_step": -1}, "at_step"),
        ({"designs": [{"design": "nope"}]}, "designs"),
    ):
        r = client.post("/api/runs", json={"scenario": {**TINY, **bad}})
        assert r.status_code == 422 and where in json.dumps(r.json()["detail"]), r.text
