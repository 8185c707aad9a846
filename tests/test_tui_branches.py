"""Branch map, fork card and switch notice, handoff dialog, team queue, resolution outputs: driven with Pilot in
a small host app.

Snapshots: `pytest tests/test_tui_branches.py --snapshot-update`, then look at the SVGs before committing them.
"""

from __future__ import annotations


import pytest

pytest.importorskip("textual")

from textual.app import ComposeResult  # noqa: E402
from textual.containers import VerticalScroll  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widgets import Checkbox, Input, OptionList, RadioSet, Select, Static, TextArea, Tree  # noqa: E402

from rfpilot.errors import ConflictError, PSAError  # noqa: E402
from tests.tui_host import Host, shown  # noqa: F401

HOSTILE = "[bold]x[/]"
CLEAR = "\x1b[2J"
REPLACED = "\N{REPLACEMENT CHARACTER}[2J"


def _branch(id: str, label: str, status: str, parent: str | None, fork: str | None = None, **extra) -> dict:
    view = {"id": id, "label": label, "description": None, "status": status, "status_reason": None,
            "parent_branch_id": parent, "fork_point_id": fork, "root": parent is None, "active": False,
            "summary": None, "evidence_from_branch_id": None, "evidence": None, "status_changed_at": None}
    view.update(extra)
    return view


BRANCHES = [
    _branch("b-root", "Root", "active", None),
    _branch("b-vpn", "VPN profile", "dead_end", "b-root", "f-1",
            description="The profile still points at the old gateway",
            status_reason="The profile matches the new gateway",
            summary={"tried": ["Compared the profile with the gateway", "Re-imported the profile"],
                     "concluded": "The profile is right.", "by": "offline"}),
    _branch("b-dns", "DNS suffix", "active", "b-root", "f-1", active=True,
            description="The split-DNS suffix is missing on the adapter"),
    _branch("b-nrpt", "NRPT rule", "untried", "b-dns", "f-2",
            description="A stale NRPT rule sends the zone to the old resolver"),
    _branch("b-order", "Adapter order", "revived", "b-dns", "f-2",
            description="The Wi-Fi adapter's suffix wins over the tunnel's", status_reason="Metric looked right",
            evidence_from_branch_id="b-cert", evidence="The cert log shows the suffix flip at 09:12"),
    _branch("b-cert", "Expired certificate", "untried", "b-root", "f-1",
            description="The machine certificate expired on Friday"),
]
BY_ID = {b["id"]: b for b in BRANCHES}
FORKS = [
    {"id": "f-1", "reason": "Is it the VPN profile, DNS or the certificate?", "options": [
        {"label": "VPN profile", "description": "The profile still points at the old gateway", "branch_id": "b-vpn"},
        {"label": "DNS suffix", "description": "The split-DNS suffix is missing on the adapter",
         "branch_id": "b-dns"},
        {"label": "Expired certificate", "description": "The machine certificate expired on Friday",
         "branch_id": "b-cert"}]},
    {"id": "f-2", "reason": "Which DNS setting wins?", "options": [
        {"label": "NRPT rule", "description": "A stale NRPT rule sends the zone to the old resolver",
         "branch_id": "b-nrpt"},
        {"label": "Adapter order", "description": "The Wi-Fi adapter's suffix wins over the tunnel's",
         "branch_id": "b-order"}]},
]


def plain(widget: Static) -> str:
    """What a Static was given, without an app to render it (the transcript pieces are built before mounting)."""
    return str(widget.content)


def statics(app) -> str:
    return "\n".join(shown(s) for s in app.screen.query(Static))


KEYS = {" ": "space", "\n": "enter", "-": "minus", ".": "full_stop", "#": "number_sign", ":": "colon",
        "/": "slash", "'": "apostrophe", ",": "comma", "[": "left_square_bracket", "]": "right_square_bracket"}


async def type_text(pilot, value: str) -> None:
    for ch in value:
        await pilot.press(KEYS.get(ch, ch))


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


# --- the branch map ---------------------------------------------------------------------------------------


def branch_map(branches: list[dict] | None = None, forks: list[dict] | None = None, submit=None) -> Host:
    from rfpilot.tui.screens.branch_map import BranchMapScreen

    return Host(lambda: BranchMapScreen(BRANCHES if branches is None else branches,
                                        FORKS if forks is None else forks, submit=submit))


