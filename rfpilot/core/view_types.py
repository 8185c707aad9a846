"""The typed shapes of the views the core hands the CLI and the TUI (``core.views`` builds them).

Each is a ``TypedDict`` because each IS a documented JSON shape (`--json`, `sessions export --format json`,
docs/cli.md): at run time a view is the plain dict that ``cli.output.emit`` serialises, key order as written here
and in the builder, so the JSON stays byte-identical; a type checker sees every key by name, so a renamed key fails
in mypy (tests/test_types.py), not at run time in a screen.

A leaf: this module imports nothing of rfpilot, so any service that builds a part of a view (the PSA writeback's
delivery state, say) can name its shape without importing ``core.views`` (which imports the services).
"""

# No `from __future__ import annotations`: with it every field of the ~70 TypedDicts below became a string that
# typing compiles into a ForwardRef when the class is made (~600 compiles, a third of this module's import, which
# every store command pays). The few fields that name a shape defined further down are quoted.

from datetime import datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:  # TypeIs is in typing from Python 3.13; only the type checker reads it here
    from typing_extensions import TypeIs


class SessionView(TypedDict):
    """A session: `sessions list --json` rows, `sessions show --json` ``session``, exports."""

    id: str
    title: str | None
    status: str
    intake_type: str
    intake_text: str | None
    client: str | None
    ticket_ref: str | None
    state_version: int
    active_seconds: int
    parked_seconds: int
    created_at: str | None
    updated_at: str | None
    resolved_at: str | None
    resolution_summary: str | None
    escalated_at: str | None
    escalation_reason: str | None
    abandoned_at: str | None
    abandon_reason: str | None
    has_resolution_note: bool
    has_escalation_package: bool
    linked: bool
    resolution_note_external_id: str | None
    escalation_package_external_id: str | None


class SessionStatusView(SessionView):
    """The session as ``session_details`` shows it: with its status in words (handed off, waiting, …)."""

    status_word: str


class FactView(TypedDict):
    id: str
    session_id: str
    text: str
    source_type: str
    source_ref: str | None
    source_summary: str | None
    editable: bool
    provenance: str
    created_by: str
    created_at: str | None
    updated_at: str | None


class FactChangeView(FactView):
    """A fact as `facts …--json` prints it: with the session's state version after the change."""

    state_version: int


class FactRemovedView(TypedDict):
    """`facts rm --json`."""

    id: str
    deleted: bool
    state_version: int


class LaneItemView(TypedDict):
    """A question or a check of the lane."""

    id: str
    kind: str
    origin: str
    text: str
    detail: str | None
    command: str | None
    state: str
    response: str | None
    responded_at: str | None
    retired: bool
    created_at: str | None


def is_lane_item(row: FactView | LaneItemView) -> "TypeIs[LaneItemView]":
    """A row of the task lane is a question or a check (it has a ``kind``), not a fact."""
    return "kind" in row


class OutcomeProposal(TypedDict):
    """The outcome the model proposed for the active fix (``core.engine.chat``), stored on the fix until the engineer
    confirms or rejects it."""

    outcome: str  # success · failure · partial
    status: str  # the fix status it would write
    reason: str
    message_id: str
    proposed_at: str


class FixView(TypedDict):
    id: str
    session_id: str
    origin: str
    title: str
    description: str
    confidence_pct: int
    script_template_slug: str | None
    script_template_id: str | None
    ai_drafted_script: str | None
    ai_drafted_parameters: dict[str, Any] | None
    user_decision: str | None
    status: str
    active: bool
    verifying: bool
    applied_at: str | None
    verified_at: str | None
    partial_notes: str | None
    failure_reason: str | None
    pending_reason: str | None
    ai_outcome_proposal: OutcomeProposal | None
    superseded_at: str | None
    created_at: str | None
    source_session_id: str | None  # the earlier session ("seen before") this fix repeats, if any


class ActiveFixView(FixView):
    """The session's active fix as ``session_details`` shows it: with its state in words."""

    state_word: str


class FixResultView(FixView):
    """A fix as `fix …--json` prints it after a change: with its banner mode and the session's state version."""

    banner: str
    state_version: int


class FixApplyView(FixResultView):
    """`fix apply --json`: whether anything changed (applying twice changes nothing)."""

    changed: bool


class FixDecideView(FixResultView):
    """`fix decide --json`: the script as rendered, and the draft template a templatizing decision queued."""

    rendered_script: str | None
    draft_template_id: str | None
    extraction: dict[str, Any] | None  # the draft's extraction record (free-form JSON) and its parameter count


