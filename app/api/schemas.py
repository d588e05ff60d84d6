"""Request and response models: strict at the boundary (``extra="forbid"``).

The op models mirror the scenario format (docs/scenarios.md) one to one; a valid model
is converted to an engine op by the engine's own ``parse_op``, so the API and the CLI
accept exactly the same ops. Errors name the exact location (422).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import reduce
from itertools import combinations
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from annotated_types import Ge, Le
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from ..engine import DESIGN_NAMES, EngineError, design_class, new_state
from ..engine.ops import (
    MAX_ID,
    MAX_PAGES,
    MAX_PID,
    MAX_VALUE,
    RECLAIM_FORMS,
    parse_address,
    reclaim_problem,
)
from ..engine.state import PAGE_SIZE, TASK_SIZE

Prot = Literal["none", "r", "w", "x", "rw", "rx", "wx", "rwx"]
#: "0x..." below TASK_SIZE (0xc0000000), and the same ending in 000 (page-aligned)
HEX = r"^0[xX]0*([0-9a-bA-B][0-9a-fA-F]{7}|[0-9a-fA-F]{1,7})$"
HEX_ALIGNED = r"^0[xX]0*([0-9a-bA-B][0-9a-fA-F]{4}|[0-9a-fA-F]{0,4})000$"


def _integral(value: Any) -> Any:
    """JSON Schema's integers include 5.0: an integral number is taken as the integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: an integer, no strings, no booleans, no fractions: ``Annotated[int, STRICT, Ge(..),
#: Le(..), INTEGRAL]`` (the bounds before the validator, so the schema states them)
STRICT = Strict()
INTEGRAL = BeforeValidator(_integral)


def _address_parser(aligned: bool) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        value = _integral(value)
        if isinstance(value, str) and not re.fullmatch(HEX, value):
            raise ValueError(
                f'{value[:40]!r} is not an address: an integer or a "0x..." '
                f"string below {TASK_SIZE:#x}"
            )
        try:
            addr = parse_address(value)
        except EngineError as exc:  # the engine's message, e.g. "addr: -1 is negative"
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        if aligned and addr % PAGE_SIZE:
            raise ValueError(f"{addr:#x} is not page-aligned (a multiple of {PAGE_SIZE:#x})")
        return addr

    return parse


def _address_schema(aligned: bool) -> dict[str, Any]:
    number: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": TASK_SIZE - 1}
    if aligned:
        number["multipleOf"] = PAGE_SIZE
    what = "a page-aligned address" if aligned else "an address"
    return {
        "anyOf": [number, {"type": "string", "pattern": HEX_ALIGNED if aligned else HEX}],
        "description": f'{what}: an integer or a "0x..." string, below TASK_SIZE',
    }


Address = Annotated[
    int, BeforeValidator(_address_parser(False)), WithJsonSchema(_address_schema(False))
]
Aligned = Annotated[
    int, BeforeValidator(_address_parser(True)), WithJsonSchema(_address_schema(True))
]
Pid = Annotated[
    int,
    STRICT,
    Ge(1),
    Le(MAX_PID),
    INTEGRAL,
    Field(description="a process id (1 to PID_MAX_LIMIT)"),
]
Pfn = Annotated[int, STRICT, Ge(1), Le(MAX_ID), INTEGRAL, Field(description="a frame number")]
#: the maximum is RMAPLAB_MAX_PAGES in each app's schema (``limit_schema``)
Pages = Annotated[int, STRICT, Ge(1), Le(MAX_PAGES), INTEGRAL]
Value = Annotated[int, STRICT, Ge(-MAX_VALUE), Le(MAX_VALUE), INTEGRAL]
Step = Annotated[int, STRICT, Ge(0), Le(MAX_ID), INTEGRAL]


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def engine_json(self) -> dict[str, Any]:
        """The op as the scenario format's JSON object."""
        return self.model_dump(exclude_none=True)


class SpawnOp(_Op):
    op: Literal["spawn"]
    pid: Pid


class MmapOp(_Op):
    op: Literal["mmap"]
    pid: Pid
    pages: Pages
    prot: Prot
    addr: Aligned | None = None


class ReadOp(_Op):
    op: Literal["read"]
    pid: Pid
    addr: Address
    pages: Pages = 1


class WriteOp(_Op):
    op: Literal["write"]
    pid: Pid
    addr: Address
    value: Value
    pages: Pages = 1


class ForkOp(_Op):
    op: Literal["fork"]
    pid: Pid
    child: Pid


class ExitOp(_Op):
    op: Literal["exit"]
    pid: Pid