def tree_lines(app) -> list[str]:
    tree = app.screen.query_one("#bmap-tree", Tree)
    lines = []

    def walk(node, depth):
        for child in node.children:
            lines.append("  " * depth + str(child.label))
            walk(child, depth + 1)

    walk(tree.root, 0)
    return lines


def detail(app) -> str:
    return shown(app.screen.query_one("#bmap-detail-text", Static))


def error(app, wid: str) -> str:
    widget = app.screen.query_one(wid, Static)
    return shown(widget) if widget.display else ""


async def test_map_shows_the_tree_the_current_branch_and_the_details() -> None:
    app = branch_map()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert tree_lines(app) == ["● Root", "  ✗ VPN profile", "  ▶ ● DNS suffix", "    ○ NRPT rule",
                                   "    ↺ Adapter order", "  ○ Expired certificate"]
        assert isinstance(app.focused, Tree)
        # The cursor starts on the branch being worked on.
        text = detail(app)
        assert text.startswith("● DNS suffix\nactive · you are working on this branch")
        assert "forked from Root: Is it the VPN profile, DNS or the certificate?" in text
        assert "The split-DNS suffix is missing on the adapter" in text
        await pilot.press("up")
        text = detail(app)
        assert "Ruled out: The profile matches the new gateway" in text
        assert "Tried\n  • Compared the profile with the gateway\n  • Re-imported the profile" in text
        assert "Concluded: The profile is right.\n(summary from the stored messages)" in text
        await pilot.press("down", "down", "down")
        assert "Revived with evidence from Expired certificate: The cert log shows the suffix flip at 09:12" \
            in detail(app)


async def test_map_switches_to_the_highlighted_branch() -> None:
    from rfpilot.tui.screens.branch_map import BranchAction

    app = branch_map()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the current branch: nothing to switch to
        await pilot.pause()
        assert app.results == []
        assert "already working on “DNS suffix”" in error(app, "#bmap-error")
        await pilot.press("down", "down", "down", "enter")
        await pilot.pause()
    assert app.results == [BranchAction("switch", "b-cert")]


async def test_map_dead_end_needs_a_reason() -> None:
    from rfpilot.tui.screens.branch_map import BranchAction

    app = branch_map()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down", "d")
        await pilot.pause()
        assert app.screen.query_one("#bmap-ask").display
        assert isinstance(app.focused, Input)
        assert "Why is “Expired certificate” a dead end? (required" in shown(app.screen.query_one("#bmap-ask-title"))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        assert "Say why it is a dead end" in error(app, "#bmap-error")
        assert app.screen.query_one("#bmap-error", Static).content.style == "red"
        await pilot.press("enter")  # enter confirms too: still refused
        assert app.results == []
        # d, s, r and f are text in the field, not actions.
        await type_text(pilot, "Cert was renewed on Friday, logs are fine")
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [BranchAction("dead_end", "b-cert", reason="Cert was renewed on Friday, logs are fine")]


async def test_map_solved_takes_an_optional_reason_and_refuses_marking_twice() -> None:
    from rfpilot.tui.screens.branch_map import BranchAction

    app = branch_map()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("up", "d")  # VPN profile is already a dead end
        await pilot.pause()
        assert "already marked dead end" in error(app, "#bmap-error")
        assert not app.screen.query_one("#bmap-ask").display
        await pilot.press("down", "s", "ctrl+s")
        await pilot.pause()
    assert app.results == [BranchAction("solved", "b-dns", reason="")]


async def test_map_revives_a_dead_end_with_evidence_from_a_chosen_branch() -> None:
    from rfpilot.tui.screens.branch_map import BranchAction

    app = branch_map()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("r")  # DNS suffix is not a dead end
        await pilot.pause()
        assert "Only a dead end can be revived; “DNS suffix” is active." in error(app, "#bmap-error")
        assert not app.screen.query_one("#bmap-ask").display
        await pilot.press("up", "r")
        await pilot.pause()
        select = app.screen.query_one("#bmap-from", Select)
        assert app.screen.query_one("#bmap-from-row").display
        assert select.value == "b-dns"  # the current branch, the likeliest source
        # The other branches, never the one being revived.
        assert [value for _, value in select._options if value is not Select.NULL] == [
            "b-root", "b-dns", "b-nrpt", "b-order", "b-cert"]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Describe the evidence" in error(app, "#bmap-error")
        select.value = "b-cert"
        await pilot.pause()
        app.screen.query_one("#bmap-reason", Input).focus()
        await type_text(pilot, "Cert renewal reset the VPN profile")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [BranchAction("revive", "b-vpn", evidence_from="b-cert",
                                        evidence="Cert renewal reset the VPN profile")]