class FixShowView(TypedDict):
    """`fix show --json`: the active fix (None: none) and the banner mode it puts up."""

    fix: FixView | None
    banner: str


class FixListView(TypedDict):
    """`fix show --all --json`: every fix of the session, superseded ones too."""

    fixes: list[FixView]


class MessageView(TypedDict):
    id: str
    seq: int
    role: str
    status: str
    text: str
    lane_item_id: str | None
    error: str | None
    created_at: str | None


class MessagesSummary(TypedDict):
    """How many messages the conversation has, and the last few."""

    count: int
    last: list[MessageView]


class LaneCountsView(TypedDict):
    """``core.session.lane.LaneCounts`` as JSON: the whole lane counted, whatever page is shown."""

    questions_total: int
    questions_unanswered: int
    checks_total: int
    checks_run: int


class LaneListView(TypedDict):
    """`lane list --json`: every question and check, and the lane counted."""

    items: list[LaneItemView]
    counts: LaneCountsView


class LaneResponseView(TypedDict):
    """`lane answer|ran --json`: the item answered or run, and the fact promoted from it (None: none)."""

    item: LaneItemView
    fact: FactView | None


class UsageTotals(TypedDict):
    """The model's token use over a session (``core.session.usage.session_totals``)."""

    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


class DeliveryView(TypedDict):
    """The session's unfinished PSA write (``core.closeout.writeback.delivery_state``): the worst open outbox item."""

    id: str
    kind: str
    state: str  # queued · failed
    attempts: int
    last_error: str | None
    external_id: str | None


class WritebackView(TypedDict):
    """Where the session's close stands on the PSA (``core.closeout.writeback.close_writeback``)."""

    outbox_item_id: str
    kind: str
    state: str  # queued · delivering · failed · posted · verified
    ticket_ref: str | None
    note_id: str | None
    note_kind: str | None
    posted_at: str | None
    target_status: str | None
    verified_status: str | None
    status_verified: bool
    delivered_at: str | None
    attempts: int
    last_error: str | None


class SessionDetails(TypedDict):
    """Everything a session view shows: `sessions show --json`, the TUI's session screen."""

    session: SessionStatusView
    facts: list[FactView]
    fact_count: int
    lane: list[LaneItemView]
    lane_counts: LaneCountsView
    active_fix: ActiveFixView | None
    banner: str
    messages: MessagesSummary
    llm_usage: UsageTotals
    resolution_note: str | None
    escalation_package: str | None
    psa_delivery: DeliveryView | None
    psa_writeback: WritebackView | None
    seen_before: "list[SeenBeforeView]"


class SeenBeforeView(TypedDict):
    """An earlier session like this one (core.memory.seen_before): `sessions show --json`'s ``seen_before``, the
    task lane's "Seen before" section, `seen list --json`."""

    id: str  # the earlier session's id
    ref: str  # how it is named to people and the model: "#" and the id's first 8 characters
    rank: int
    score: float
    title: str
    client_name: str | None
    status: str  # resolved | escalated
    same_client: bool
    fixed_by: str | None  # the fix that worked (resolved sessions)
    fix_template_slug: str | None
    escalation_reason: str | None
    dead_ends: list[str]
    active_seconds: int  # active time to resolve
    closed_at: str | None
    dismissed: bool
    dismissed_at: str | None


class ExportedSessionView(SessionView):
    """The session in an export: with its owner's name."""

    owner: str


class ExportedMessageView(TypedDict):
    id: str
    seq: int
    branch_id: str | None
    role: str
    status: str
    content: str
    created_at: str | None


class ExportView(TypedDict):
    """A whole session (``core.export.export_data``): `sessions export --format json`, and the Markdown export's input."""

    format: int
    exported_by: str
    exported_at: str | None
    session: ExportedSessionView
    facts: list[FactView]
    lane: list[LaneItemView]
    fixes: list[FixView]
    messages: list[ExportedMessageView]
    resolution_note: str | None
    escalation_package: str | None
    branches: "list[BranchView]"  # empty lists for a session that never forked
    fork_points: "list[ForkView]"


class PreviewView(TypedDict):
    """A drafted resolution note or escalation package: `preview --json`."""

    session_id: str
    kind: str
    markdown: str
    drafter: str
    from_cache: bool
    state_version: int
    target_ticket_ref: str | None
    created_at: str | None
    fallback_reason: str | None
    model: str | None


