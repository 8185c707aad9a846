"""The typed shapes of the views the core hands the CLI and the TUI (``core.views`` builds them).

Each is a ``TypedDict`` because each IS a documented JSON shape (`--json`, `sessions export --format json`,
docs/cli.md): at run time a view is the plain dict that ``cli.output.emit`` serialises, key order as written here
and in the builder, so the JSON stays byte-identical; a type checker sees every key by name, so a renamed key fails
in mypy (tests/test_types.py), not at run time in a screen.

A leaf: this module imports nothing of rfpilot, so any service that builds a part of a view (the PSA writeback's
delivery state, say) can name its shape without importing ``core.views`` (which imports the services).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

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


def is_lane_item(row: FactView | LaneItemView) -> TypeIs[LaneItemView]:
    """A row of the task lane is a question or a check (it has a ``kind``), not a fact."""
    return "kind" in row


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
    ai_outcome_proposal: dict[str, Any] | None
    superseded_at: str | None
    created_at: str | None


class ActiveFixView(FixView):
    """The session's active fix as ``session_details`` shows it: with its state in words."""

    state_word: str


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


class UsageTotals(TypedDict):
    """The model's token use over a session (``core.llm.usage.session_totals``)."""

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


class ForkSummary(TypedDict):
    """A fork the model offered in a turn: its options as the model gave them."""

    id: str
    reason: str
    options: list[dict[str, Any]]


class TokenUsage(TypedDict):
    """One model call's tokens (``core.llm.base.Usage.as_dict``)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


class TurnView(TypedDict):
    """A chat turn's structured result: `rfpilot chat --json`."""

    session_id: str
    message_id: str
    reply_id: str
    display: str
    questions: list[LaneItemView]
    checks: list[LaneItemView]
    retired: list[str]
    promoted_facts: list[FactView]
    suggested_fix: FixView | None
    outcome_proposal: dict[str, Any] | None
    fork: ForkSummary | None
    markers_found: Any
    dropped: list[str]
    provider: str
    model: str | None
    usage: TokenUsage


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
    summary: dict[str, Any] | None  # the branch's context summary, when it has one
    evidence_from_branch_id: str | None
    evidence: str | None
    status_changed_at: str | None


class ForkView(TypedDict):
    """A fork as the transcript shows it (``core.session.branches.fork_views``): options with their branch ids, and
    ``after_seq``, the message it follows."""

    id: str
    reason: str
    options: list[dict[str, Any]]
    after_seq: int
    parent_branch_id: str | None
    message_id: str | None
    created_at: str | None


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
    waiting_on: Any
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
    waiting_on: Any
    notes: str | None
    source_branch_id: str | None
    snapshot: dict[str, Any]
    assessment: dict[str, Any] | None
    claimed_by: str | None
    claimed_by_name: str | None
    claimed_at: str | None
    withdrawn_at: str | None
    briefing: str | None


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
    parameters: list[dict[str, Any]]  # core.library.render.Parameter.as_dict: optional keys only when set
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
    parameters: list[dict[str, Any]]
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