async def test_map_forks_the_current_branch_and_refuses_a_single_option() -> None:
    from rfpilot.tui.screens.branch_map import BranchAction

    app = branch_map()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("up", "f")  # the highlight does not matter: the current branch forks
        await pilot.pause()
        assert "Fork “DNS suffix” into 2 to 4 hypotheses" in shown(app.screen.query_one("#bmap-ask-title"))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Say why the session forks" in error(app, "#bmap-error")
        await type_text(pilot, "Which resolver answers")
        await pilot.press("enter")
        assert isinstance(app.focused, TextArea)
        await type_text(pilot, "NRPT: a stale rule")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        assert "A fork needs 2 to 4 hypotheses" in error(app, "#bmap-error")
        assert "this has 1" in error(app, "#bmap-error")
        await type_text(pilot, "\nnrpt: again")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Two hypotheses are both called “nrpt”" in error(app, "#bmap-error")
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace", "backspace",
                          "backspace", "backspace", "backspace", "backspace", "backspace")
        await type_text(pilot, "Hosts file: an old entry\n\nWINS")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [BranchAction("fork", "b-dns", reason="Which resolver answers",
                                        options=[("NRPT", "a stale rule"), ("Hosts file", "an old entry"),
                                                 ("WINS", "")])]


async def test_map_without_branches_explains_and_forks_the_session() -> None:
    from rfpilot.tui.screens.branch_map import BranchAction

    app = branch_map([], [])
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert "No branches yet" in detail(app)
        await pilot.press("d")
        await pilot.pause()
        assert "f forks the session first" in error(app, "#bmap-error")
        await pilot.press("f")
        await pilot.pause()
        assert "Fork this session into 2 to 4" in shown(app.screen.query_one("#bmap-ask-title"))
        await type_text(pilot, "Profile or DNS")
        await pilot.press("enter")
        await type_text(pilot, "Profile: old gateway\nDNS: suffix")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [BranchAction("fork", None, reason="Profile or DNS",
                                        options=[("Profile", "old gateway"), ("DNS", "suffix")])]


async def test_map_escape_leaves_the_question_then_closes() -> None:
    app = branch_map()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query_one("#bmap-ask").display and isinstance(app.focused, Tree)
        assert app.results == []
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


async def test_map_submit_errors_keep_the_map_open() -> None:
    calls = []

    async def submit(action) -> None:
        calls.append(action)
        raise ConflictError("this session already explores 9 hypotheses; 2 more would pass the limit of 10",
                            hint="mark the ruled-out ones dead_end")

    app = branch_map(submit=submit)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await type_text(pilot, "Why")
        await pilot.press("enter")
        await type_text(pilot, "A: a\nB: b")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert len(calls) == 1 and calls[0].options == [("A", "a"), ("B", "b")]
        assert app.results == []
        assert "pass the limit of 10 (mark the ruled-out ones dead_end)" in error(app, "#bmap-error")


async def test_map_shows_markup_and_control_characters_as_text() -> None:
    branches = [_branch("b-root", "Root", "active", None),
                _branch("b-1", HOSTILE, "dead_end", "b-root", "f-1", active=True, description=CLEAR,
                        status_reason=HOSTILE + CLEAR),
                _branch("b-2", "Plain", "untried", "b-root", "f-1")]
    forks = [{"id": "f-1", "reason": HOSTILE, "options": [{"label": HOSTILE, "description": CLEAR, "branch_id": "b-1"},
                                                          {"label": "Plain", "description": "", "branch_id": "b-2"}]}]
    app = branch_map(branches, forks)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert tree_lines(app)[1] == f"  ▶ ✗ {HOSTILE}"
        text = detail(app)
        assert f"✗ {HOSTILE}" in text and f"forked from Root: {HOSTILE}" in text
        assert REPLACED in text and "\x1b" not in text
        assert "\x1b" not in app.export_screenshot()


# --- the fork card and the switch notice ----------------------------------------------------------------------