class ForkOption(TypedDict):
    """One hypothesis of a fork, as stored on the fork point: its branch id once the branch exists."""

    label: str
    description: str
    branch_id: NotRequired[str]


class ForkSummary(TypedDict):
    """A fork the model offered in a turn: its options as the model gave them."""

    id: str
    reason: str
    options: list[ForkOption]


class TokenUsage(TypedDict):
    """One model call's tokens (``core.llm.base.Usage.as_dict``)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


class TurnView(TypedDict):
    """A chat turn's structured result: `rfpilot chat SESSION --json`."""

    session_id: str
    message_id: str
    reply_id: str
    display: str
    questions: list[LaneItemView]
    checks: list[LaneItemView]
    retired: list[str]
    promoted_facts: list[FactView]
    suggested_fix: FixView | None
    outcome_proposal: OutcomeProposal | None
    fork: ForkSummary | None
    markers_found: Any
    dropped: list[str]
    provider: str
    model: str | None
    usage: TokenUsage


class BranchSummary(TypedDict):
    """What a branch marked dead_end or solved tried and concluded (``core.session.branches.summarise``)."""

    tried: list[str]
    concluded: str
    by: str  # llm · offline


class BranchView(TypedDict):
    """A branch of a session's conversation (``core.session.branches.branch_view``): `branches list --json`, the branch map."""

    id: str
    label: str
    description: str
    status: str
    status_reason: str | None
    parent_branch_id: str | None
    fork_point_id: str | None
    root: bool
    active: bool
    summary: BranchSummary | None  # the branch's context summary, when it has one
    evidence_from_branch_id: str | None
    evidence: str | None
    status_changed_at: str | None


class BranchMapView(TypedDict):
    """A session's branch map (``core.session.branches.map_view``): `branches list|fork|switch|revive --json`."""

    session_id: str
    active_branch_id: str | None
    branches: list[BranchView]


class MarkedBranchMapView(BranchMapView):
    """`branches mark --json`: the map, and the branch just marked (with its summary)."""

    marked: BranchView


class ForkView(TypedDict):
    """A fork as the transcript shows it (``core.session.branches.fork_views``): options with their branch ids, and
    ``after_seq``, the message it follows."""

    id: str
    reason: str
    options: list[ForkOption]
    after_seq: int
    parent_branch_id: str | None
    message_id: str | None
    created_at: str | None


class ProblemView(TypedDict):
    """The problem as a handoff's snapshot states it."""

    title: str | None
    summary: str | None
    domain: str | None
    client: str | None


class HandoffSnapshot(TypedDict):
    """Where a session stood when it was handed off (``core.team.handoffs.build_snapshot``), stored on the handoff."""

    problem: ProblemView
    status: str
    branch_map: list[BranchView]
    active_branch: str | None
    next_step: str | None
    waiting_on: str | None
    watch_out: list[str]
    ticket_ref: str | None
    active_seconds: int
    parked_seconds: int
    facts_count: int
    taken_at: str


class Assessment(TypedDict):
    """What an escalation's assessment says (``core.team.handoffs.parse_assessment``)."""

    likely_cause: str
    suggested_steps: list[str]
    confidence: str  # high · medium · low


class HandoffAssessment(Assessment):
    """An assessment as stored on an escalation's handoff: with what wrote it."""

    by: str  # llm · offline
    model: str | None


class QueueItemView(TypedDict):
    """A handoff waiting in the team queue (``core.team.handoffs.queue``): `queue --json`, the TUI's queue."""

    handoff_id: str
    session_id: str
    session_title: str | None
    session_status: str
    ticket_ref: str | None
    intent: str
    status_word: str
    priority: str
    handed_off_by: str
    handed_off_by_name: str
    created_at: datetime  # as stored (`--json` writes it with str(), as it always has)
    waiting_on: str | None
    notes: str | None
    branch_count: int


class HandoffView(TypedDict):
    """One handoff of a session (``core.team.handoffs.handoff_view``): `handoffs --json`."""

    id: str
    session_id: str
    intent: str
    priority: str
    state: str  # waiting · claimed · withdrawn
    handed_off_by: str
    handed_off_by_name: str | None
    created_at: str | None
    waiting_on: str | None
    notes: str | None
    source_branch_id: str | None
    snapshot: HandoffSnapshot
    assessment: HandoffAssessment | None
    claimed_by: str | None
    claimed_by_name: str | None
    claimed_at: str | None
    withdrawn_at: str | None
    briefing: str | None


