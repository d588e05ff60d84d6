"""Response models: the JSON contract of every success body, as /openapi.json states it.

The engine builds its documents as plain dicts (standard library only: ``serialize.py``,
``run.py``, ``compare.py``); these models say what those documents hold. They are
checked against the engine by the tests (tests/api/test_models.py: every built-in
scenario's run, compare, session and walk documents validate, and validating loses no
field, so an engine field without a model field fails). Fields may be added to a
document, none renamed or dropped (docs/state.md): the models accept extra fields, the
tests do not.

The large documents (sessions, steps, runs, compare) are encoded once in the engine
worker and sent as they are; their routes declare these models for the schema only.
The small ones (catalogue, healthz, rooms) go through ``response_model``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .schemas import DesignName, Op, Prot

PteKind = Literal["page", "zero", "swap"]


class Doc(BaseModel):
    """A document of the contract: more fields may come, none is renamed or dropped."""

    model_config = ConfigDict(extra="allow")


# ----- the state document --------------------------------------------------------------------


class PteValue(Doc):
    """A PTE without its address: a present frame, the zero page or a swap entry."""

    kind: PteKind
    pfn: int | None
    slot: int | None
    writable: bool


class Pte(PteValue):
    addr: int


class Vma(Doc):
    id: int
    vm_start: int
    vm_end: int
    vm_pgoff: int
    prot: Prot
    anon_vma: int | None
    pages: int


class Mm(Doc):
    """A live process: its vmas by address, its PTEs by address."""

    pid: int
    vmas: list[Vma]
    ptes: list[Pte]


class ObjectRef(Doc):
    """An object a page, event or walk points at: ``{"kind", "id"}``; a PTE adds ``pid``
    and ``addr``, a range of PTEs ``start`` and ``end``."""

    kind: str
    id: int | None = None
    pid: int | None = None
    addr: int | None = None
    start: int | None = None
    end: int | None = None
    note: str | None = None


class Page(Doc):
    """A frame (``struct page``)."""

    pfn: int
    flags: list[Literal["anon", "direct", "swapcache", "exclusive"]]
    mapping: ObjectRef | None
    index: int | None
    mapcount: int
    swap_slot: int | None
    value: int
    page_mapping: Literal["swapper_space"] | None


class SwapSlot(Doc):
    slot: int
    ptes: int
    cached_pfn: int | None
    value: int


class AnonVma(Doc):
    """An anon_vma and its vmas, head first; ``anon_vma_chain`` adds the rest."""

    id: int
    vmas: list[int]
    avcs: list[int] | None = None
    root: int | None = None
    parent: int | None = None
    num_children: int | None = None
    num_active_vmas: int | None = None
    refcount: int | None = None


class PteChainEntry(Doc):
    pid: int
    addr: int


class PteChain(Doc):
    """A pte_chain block (2.6.0)."""

    id: int
    pfn: int
    next: int | None
    free: int
    entries: list[PteChainEntry]


class Anonmm(Doc):
    id: int
    pid: int | None
    head: int
    ring: list[int]
    count: int


class AnonVmaChain(Doc):
    id: int
    vma: int
    anon_vma: int


class VmaChain(Doc):
    vma: int
    avcs: list[int]
    anon_vmas: list[int]


class SwapPte(Doc):
    pid: int
    addr: int
    slot: int


class State(Doc):
    """The whole machine after a step (docs/state.md). Each design adds its own objects."""

    design: DesignName
    options: list[str]
    step: int
    mms: list[Mm]
    pages: list[Page]
    swap: list[SwapSlot]
    anon_vmas: list[AnonVma]
    pte_chains: list[PteChain] | None = None
    anonmms: list[Anonmm] | None = None
    anon_vma_chains: list[AnonVmaChain] | None = None
    vma_chains: list[VmaChain] | None = None
    exclusive_swap_ptes: list[SwapPte] | None = None


# ----- the step document ---------------------------------------------------------------------


class Event(Doc):
    """What the kernel did: ``func`` names the kernel function it models."""

    kind: str
    func: str
    text: str
    objects: list[ObjectRef]
    ref: str | None = None


class Visit(Doc):
    """One container a reclaim walk probed."""

    kind: str
    id: int
    result: Literal["hit", "miss", "skip"]
    pid: int | None
    addr: int | None
    note: str | None = None
    pte_before: PteValue | None
    pte_after: PteValue | None
    vma_address: int | None
    vm_start: int | None
    vm_end: int | None
    vm_pgoff: int | None


class Walk(Doc):
    """The ``try_to_unmap`` of one frame."""

    pfn: int
    via: ObjectRef | None
    visited: list[Visit]
    candidates: int
    unmapped: int
    remaining: int
    index: int | None
    slot: int | None
    mapcount: int


class Counters(Doc):
    """Cumulative counters and the current metadata sizes (docs/state.md#counters); a
    design adds the sizes of its own objects."""

    rmap_walks: int
    rmap_visits: int
    rmap_misses: int
    rmap_skips: int
    ptes_unmapped: int
    pages_reclaimed: int
    unreachable_pages: int
    swapins: int
    swapcache_hits: int
    cow_copies: int
    cow_reuses: int
    zero_page_maps: int
    frames_allocated: int
    slots_allocated: int
    anon_vmas_allocated: int
    direct_to_indirect: int
    indirect_to_direct: int
    pte_chains_allocated: int
    pte_chain_search: int
    anonmms_allocated: int
    anon_vma_chains_allocated: int
    objects_allocated: int
    rmap_bytes: int
    rmap_bytes_pages: int
    rmap_bytes_vmas: int
    page_bytes: int
    page_bytes_andrea: int
    rmap_bytes_pte_chain: int | None = None
    rmap_bytes_anonmm: int | None = None
    rmap_bytes_anon_vma: int | None = None
    rmap_bytes_anon_vma_chain: int | None = None
    avcs: int | None = None
    anon_vma_objects: int | None = None


class MergeReason(Doc):
    side: str
    vma: int | None
    text: str


class Merge(Doc):
    merged: bool
    vma: int | None = None
    reasons: list[MergeReason] | None = None
    case: int | None = None
    removed: list[int] | None = None


class Unreachable(Doc):
    pfn: int
    mapcount: int


class NotResident(Doc):
    """A reclaim target with no present page: a frame (``pfn``) or a PTE (``pid``,
    ``addr``)."""

    pfn: int | None = None
    pid: int | None = None
    addr: int | None = None


class Short(Doc):
    asked: int
    reclaimed: int


class StepResult(Doc):
    """What an op returned beside its events (absent fields: not this op's)."""

    vma: int | None = None
    addr: int | None = None
    pages_done: int | None = None
    values: list[int] | None = None
    merge: Merge | None = None
    not_resident: list[NotResident] | None = None
    unreachable: list[Unreachable] | None = None
    short: Short | None = None


class Violation(Doc):
    rule: str
    text: str


class Invariants(Doc):
    ok: bool
    violations: list[Violation]


class Step(Doc):
    """One step of a run: ``index`` counts from 1 (step 0 is the empty machine, op null)."""

    index: int
    op: Op | None
    outcome: Literal["ok", "segv"]
    value: int | None
    events: list[Event]
    walks: list[Walk]
    counters: Counters
    result: StepResult
    invariants: Invariants
    state: State | None = None


# ----- runs and comparisons ------------------------------------------------------------------


class ScenarioHead(Doc):
    name: str
    title: str
    description: str


class Run(Doc):
    """``rmaplab run --json``: one design through one scenario."""

    design: DesignName
    options: list[str]
    scenario: ScenarioHead
    steps: list[Step]
    state: State
    invariants: Invariants


class Runs(Doc):
    runs: list[Run]


class CompareError(Doc):
    step: int
    op: dict[str, Any]
    reason: str


class WalkSummary(Doc):
    step: int
    pfn: int
    visited: int
    candidates: int
    unmapped: int
    remaining: int


class CompareRow(Doc):
    """One design of a comparison; a design that failed has ``error`` and nothing more."""

    design: DesignName
    options: list[str]
    ok: bool
    error: CompareError | None
    walks: list[WalkSummary] | None = None
    counters: Counters | None = None
    memory: dict[str, int] | None = None
    refused_merges: int | None = None
    steps_with_violations: int | None = None
    violations: int | None = None
    vmas: int | None = None
    run: Run | None = None


class Difference(Doc):
    step: int
    designs: list[str]
    outcomes: list[str]
    values: list[Any]


class Agreement(Doc):
    ok: bool
    designs: list[str]
    differences: list[Difference]


class Compare(Doc):
    """``rmaplab compare --json``."""

    scenario: ScenarioHead
    designs: list[CompareRow]
    agreement: Agreement


# ----- sessions ------------------------------------------------------------------------------


class Variant(Doc):
    design: DesignName
    options: list[str]


class DesignStep(Step):
    """One design's step in a session or room view: the design, then its step."""

    design: DesignName
    options: list[str]
    state: State


class StepView(Doc):
    """A step of a session (or room): its op and every design's step with its state."""

    step: int
    op: dict[str, Any] | None
    designs: list[DesignStep]


class SessionScenario(ScenarioHead):
    """The built-in scenario a session was opened from."""

    design: DesignName | None
    options: list[str] | None


class Session(Doc):
    """A session at its current step; ``ops`` (the log) comes with GET and creation."""

    id: str
    view_id: str
    read_only: bool
    step: int
    length: int
    scenario: SessionScenario | None
    designs: list[Variant]
    view: StepView
    ops: list[dict[str, Any]] | None = None


class DesignWalk(Variant):
    resident: bool
    walks: list[Walk]
    events: list[Event]
    result: StepResult


class WalkView(Doc):
    """What reclaiming a frame would do now, per design (nothing is changed)."""

    step: int
    pfn: int
    designs: list[DesignWalk]


class DesignSeries(Variant):
    counters: list[Counters]


class Series(Doc):
    """The counters after every step of the log (step 0 first), per design."""

    steps: int
    designs: list[DesignSeries]


# ----- catalogue -----------------------------------------------------------------------------


class VariantEra(Doc):
    """An option that models another kernel than its design's default."""

    option: str
    era: str
    #: a Linux version on Bootlin Elixir ("v2.6.34"), or an address
    source: str


class DesignInfo(Doc):
    """A design; one not built yet has only ``name`` and ``available``."""

    name: DesignName
    available: bool
    title: str | None = None
    era: str | None = None
    #: where the era's source is read: a Linux version on Bootlin Elixir ("v2.6.7"), or
    #: the address of the mail that posted the patch
    source: str | None = None
    #: options that model another kernel, the first listed one present winning
    variants: list[VariantEra] | None = None
    description: str | None = None
    options: dict[str, str] | None = None
    sizes: dict[str, int] | None = None
    #: whether the design's vmas carry an ``anon_vma`` pointer (anonmm's and 2.6.0's do not)
    vma_anon_vma: bool | None = None


class ScenarioSummary(Doc):
    name: str
    title: str
    description: str
    design: DesignName | None
    options: list[str]
    steps: int


class Question(Doc):
    """A lesson's question; ``answer`` a choice, or an object saying how it is computed."""

    step: int
    prompt: str
    choices: list[str] | None = None
    answer: str | dict[str, Any] | None = None


class Scenario(Doc):
    """A scenario in the scenario format (docs/scenarios.md)."""

    name: str
    title: str
    description: str
    design: DesignName
    options: list[str]
    ops: list[dict[str, Any]]
    questions: list[Question] | None = None


class Health(Doc):
    status: Literal["ok"]
    designs: list[DesignName]


class Lesson(Doc):
    name: str
    questions: list[Question]


# ----- rooms ---------------------------------------------------------------------------------


class Tally(Doc):
    question: int
    counts: dict[str, int]
    answers: int
    answer: str | dict[str, Any] | None


class RoomQuestion(Doc):
    id: int
    step: int | None
    prompt: str
    choices: list[str] | None
    revealed: bool
    tally: Tally | None = None
    answer: str | dict[str, Any] | None = None


class Room(Doc):
    """A room now: what every follower sees, who follows, the ops; with the key every
    question (and on creation the key itself)."""

    code: str
    seq: int
    step: int
    length: int
    scenario: ScenarioHead
    designs: list[Variant]
    question: RoomQuestion | None
    join: str
    following: int
    participants: int
    ops: list[dict[str, Any]]
    questions: list[RoomQuestion] | None = None
    key: str | None = None


class QuestionCreated(Doc):
    id: int


class Participant(Doc):
    participant: str


class Answered(Doc):
    question: int
    answer: str