def test_fork_card_lists_each_hypothesis_with_its_status_now() -> None:
    from rfpilot.tui.widgets.forks import ForkCard, fork_card, fork_card_text

    card = fork_card(FORKS[0], BY_ID)
    assert isinstance(card, ForkCard) and card.has_class("fork-card")
    assert plain(card) == (
        "⋔ Forked: Is it the VPN profile, DNS or the certificate?\n"
        "  ✗ VPN profile — The profile still points at the old gateway  dead end\n"
        "▶ ● DNS suffix — The split-DNS suffix is missing on the adapter  active, current\n"
        "  ○ Expired certificate — The machine certificate expired on Friday  untried")
    # A later switch or mark redraws it.
    moved = {**BY_ID, "b-dns": {**BY_ID["b-dns"], "active": False, "status": "solved"},
             "b-cert": {**BY_ID["b-cert"], "active": True, "status": "active"}}
    lines = str(fork_card_text(FORKS[0], moved)).splitlines()
    assert lines[2] == "  ✓ DNS suffix — The split-DNS suffix is missing on the adapter  solved"
    assert lines[3].startswith("▶ ● Expired certificate")
    # A branch the map no longer has reads as the option was forked.
    assert plain(fork_card(FORKS[1], {})).splitlines()[1] == (
        "  ○ NRPT rule — A stale NRPT rule sends the zone to the old resolver  untried")


async def test_fork_card_redraws_in_place() -> None:
    from rfpilot.tui.widgets.forks import ForkCard

    app = Host(TranscriptScreen)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        card = app.screen.query_one(ForkCard)
        assert "▶ ● Expired certificate" in shown(card)
        card.refresh_statuses({**BY_ID, "b-cert": {**BY_ID["b-cert"], "status": "dead_end"}})
        await pilot.pause()
        assert "▶ ● DNS suffix" in shown(card) and "  ✗ Expired certificate" in shown(card)


def test_fork_card_and_notice_are_inert() -> None:
    from rfpilot.tui.widgets.forks import fork_card, transition_notice

    card = plain(fork_card({"reason": HOSTILE + CLEAR, "options": [
        {"label": HOSTILE, "description": CLEAR, "branch_id": "x"}]}, {}))
    assert card == f"⋔ Forked: {HOSTILE}{REPLACED}\n  ○ {HOSTILE} — {REPLACED}  untried"
    notice = plain(transition_notice(HOSTILE, CLEAR, {"tried": [HOSTILE], "concluded": CLEAR}))
    assert notice == f"⇄ Switched from {HOSTILE} to {REPLACED} · {HOSTILE}: tried {HOSTILE}; concluded {REPLACED}"


def test_transition_notice() -> None:
    from rfpilot.tui.widgets.forks import transition_notice

    summary = BY_ID["b-vpn"]["summary"]
    notice = transition_notice("VPN profile", "DNS suffix", summary)
    assert notice.has_class("branch-notice")
    assert plain(notice) == ("⇄ Switched from VPN profile to DNS suffix · VPN profile: tried Compared the profile "
                             "with the gateway; Re-imported the profile; concluded The profile is right.")
    assert plain(transition_notice("VPN profile", "DNS suffix", None)) == "⇄ Switched from VPN profile to DNS suffix"
    assert plain(transition_notice(None, "DNS suffix", None)) == "⇄ Switched to DNS suffix"
    assert plain(transition_notice("Root", "NRPT rule", {"tried": [], "concluded": ""})) == (
        "⇄ Switched from Root to NRPT rule · Root: tried nothing recorded")


# --- handoff --------------------------------------------------------------------------------------------------


def handoff(intent: str = "park", submit=None) -> Host:
    from rfpilot.tui.screens.handoff import HandoffDialog

    return Host(lambda: HandoffDialog(intent, submit=submit))


async def choose(pilot, intent: str) -> None:
    """Pick park or escalate in the toggle with the keyboard, then go back to the text."""
    radio = pilot.app.screen.query_one("#handoff-intent", RadioSet)
    radio.focus()
    await pilot.pause()
    if pilot.app.screen.intent != intent:
        await pilot.press("right")  # two choices: an arrow switches at once
        await pilot.pause()
    assert radio.pressed_button.id == f"intent-{intent}"
    pilot.app.screen.query_one("#handoff-text", TextArea).focus()