class ClaimView(HandoffView):
    """A handoff just claimed: `queue claim --json`, with the session as it is now and what wrote the briefing."""

    session_title: str | None
    session_status: str
    owner_id: str
    briefing_by: str  # llm · offline


class ClaimedSession(TypedDict):
    """What the TUI's queue needs of a claim: the session to open and the briefing to show."""

    session_id: str
    briefing: str


class OutputView(TypedDict):
    """One resolution output (``core.team.outputs.output_view``): `outputs … --json`, the TUI's outputs overlay."""

    id: str
    session_id: str
    output_type: str
    label: str
    status: str
    content: str
    edited: bool
    generated_content: str
    edited_content: str | None
    drafter: str
    model: str | None
    fallback_reason: str | None
    pushed_to: str | None
    pushed_at: str | None
    pushed_reference: str | None
    push_pending: bool
    outbox_item_id: str | None
    created_at: str | None
    updated_at: str | None


class OutputActionView(OutputView, total=False):
    """An output after an action in the TUI's outputs overlay: an export also says where the file went."""

    exported_to: str
    exported_draft: bool


class PushDelivery(TypedDict):
    """Where a push of an output to the PSA went: its outbox item, and the note once posted."""

    outbox_item_id: str
    note_id: str | None
    adopted: bool
    ticket_ref: str | None


class PushedOutputView(OutputView):
    """An output after `outputs push --json`: with its PSA delivery (None: written to a file)."""

    delivery: PushDelivery | None


class ExportedOutputView(PushedOutputView):
    """`outputs export --json`: where the file went, and whether it was a draft (the file says DRAFT)."""

    exported_to: str | None
    exported_draft: bool


class ParameterView(TypedDict):
    """A parameter of a script template (``core.library.render.Parameter.as_dict``): its optional keys only when set."""

    key: str
    label: str
    field_type: str  # text · password · select · boolean …
    required: bool
    options: NotRequired[list[str]]
    default: NotRequired[str]  # never for a password
    description: NotRequired[str]
    true_value: NotRequired[str]  # a boolean's values, when not true/false
    false_value: NotRequired[str]


class ProposedParameterView(TypedDict):
    """A parameter the extraction proposed for a draft template (``core.library.templates.extract_draft``)."""

    key: str
    label: str
    field_type: str
    inferred_from: str | None  # the literal text it stands for (a password's is never shown)
    value: NotRequired[str]  # the value it had in the script; never kept for a password


class TemplateView(TypedDict):
    """A script template of the team library (``core.library.templates.template_view``): `templates … --json`, the TUI's
    script picker."""

    id: str
    name: str
    slug: str
    description: str
    language: str | None
    category: str | None
    body: str
    parameters: list[ParameterView]
    usage_count: int
    provenance: str
    source_ticket_ref: str | None
    source_engineer_name: str | None
    source_session_id: str | None
    created_at: str | None
    updated_at: str | None


class DraftView(TypedDict):
    """A draft template waiting for review (``core.library.templates.draft_view``): `templates drafts … --json`, the TUI's
    review dialog."""

    id: str
    status: str
    proposed_name: str
    slug: str
    description: str
    category: str | None
    language: str | None
    body: str
    parameters: list[ProposedParameterView]
    provenance: str
    source: Any  # llm · fallback (what proposed the parameters)
    reason: Any
    warning: str | None
    session_id: str
    ticket_ref: str | None
    context: list[Any]
    created_at: str | None


class DraftReviewView(DraftView, total=False):
    """A draft as the TUI's review dialog shows it: with the line that opens the dialog."""

    headline: str


# --- `rfpilot doctor --json` (core.doctor.run) --------------------------------------------------------------------


class DoctorPart(TypedDict):
    """What every part of the doctor's report says first; each part adds its own details after these keys."""

    status: str  # ok · warn · fail · skipped
    ok: bool  # status != "fail"
    error: str | None
    hint: str | None


class DoctorConfig(DoctorPart):
    file: str
    exists: bool
    bad: list[dict[str, str]]  # {"key", "source", "error", "hint"} (rfpilot.config.check_settings)
    unknown: list[str]


class DoctorDatabase(DoctorPart):
    url: str
    source: str
    head: str
    dialect: str | None
    revision: str | None
    sessions: int | None


