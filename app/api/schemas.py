"""Request and response models: strict at the boundary (``extra="forbid"``).

The op models mirror the scenario format (docs/scenarios.md) one to one; a valid model
is converted to an engine op by the engine's own ``parse_op``, so the API and the CLI
accept exactly the same ops. Errors name the exact location (422).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..engine.ops import MAX_ID, MAX_PAGES, MAX_PID, MAX_VALUE, parse_address
from ..engine.state import PAGE_SIZE

Prot = Literal["none", "r", "w", "x", "rw", "rx", "wx", "rwx"]


def _address(value: Any) -> int:
    try:
        return parse_address(value)
    except Exception as exc:  # the engine's message, e.g. "addr: -1 is negative"
        raise ValueError(str(exc).split(": ", 1)[-1]) from None


Address = Annotated[int, BeforeValidator(_address),
                    Field(description="an address: an integer or a \"0x...\" string",
                          json_schema_extra={"anyOf": [{"type": "integer"},
                                                       {"type": "string"}]})]
Pid = Annotated[int, Field(ge=1, le=MAX_PID, strict=True,
                           description="a process id (1 to PID_MAX_LIMIT)")]
Pfn = Annotated[int, Field(ge=1, le=MAX_ID, strict=True, description="a frame number")]
Pages = Annotated[int, Field(ge=1, le=MAX_PAGES, strict=True)]
Value = Annotated[int, Field(ge=-MAX_VALUE, le=MAX_VALUE, strict=True)]


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: the address fields that must be page-aligned
    aligned: ClassVar[tuple[str, ...]] = ()

    @field_validator("addr", "new_addr", check_fields=False)
    @classmethod
    def _page_aligned(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.field_name in cls.aligned and value % PAGE_SIZE:
            raise ValueError(f"{value:#x} is not page-aligned (a multiple of {PAGE_SIZE:#x})")
        return value

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
    addr: Address | None = None
    aligned = ("addr",)


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
    addr: Address
    pages: Pages
    aligned = ("addr",)


class MprotectOp(_Op):
    op: Literal["mprotect"]
    pid: Pid
    addr: Address
    pages: Pages
    prot: Prot
    aligned = ("addr",)


class MremapOp(_Op):
    op: Literal["mremap"]
    pid: Pid
    addr: Address
    pages: Pages
    new_pages: Pages
    new_addr: Address | None = None
    aligned = ("addr", "new_addr")


class MergeOp(_Op):
    op: Literal["merge"]
    pid: Pid
    addr: Address


class ReclaimOp(_Op):
    op: Literal["reclaim"]
    pfn: Pfn | None = None
    pid: Pid | None = None
    addr: Address | None = None
    count: Pages | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ReclaimOp:
        forms = [self.pfn is not None, self.pid is not None or self.addr is not None,
                 self.count is not None]
        if sum(forms) != 1:
            raise ValueError("give exactly one of pfn, pid with addr, or count")
        if (self.pid is None) != (self.addr is None):
            raise ValueError("pid and addr go together")
        return self


Op = Annotated[SpawnOp | MmapOp | ReadOp | WriteOp | ForkOp | ExitOp | MunmapOp | MprotectOp
               | MremapOp | MergeOp | ReclaimOp, Field(discriminator="op")]


class OpRequest(BaseModel):
    """One op, and optionally the step the client believes is current."""

    model_config = ConfigDict(extra="forbid")
    op: Op
    expected_step: int | None = Field(default=None, ge=0, strict=True,
                                      description="refuse with 409 unless the session is at "
                                                  "this step (optimistic concurrency)")


DesignName = Literal["pte_chain", "anonmm", "anon_vma_rfc2", "anon_vma_267", "anon_vma_chain"]


class DesignChoice(BaseModel):
    """A design and its options."""

    model_config = ConfigDict(extra="forbid")
    design: DesignName
    options: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list,
                                                                max_length=8)


class ScenarioBody(BaseModel):
    """A scenario in the scenario format (docs/scenarios.md)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=80)] = "untitled"
    title: Annotated[str, Field(max_length=200)] = ""
    description: Annotated[str, Field(max_length=4000)] = ""
    design: DesignName = "anon_vma_rfc2"
    options: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list,
                                                                max_length=8)
    ops: list[Op]

    def engine_json(self) -> dict[str, Any]:
        data = self.model_dump(exclude={"ops"})
        data["ops"] = [op.engine_json() for op in self.ops]
        return data


class SessionCreate(BaseModel):
    """A new session: which designs step together, and what to start from."""

    model_config = ConfigDict(extra="forbid")
    designs: list[DesignChoice] = Field(default_factory=list, max_length=5,
                                        description="default: the scenario's design, or "
                                                    "anon_vma_rfc2")
    scenario: Annotated[str, Field(max_length=80)] | None = Field(
        default=None, description="the name of a built-in scenario to load")
    ops: list[Op] | None = Field(default=None, description="inline ops to apply")
    at_step: int | None = Field(default=None, ge=0, strict=True,
                                description="leave the session at this step (default: the end)")

    @model_validator(mode="after")
    def _one_source(self) -> SessionCreate:
        if self.scenario is not None and self.ops is not None:
            raise ValueError("give a scenario name or inline ops, not both")
        return self


class RunRequest(BaseModel):
    """A stateless run: the ``rmaplab run --json`` document for each design."""

    model_config = ConfigDict(extra="forbid")
    scenario: ScenarioBody
    designs: list[DesignName] | None = Field(default=None, max_length=5)
    options: list[Annotated[str, Field(max_length=40)]] | None = Field(default=None,
                                                                       max_length=8)
    states: Literal["final", "all"] = "final"


class CompareRequest(BaseModel):
    """A stateless comparison: the ``rmaplab compare --json`` document."""

    model_config = ConfigDict(extra="forbid")
    scenario: ScenarioBody
    designs: list[Annotated[str, Field(max_length=80)]] | None = Field(default=None,
                                                                        max_length=8)


class ErrorBody(BaseModel):
    """Every error response: a message that names the problem."""

    detail: Any