class MunmapOp(_Op):
    op: Literal["munmap"]
    pid: Pid
    addr: Aligned
    pages: Pages


class MprotectOp(_Op):
    op: Literal["mprotect"]
    pid: Pid
    addr: Aligned
    pages: Pages
    prot: Prot


class MremapOp(_Op):
    op: Literal["mremap"]
    pid: Pid
    addr: Aligned
    pages: Pages
    new_pages: Pages
    new_addr: Aligned | None = None


class MergeOp(_Op):
    op: Literal["merge"]
    pid: Pid
    addr: Address


class ReclaimOp(_Op):
    """Exactly one form: ``pfn``, ``pid`` with ``addr``, or ``count`` (the engine's
    ``RECLAIM_FORMS``, checked by its ``reclaim_problem``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {
                    "required": list(form),
                    "not": {
                        "anyOf": [
                            {"required": [f]}
                            for other in RECLAIM_FORMS
                            if other != form
                            for f in other
                        ]
                    },
                }
                for form in RECLAIM_FORMS
            ]
        },
    )
    op: Literal["reclaim"]
    # absent, never null: the schema's forms say which fields are present
    pfn: Pfn | SkipJsonSchema[None] = None
    pid: Pid | SkipJsonSchema[None] = None
    addr: Address | SkipJsonSchema[None] = None
    count: Pages | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _one_form(self) -> ReclaimOp:
        null = sorted(f for f in self.model_fields_set if getattr(self, f) is None)
        if null:
            raise ValueError(f"{null[0]}: give a number, or leave the field out")
        problem = reclaim_problem(self.model_dump())
        if problem:
            raise ValueError(problem)
        return self


Op = Annotated[
    SpawnOp
    | MmapOp
    | ReadOp
    | WriteOp
    | ForkOp
    | ExitOp
    | MunmapOp
    | MprotectOp
    | MremapOp
    | MergeOp
    | ReclaimOp,
    Field(discriminator="op"),
]


class OpRequest(BaseModel):
    """One op, and optionally the step the client believes is current."""

    model_config = ConfigDict(extra="forbid")
    op: Op
    expected_step: Step | None = Field(
        default=None,
        description="refuse with 409 unless the session is at this step (optimistic concurrency)",
    )


DesignName = Literal["pte_chain", "anonmm", "anon_vma_rfc2", "anon_vma_267", "anon_vma_chain"]


def _problem(design: str, options: tuple[str, ...]) -> str | None:
    """Why the design cannot run with these options (the engine's words), or None."""
    try:
        new_state(design, frozenset(options))
    except EngineError as exc:
        return str(exc)
    return None


def _options_schema(design: str) -> dict[str, Any]:
    """The options a design takes, and the pairs that exclude each other."""
    known = tuple(design_class(design).option_help)
    clash = [pair for pair in combinations(known, 2) if _problem(design, pair)]
    schema: dict[str, Any] = {
        "type": "array",
        "maxItems": len(known),
        "uniqueItems": True,
        "items": {"enum": list(known)} if known else {},
    }
    if clash:
        schema["not"] = {
            "anyOf": [{"allOf": [{"contains": {"const": o}} for o in pair]} for pair in clash]
        }
    return schema


def _options_valid(design: str) -> Any:
    def check(options: list[str]) -> list[str]:
        if len(set(options)) != len(options):
            raise ValueError("an option is named twice")
        problem = _problem(design, tuple(options))
        if problem:
            raise ValueError(problem)
        return options

    return Annotated[
        list[str],
        Field(max_length=8),
        BeforeValidator(_check_list),
        AfterValidator(check),
        WithJsonSchema(_options_schema(design)),
    ]


def _check_list(value: Any) -> Any:
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise ValueError("options must be a list of option names")
    return value


def _choice(design: str) -> type[BaseModel]:
    name: Any = Literal[design]  # a type built at run time
    return create_model(
        f"DesignChoice_{design}",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"The design {design} and its options.",
        design=(name, ...),
        options=(_options_valid(design), Field(default_factory=list)),
    )


# Both are built at run time from the engine's catalogue; a type checker sees what they hold.
if TYPE_CHECKING:
    DesignChoice = BaseModel
    Option = str
else:
    #: a design and its options: one model per design, chosen by ``design``
    DesignChoice = Annotated[
        reduce(or_, (_choice(d) for d in DESIGN_NAMES)), Field(discriminator="design")
    ]
    #: every option of every design
    Option = Literal[tuple(o for d in DESIGN_NAMES for o in design_class(d).option_help)]
#: option pairs that exclude each other, whatever the design
CLASHES = [
    pair
    for d in DESIGN_NAMES
    for pair in combinations(design_class(d).option_help, 2)
    if _problem(d, pair)
]


def _no_clash(options: list[str]) -> list[str]:
    for a, b in CLASHES:
        if a in options and b in options:
            raise ValueError(f"the options {a!r} and {b!r} exclude each other")
    return options


#: the options of a scenario or a run: each known, no two that exclude each other
Options = Annotated[
    list[Option],
    Field(max_length=8),
    AfterValidator(_no_clash),
    WithJsonSchema(
        {
            "type": "array",
            "maxItems": 8,
            "items": {"enum": list(get_args(Option))},
            "not": {
                "anyOf": [{"allOf": [{"contains": {"const": o}} for o in pair]} for pair in CLASHES]
            },
        }
    ),
]
#: every design variant ``name[+option...]`` (options in their listed order), for compare
VARIANTS = [
    "+".join((d, *c))
    for d in DESIGN_NAMES
    for k in range(len(design_class(d).option_help) + 1)
    for c in combinations(design_class(d).option_help, k)
    if not _problem(d, c)
]


class ScenarioBody(BaseModel):
    """A scenario in the scenario format (docs/scenarios.md)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=80)] = "untitled"
    title: Annotated[str, Field(max_length=200)] = ""
    description: Annotated[str, Field(max_length=4000)] = ""
    design: DesignName = "anon_vma_rfc2"
    options: Options = Field(
        default_factory=list,
        description="options of the scenario's design (a design run or compared with it "
        "takes those of them that are its own)",
    )
    ops: list[Op]
    designs: list[DesignChoice] | None = Field(
        default=None, max_length=5, description="the designs the laboratory shows side by side"
    )
    at_step: Step | None = Field(
        default=None, description="the step the laboratory opens at (past the last step: the last)"
    )

    def engine_json(self) -> dict[str, Any]:
        data = self.model_dump(exclude={"ops"}, exclude_none=True)
        data["ops"] = [op.engine_json() for op in self.ops]
        return data


class SessionCreate(BaseModel):
    """A new session: which designs step together, and what to start from."""

    model_config = ConfigDict(extra="forbid")
    designs: list[DesignChoice] = Field(
        default_factory=list,
        max_length=5,
        description="default: the scenario's design, or anon_vma_rfc2",
    )
    scenario: Annotated[str, Field(max_length=80)] | None = Field(
        default=None, description="the name of a built-in scenario to load"
    )
    ops: list[Op] | None = Field(default=None, description="inline ops to apply")
    at_step: Step | None = Field(
        default=None, description="leave the session at this step (default: 0)"
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"not": {"required": ["scenario", "ops"]}}
    )

    @model_validator(mode="after")
    def _one_source(self) -> SessionCreate:
        if {"scenario", "ops"} <= self.model_fields_set:
            raise ValueError("give a scenario name or inline ops, not both")
        return self


class RunRequest(BaseModel):
    """A stateless run: the ``rmaplab run --json`` document for each design."""

    model_config = ConfigDict(extra="forbid")
    scenario: ScenarioBody
    designs: list[DesignName] | None = Field(default=None, max_length=5)
    options: Options | None = Field(
        default=None,
        description="replace the scenario's options; each design takes those that are its own",
    )
    states: Literal["final", "all"] = "final"


class CompareRequest(BaseModel):
    """A stateless comparison: the ``rmaplab compare --json`` document."""

    model_config = ConfigDict(extra="forbid")
    scenario: ScenarioBody
    designs: list[Literal[tuple(VARIANTS)]] | None = Field(  # type: ignore[valid-type]
        default=None,
        max_length=8,
        description="design variants, name+option+... (default: every design)",
    )


def limit_schema(
    schema: dict[str, Any], max_pages: int, max_ops: int, max_log: int
) -> dict[str, Any]:
    """The OpenAPI document with this service's limits: page counts up to
    RMAPLAB_MAX_PAGES, scenarios up to RMAPLAB_MAX_RUN_OPS ops, a new session's log up to
    RMAPLAB_MAX_STEPS."""
    components = schema.get("components", {}).get("schemas", {})
    for name, model in components.items():
        props = model.get("properties", {})
        for field in ("pages", "new_pages", "count"):
            prop = props.get(field, {})
            for branch in (prop, *prop.get("anyOf", ())):
                if "maximum" in branch:
                    branch["maximum"] = max_pages
        if "ops" in props:
            limit = max_log if name == "SessionCreate" else max_ops
            ops = props["ops"]
            for branch in ops.get("anyOf", [ops]):
                if branch.get("type") == "array":
                    branch["maxItems"] = limit
    return schema