class DoctorIdentity(DoctorPart):
    email: str | None  # None: a value the settings refuse (the part fails, naming it)
    name: str | None
    account: str | None
    email_source: str
    engineer_id: str | None


class DoctorKeyring(DoctorPart):
    backend: str
    usable: bool
    reason: str | None
    fallback: str | None


class DoctorLLM(DoctorPart):
    provider: str | None
    reason: str | None
    key_source: str | None
    detail: str | None
    reached: str | None
    network_checked: bool
    note: NotRequired[str]  # the offline provider only


class DoctorSecret(TypedDict):
    """Where one secret of a PSA connection comes from (never its value)."""

    field: str
    required: bool
    source: str | None
    env_var: str


class DoctorConnection(DoctorPart):
    name: str
    provider: str
    display: str
    default: bool
    settings: dict[str, Any]  # the connection's non-secret settings, as stored (free-form per provider)
    secrets: list[DoctorSecret]
    member: str | None
    network_checked: bool


class DoctorPSA(DoctorPart):
    connections: list[DoctorConnection]


class DoctorFailedItem(TypedDict):
    id: str
    ticket_ref: str | None
    kind: str
    attempts: int
    last_error: str | None


class DoctorOutbox(DoctorPart):
    pending: int | None
    failed: int | None
    oldest_pending_at: str | None
    oldest_pending_age_seconds: int | None
    failed_items: list[DoctorFailedItem]


class DoctorPaths(TypedDict):
    config: str
    data: str
    cache: str


class DoctorAbout(TypedDict):
    """What the doctor's report says of the program before the parts."""

    rfpilot: str
    python: str
    platform: str
    paths: DoctorPaths
    versions: dict[str, str | None]


class DoctorReport(TypedDict):
    """`rfpilot doctor --json`: ``ok`` and the names of the failed parts, the program, then each part in order."""

    ok: bool
    failed: list[str]
    network: bool
    rfpilot: str
    python: str
    platform: str
    paths: DoctorPaths
    versions: dict[str, str | None]
    config: DoctorConfig
    database: DoctorDatabase
    identity: DoctorIdentity
    keyring: DoctorKeyring
    llm: DoctorLLM
    psa: DoctorPSA
    outbox: DoctorOutbox


# --- the PSA: connections, tickets, the outbox (`psa …`, `tickets …`, `outbox …` --json) ----------------------------


class PSAConnectionView(TypedDict):
    """A PSA connection (``core.closeout.psa.connection_view``): `psa list --json` rows, `psa targets` reads ``targets``."""

    name: str
    provider: str
    default: bool
    settings: dict[str, Any]  # the provider's own non-secret settings, as stored (each PSA has its own)
    targets: dict[str, dict[str, str]]  # action -> board ("" for any) -> status name
    secrets: dict[str, str]  # secret field -> where it comes from (keyring · env …), or "missing"


class PSAConnectedView(PSAConnectionView):
    """`psa connect --json`: the connection, who it signed in as (None: not tested), where the secrets went."""

    member: str | None
    stored_in_keyring: list[str]
    from_env: list[str]


class PSAMemberView(TypedDict):
    id: str
    identifier: str | None
    name: str | None


class PSATicketBrief(TypedDict):
    id: str
    summary: str
    status: str | None


class PSATestView(TypedDict):
    """`psa test --json`: who the connection signs in as, and the ticket read when one was asked for."""

    connection: str
    provider: str
    member: PSAMemberView
    ticket: PSATicketBrief | None


class PSAStatusOption(TypedDict):
    id: str
    name: str
    closed: bool
    inactive: bool
    current: bool
    target_for: list[str]  # the actions (resolve, escalate) whose target status this is


class PSAStatusesView(TypedDict):
    """`psa statuses --json`: the statuses a ticket can take, and the connection's target for each action."""

    ticket: str
    board: str | None
    current: str | None
    statuses: list[PSAStatusOption]
    targets: dict[str, str | None]


class TicketRowView(TypedDict):
    """A PSA ticket (``core.closeout.tickets.ticket_row``): `tickets list --json` rows."""

    id: str
    ref: str
    summary: str
    status: str | None
    board: str | None
    company: str | None
    priority: str | None
    owner: str | None
    session_id: str | None  # an open session already working it
    updated_at: datetime | None  # `--json` writes it with str(), as it always has


class TicketNoteView(TypedDict):
    author: str | None
    at: str | None
    kind: str | None
    text: str


