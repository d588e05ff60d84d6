"""The API's op schemas and the engine's op rules say the same thing.

The engine (app/engine/ops.py) declares the ops, their fields, which addresses must be
page-aligned, the prots, the designs and reclaim's forms; the API's request models
(app/api/schemas.py) state them again for /openapi.json. These tests hold the two
together: a change on one side alone fails here.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from itertools import combinations
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from app.api.schemas import DesignName, Op, Prot
from app.engine import DESIGN_NAMES, EngineError, parse_op
from app.engine.ops import ALIGNED, OPS, RECLAIM_FORMS
from app.engine.state import PAGE_SIZE, PROTS

#: the API's model of each op, by name
MODELS: dict[str, type[BaseModel]] = {
    get_args(m.model_fields["op"].annotation)[0]: m for m in get_args(get_args(Op)[0])
}


def test_the_prots_and_design_names_are_the_engines():
    assert get_args(Prot) == PROTS
    assert get_args(DesignName) == DESIGN_NAMES


def test_every_engine_op_has_a_model_with_its_fields():
    assert set(MODELS) == set(OPS)
    for name, cls in OPS.items():
        engine = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        model = MODELS[name].model_fields
        assert set(model) - {"op"} == engine, name
        assert {f for f, info in model.items() if info.is_required()} - {"op"} == required, name


@pytest.mark.parametrize("name", sorted(OPS))
def test_the_aligned_addresses_are_the_engines(name):
    props = MODELS[name].model_json_schema()["properties"]
    aligned = {
        f
        for f, schema in props.items()
        if any(
            branch.get("multipleOf") == PAGE_SIZE
            for branch in schema.get("anyOf", [schema])
            for branch in branch.get("anyOf", [branch])
        )
    }
    assert aligned == set(ALIGNED.get(OPS[name], ())), name


def _accepts(data: dict[str, Any]) -> tuple[bool, bool]:
    """Whether the API and the engine take the op."""
    try:
        MODELS[data["op"]].model_validate(data)
        api = True
    except ValidationError:
        api = False
    try:
        parse_op(data)
        engine = True
    except EngineError:
        engine = False
    return api, engine


@pytest.mark.parametrize(
    "given",
    [c for k in range(5) for c in combinations(("pfn", "pid", "addr", "count"), k)],
    ids=lambda c: "+".join(c) or "none",
)
def test_reclaim_takes_the_same_forms_as_the_engine(given):
    values = {"pfn": 3, "pid": 1, "addr": 4096, "count": 2}
    api, engine = _accepts({"op": "reclaim", **{f: values[f] for f in given}})
    assert api == engine == (tuple(given) in RECLAIM_FORMS)


def test_the_reclaim_schema_states_the_forms():
    schema = MODELS["reclaim"].model_json_schema()
    assert [branch["required"] for branch in schema["oneOf"]] == [list(f) for f in RECLAIM_FORMS]


def test_the_bounds_are_in_the_schema_as_json_schema_says_them(small_client):
    """``minimum``/``maximum`` (not pydantic's own words), with RMAPLAB_MAX_PAGES applied to
    every page count, reclaim's ``count`` included."""
    schemas = small_client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("SpawnOp", "ReclaimOp", "MmapOp", "MremapOp"):
        for field, prop in schemas[name]["properties"].items():
            for branch in (prop, *prop.get("anyOf", ())):
                assert "ge" not in branch and "le" not in branch, (name, field)
                if branch.get("type") == "integer" and field in ("pages", "new_pages", "count"):
                    assert branch["maximum"] == 8, (name, field)
                elif branch.get("type") == "integer":
                    assert "minimum" in branch and "maximum" in branch, (name, field)