async def test_handoff_park_requires_what_it_waits_on() -> None:
    from rfpilot.tui.screens.handoff import HandoffResult

    app = handoff()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(app.focused, TextArea)
        assert shown(screen.query_one("#handoff-label")) == "What are you waiting on? *"
        assert not screen.query_one("#handoff-elevated").display
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        assert "Say what the session is waiting on" in error(app, "#handoff-error")
        await type_text(pilot, "HP support case 5512")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [HandoffResult("park", "HP support case 5512", False)]


async def test_handoff_escalate_notes_are_optional_and_elevated_is_offered() -> None:
    from rfpilot.tui.screens.handoff import HandoffResult

    app = handoff()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await choose(pilot, "escalate")
        screen = app.screen
        assert shown(screen.query_one("#handoff-label")).startswith("Notes for the next engineer (optional")
        box = screen.query_one("#handoff-elevated", Checkbox)
        assert box.display and not box.disabled
        box.focus()
        await pilot.press("space", "ctrl+s")
        await pilot.pause()
    assert app.results == [HandoffResult("escalate", "", True)]


async def test_handoff_elevated_never_goes_with_a_park() -> None:
    from rfpilot.tui.screens.handoff import HandoffResult

    app = handoff("escalate")
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = app.screen
        box = screen.query_one("#handoff-elevated", Checkbox)
        box.value = True
        await type_text(pilot, "Vendor callback at 3")
        await choose(pilot, "park")
        assert not box.display and box.disabled and box.value is False
        await choose(pilot, "escalate")
        assert box.display and box.value is False  # not ticked again behind the engineer's back
        await choose(pilot, "park")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [HandoffResult("park", "Vendor callback at 3", False)]


async def test_handoff_escape_cancels_and_submit_errors_stay() -> None:
    app = handoff()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]

    async def submit(result) -> None:
        raise ConflictError("this session is already parked")

    app = handoff(submit=submit)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await type_text(pilot, "x")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.results == []
        assert "this session is already parked" in error(app, "#handoff-error")


# --- the queue ------------------------------------------------------------------------------------------------

QUEUE = [
    {"handoff_id": "h-1", "session_id": "s-1", "title": "Outlook keeps asking for the password",
     "ticket_ref": "CW #48291", "intent": "escalate", "priority": "elevated", "handed_off_by": "M. Davis",
     "created_at": "2026-03-02T09:15:00+00:00", "age": "3h",
     "notes": "Modern auth is on; the prompt comes back after every reboot.", "branch_count": 3},
    {"handoff_id": "h-2", "session_id": "s-2", "title": "Printer on floor 2 drops jobs", "ticket_ref": "CW #48307",
     "intent": "park", "priority": "normal", "handed_off_by": "J. Park", "created_at": "2026-03-01T16:40:00+00:00",
     "age": "20h", "waiting_on": "HP support case 5512 to send the firmware", "branch_count": 0},
    {"handoff_id": "h-3", "session_id": "s-3", "title": "VPN drops every 20 minutes", "ticket_ref": None,
     "intent": "escalate", "priority": "normal", "handed_off_by": "A. Lee", "created_at": "2026-03-01T08:00:00+00:00",
     "age": "1d", "notes": None, "branch_count": 2},
]
BRIEFING = "You are picking up CW #48291 from M. Davis.\n\nTried: re-created the Outlook profile."


def queue(items: list[dict] | None = None, fail: Exception | None = None):
    from rfpilot.tui.screens.queue import QueueScreen

    calls: dict[str, list] = {"load": [], "claim": []}

    async def load() -> list[dict]:
        calls["load"].append(True)
        return QUEUE if items is None else items

    async def claim(handoff_id: str) -> dict:
        calls["claim"].append(handoff_id)
        if fail is not None:
            raise fail
        item = next(i for i in QUEUE if i["handoff_id"] == handoff_id)
        return {"session_id": item["session_id"], "briefing": BRIEFING}

    return Host(lambda: QueueScreen(load, claim)), calls


def options(app) -> list[str]:
    listing = app.screen.query_one("#queue-list", OptionList)
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