class TicketContextView(TypedDict):
    """What a session keeps of its ticket (``core.closeout.tickets.context_document``): stored on the session, given
    to the model as uncached context, and shown by `tickets show --json` as ``context``."""

    provider: str
    ticket_id: str
    ref: str
    summary: str
    description: str | None
    status: str | None
    board: str | None
    company: str | None
    contact: str | None
    priority: str | None
    owner: str | None
    notes: list[TicketNoteView]
    configurations: list[str]
    fetched_at: str


class TicketShowView(TicketRowView):
    """`tickets show --json`: the ticket and its context."""

    context: TicketContextView


class OutboxItemView(TypedDict):
    """A PSA write waiting, failed or delivered (``core.closeout.writeback.outbox_item_view``): `outbox … --json`."""

    id: str
    seq: int
    session_id: str
    ticket: str
    kind: str
    state: str
    attempts: int
    last_error: str | None
    external_id: str | None
    target_status: str | None
    verified_status: str | None
    created_at: datetime  # the datetimes as stored: `--json` writes them with str(), as it always has
    last_attempt_at: datetime | None
    delivered_at: datetime | None


class OutboxHeldView(OutboxItemView):
    """An item `outbox sync` could not deliver, with why."""

    reason: str


class OutboxSyncView(TypedDict):
    """`outbox sync --json`."""

    delivered: list[OutboxItemView]
    queued: list[OutboxHeldView]
    failed: list[OutboxHeldView]


class SearchSnippetView(TypedDict):
    """One matching item of a session in `search --json`: its kind (session, fact, fix, resolution, escalation,
    output, dead_end), a sanitised one-line excerpt, and the matched words as ``[start, end)`` offsets into it."""

    kind: str
    text: str
    marks: list[list[int]]


class SearchResultView(TypedDict):
    """A session found by `rfpilot search` (`--json` rows), best first."""

    session_id: str
    title: str | None
    client: str | None
    status: str
    outcome: str | None
    score: float
    active_seconds: int
    created_at: str | None
    updated_at: str | None
    snippets: list[SearchSnippetView]


# --- Insights (core.memory.stats.team_stats): `rfpilot stats --json`, the TUI's f8 screen. Every figure is defined
# in core.memory.stats.DEFINITIONS (carried in the view as ``definitions``) and in docs/memory.md.


class StatsWindowView(TypedDict):
    since: str  # the look-back as given, e.g. "90d"
    start: str  # ISO time: the Monday 00:00 UTC starting the first week
    end: str  # ISO time: now
    weeks: int


class StatsFiltersView(TypedDict):
    client: str | None
    engineer: str | None  # the engineer's email


class StatsRateView(TypedDict):
    count: int
    of: int
    rate: float | None  # count / of; None when of is 0


class StatsTotalsView(TypedDict):
    opened: int
    resolved: int
    escalated: int
    closed: int
    median_resolve_seconds: float | None
    first_fix: StatsRateView
    escalation_rate: StatsRateView


class StatsWeekView(TypedDict):
    week: str  # ISO week, "2026-W47"
    start: str  # its Monday, "2026-11-16"
    opened: int
    resolved: int
    escalated: int
    median_resolve_seconds: float | None


class StatsFixView(TypedDict):
    title: str
    sessions: int


class StatsProblemView(TypedDict):
    kind: str  # template · fix · domain: what the group is keyed by
    key: str
    label: str  # the template's name, a fix title as written, or the domain
    sessions: int
    resolved: int
    escalated: int
    fixes: list[StatsFixView]


class StatsTemplateView(TypedDict):
    slug: str
    name: str | None  # None when the library no longer has it
    applied: int
    worked: int
    failed: int
    success_rate: float | None


class StatsGroupView(TypedDict):
    opened: int
    resolved: int
    escalated: int
    closed: int
    escalation_rate: float | None
    first_fix_rate: float | None
    median_resolve_seconds: float | None


class StatsClientView(StatsGroupView):
    client: str | None


class StatsEngineerView(StatsGroupView):
    engineer_id: str
    email: str | None
    name: str | None


class StatsView(TypedDict):
    window: StatsWindowView
    filters: StatsFiltersView
    totals: StatsTotalsView
    weeks: list[StatsWeekView]
    problems: list[StatsProblemView]
    unclassified: int  # closed sessions with no template, working fix or domain to group them by
    templates: list[StatsTemplateView]
    clients: list[StatsClientView]
    engineers: list[StatsEngineerView]
    definitions: dict[str, str]