async def test_queue_lists_as_given_with_elevated_marked() -> None:
    app, _ = queue()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        rows = options(app)
        assert rows[0].splitlines() == [
            "↗ escalated   ELEVATED   Outlook keeps asking for the password",
            "  CW #48291 · by M. Davis · 3h ago · 3 branches",
            "  notes: Modern auth is on; the prompt comes back after every reboot."]
        assert rows[1].splitlines()[0] == "‖ parked  Printer on floor 2 drops jobs"
        assert rows[1].splitlines()[2] == "  waiting on: HP support case 5512 to send the firmware"
        assert "ELEVATED" not in rows[1] + rows[2]
        assert rows[2].splitlines()[1] == "  no ticket · by A. Lee · 1d ago · 2 branches"
        assert "3 waiting · 1 elevated" in shown(app.screen.query_one("#queue-info"))
        text = shown(app.screen.query_one("#queue-detail-text"))
        assert "↗ escalated · elevated priority · CW #48291" in text
        assert "handed off by M. Davis on 2026-03-02 09:15 UTC (3h ago)" in text
        assert "Notes\nModern auth is on" in text


async def test_queue_claim_shows_the_briefing_then_opens_the_session() -> None:
    app, calls = queue()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert calls["claim"] == ["h-2"]
        assert app.results == []
        text = shown(app.screen.query_one("#queue-detail-text"))
        assert text.startswith("Claimed: Printer on floor 2 drops jobs · CW #48307")
        assert BRIEFING in text
        assert app.screen.query_one("#queue-open").display
        await pilot.press("r")  # nothing to reload once claimed
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == ["s-2"]
    assert len(calls["load"]) == 1


async def test_queue_claim_error_is_shown_and_the_queue_reloads() -> None:
    app, calls = queue(fail=ConflictError("already claimed by J. Park"))
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert calls["claim"] == ["h-1"] and len(calls["load"]) == 2
        assert error(app, "#queue-error") == "Not claimed: already claimed by J. Park"
        assert app.screen.query_one("#queue-error", Static).content.style == "red"
        assert app.results == [] and not app.screen.query_one("#queue-open").display
        await pilot.press("r")
        await settle(pilot)
        assert len(calls["load"]) == 3 and error(app, "#queue-error") == ""
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


async def test_queue_takes_the_core_s_item_shape_too() -> None:
    from datetime import datetime, timedelta, timezone

    created = datetime.now(timezone.utc) - timedelta(hours=5, minutes=3)
    item = {"handoff_id": "h-9", "session_id": "s-9", "session_title": "Shared mailbox is read-only",
            "session_status": "escalated", "ticket_ref": "HALO 2231", "intent": "escalate", "priority": "normal",
            "handed_off_by": "e-7f3a", "handed_off_by_name": "R. Okafor", "created_at": created,
            "waiting_on": None, "notes": "Permissions look right", "branch_count": 0}
    app, _ = queue([item])
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        row = options(app)[0].splitlines()
        assert row[0] == "↗ escalated  Shared mailbox is read-only"
        assert row[1] == "  HALO 2231 · by R. Okafor · 5h ago"
        text = shown(app.screen.query_one("#queue-detail-text"))
        assert f"handed off by R. Okafor on {created.strftime('%Y-%m-%d %H:%M')} UTC (5h ago)" in text


async def test_queue_empty_and_inert() -> None:
    app, _ = queue([])
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert "No sessions waiting" in shown(app.screen.query_one("#queue-info"))

    hostile = [{**QUEUE[1], "title": HOSTILE, "waiting_on": CLEAR, "handed_off_by": HOSTILE}]
    app, _ = queue(hostile)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        row = options(app)[0]
        assert HOSTILE in row and REPLACED in row and "\x1b" not in row
        text = shown(app.screen.query_one("#queue-detail-text"))
        assert f"handed off by {HOSTILE}" in text and REPLACED in text


# --- resolution outputs ---------------------------------------------------------------------------------------

OUTPUTS = [
    {"output_type": "psa_ticket_notes", "content": "Resolved: the split-DNS suffix was missing.\n\n- Added the suffix",
     "status": "draft", "drafter": "offline", "model": None, "pushed_to": None, "pushed_reference": None},
    {"output_type": "knowledge_base",
     "content": "# VPN users cannot reach intranet names\n\n## Things to rule out first\n- VPN profile",
     "status": "approved", "drafter": "llm", "model": "claude-sonnet-4", "pushed_to": None, "pushed_reference": None},
]


def outputs(items: list[dict] | None = None, fail: Exception | None = None):
    from rfpilot.tui.screens.outputs import OutputsScreen

    state = {o["output_type"]: dict(o) for o in (OUTPUTS if items is None else items)}
    calls: list[tuple[str, str, str | None]] = []

    async def actions(action: str, output_type: str, value: str | None) -> dict:
        calls.append((action, output_type, value))
        if fail is not None:
            raise fail
        out = state[output_type]
        if action == "edit":
            out["content"] = value
        elif action in ("approve", "reject"):
            out["status"] = action + "d" if action == "approve" else "rejected"
        elif action == "push":
            out.update(status="pushed", pushed_to="connectwise", pushed_reference="note 9912")
        elif action == "export":
            out.update(pushed_to="file", pushed_reference="/tmp/kb/vpn-intranet.md")
        return dict(out)

    return Host(lambda: OutputsScreen(OUTPUTS if items is None else items, actions)), calls


def status(app, kind: str) -> str:
    return shown(app.screen.query_one(f"#out-{kind}-status", Static))


async def test_outputs_show_each_tab_and_a_missing_one() -> None:
    app, calls = outputs()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert status(app, "psa_ticket_notes") == "draft · offline drafter"
        assert status(app, "knowledge_base") == "approved · llm drafter (claude-sonnet-4)"
        assert screen.query_one("#out-psa_ticket_notes-text", TextArea).text == OUTPUTS[0]["content"]
        await pilot.press("right", "right")
        await pilot.pause()
        assert "not generated" in statics(app)
        await pilot.press("a", "x", "p", "e", "y", "ctrl+s")
        await settle(pilot)
        assert calls == [] and app.copied == []


async def test_outputs_edit_then_approve_and_push() -> None:
    app, calls = outputs()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        area = app.screen.query_one("#out-psa_ticket_notes-text", TextArea)
        await pilot.press("tab")
        assert app.focused is area
        area.move_cursor(area.document.end)
        await type_text(pilot, "\n- apex: flushed")  # a, p, e and x are text here
        assert calls == []
        await pilot.press("ctrl+s")
        await settle(pilot)
        edited = OUTPUTS[0]["content"] + "\n- apex: flushed"
        assert calls == [("edit", "psa_ticket_notes", edited)]
        assert error(app, "#outputs-msg") == "Saved."
        await pilot.press("escape")  # leaves the text for the action row
        assert not isinstance(app.focused, TextArea) and app.results == []
        await pilot.press("a")
        await settle(pilot)
        assert calls[-1] == ("approve", "psa_ticket_notes", None)
        assert status(app, "psa_ticket_notes") == "approved · offline drafter"
        assert error(app, "#outputs-msg") == "Approved."
        await pilot.press("p")
        await settle(pilot)
        assert calls[-1] == ("push", "psa_ticket_notes", None)
        assert status(app, "psa_ticket_notes") == "pushed · offline drafter · pushed to connectwise (note 9912)"
        assert error(app, "#outputs-msg") == "Pushed to connectwise (note 9912)."
        tab = app.screen.query_one("#outputs-tabs").get_tab("out-psa_ticket_notes")
        assert str(tab.label) == "Ticket notes ✓"
        await pilot.press("y")
    assert app.copied == [("ticket notes", edited)]


async def test_outputs_push_saves_unsaved_edits_first() -> None:
    app, calls = outputs()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        app.screen.query_one("#out-psa_ticket_notes-text", TextArea).load_text("Shorter note")
        await pilot.press("p")
        await settle(pilot)
        assert calls == [("edit", "psa_ticket_notes", "Shorter note"), ("push", "psa_ticket_notes", None)]
        assert error(app, "#outputs-msg").startswith("Saved your edits, then: pushed to connectwise")


async def test_outputs_export_only_on_the_kb_tab_and_push_never_there() -> None:
    app, calls = outputs()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert calls == []
        await pilot.press("right")
        await pilot.pause()
        await pilot.press("p")
        await settle(pilot)
        assert calls == []
        await pilot.press("e")
        await settle(pilot)
        assert calls == [("export", "knowledge_base", None)]
        assert error(app, "#outputs-msg") == "Exported to /tmp/kb/vpn-intranet.md."
        assert status(app, "knowledge_base").endswith("pushed to file (/tmp/kb/vpn-intranet.md)")
        assert not app.screen.query("#out-knowledge_base-push")
        assert not app.screen.query("#out-psa_ticket_notes-export")


async def test_outputs_errors_are_shown_in_red() -> None:
    app, calls = outputs(fail=PSAError("ConnectWise refused the note", hint="the ticket is closed"))
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert calls == [("push", "psa_ticket_notes", None)]
        assert error(app, "#outputs-msg") == "ConnectWise refused the note (the ticket is closed)"
        assert app.screen.query_one("#outputs-msg", Static).content.style == "red"
        assert status(app, "psa_ticket_notes") == "draft · offline drafter"


async def test_outputs_escape_warns_about_unsaved_edits_once() -> None:
    app, calls = outputs()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        await type_text(pilot, "x")
        await pilot.press("escape")  # out of the text
        await pilot.press("escape")  # warned
        await pilot.pause()
        assert app.results == []
        assert "Unsaved edits in Ticket notes" in error(app, "#outputs-msg")
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None] and calls == []


async def test_outputs_a_queued_push_is_not_an_error() -> None:
    from rfpilot.errors import QueuedError

    app, calls = outputs(fail=QueuedError("ConnectWise did not answer: the note waits in the outbox"))
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        msg = app.screen.query_one("#outputs-msg", Static)
        assert shown(msg) == "ConnectWise did not answer: the note waits in the outbox"
        assert msg.content.style == "yellow"

    pending = [{**OUTPUTS[0], "status": "approved", "push_pending": True, "edited": True}]
    app, _ = outputs(pending)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert status(app, "psa_ticket_notes") == (
            "approved · offline drafter · edited · push queued: it goes when the PSA answers")


async def test_outputs_are_inert() -> None:
    item = {**OUTPUTS[0], "content": HOSTILE + CLEAR, "drafter": HOSTILE, "model": CLEAR}
    app, _ = outputs([item])
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#out-psa_ticket_notes-text", TextArea).text == HOSTILE + REPLACED
        assert status(app, "psa_ticket_notes") == f"draft · {HOSTILE} drafter ({REPLACED})"


# --- snapshots ------------------------------------------------------------------------------------------------


class TranscriptScreen(Screen):
    """A bit of transcript around a fork: what the main screen shows where the session forked."""

    def compose(self) -> ComposeResult:
        from rfpilot.tui.widgets.forks import fork_card, transition_notice

        moved = {**BY_ID, "b-dns": {**BY_ID["b-dns"], "active": False},
                 "b-cert": {**BY_ID["b-cert"], "active": True, "status": "active"}}
        with VerticalScroll(id="transcript"):
            yield Static("Users on the VPN cannot reach intranet names since Monday.", classes="bubble user")
            yield Static("Three explanations fit; let us keep them apart.", classes="bubble assistant")
            yield fork_card(FORKS[0], moved)
            yield transition_notice("DNS suffix", "Expired certificate",
                                    {"tried": ["Checked the suffix list"], "concluded": "The suffix is there."})


@pytest.mark.parametrize("size", [(100, 32), (80, 24)], ids=["100x32", "80x24"])
def test_snapshot_branch_map(snap_compare, size) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("up")
        await settle(pilot)

    assert snap_compare(branch_map(), terminal_size=size, run_before=before)


def test_snapshot_branch_map_fork_question(snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f")
        await type_text(pilot, "Which resolver answers")
        await pilot.press("enter")
        await type_text(pilot, "NRPT: a stale rule")
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(branch_map(), terminal_size=(100, 32), run_before=before)


def test_snapshot_fork_card(snap_compare) -> None:
    assert snap_compare(Host(TranscriptScreen), terminal_size=(100, 32), run_before=settle)


@pytest.mark.parametrize("intent", ["park", "escalate"])
def test_snapshot_handoff(snap_compare, intent) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await type_text(pilot, "HP support case 5512" if intent == "park" else "Token broker, see the branches")
        await settle(pilot)

    assert snap_compare(handoff(intent), terminal_size=(100, 32), run_before=before)


def test_snapshot_queue(snap_compare) -> None:
    assert snap_compare(queue()[0], terminal_size=(100, 32), run_before=settle)


def test_snapshot_queue_claimed(snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(queue()[0], terminal_size=(100, 32), run_before=before)


def test_snapshot_outputs(snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)

    assert snap_compare(outputs()[0], terminal_size=(100, 32), run_before=before)
