"""The focus model (docs/tui.md): drawers close when focus leaves them, esc backs out one level, nothing hidden
holds focus, the footer shows exactly the keys that act now, help is contextual, no key shadows text editing.

Driven with Pilot on the real app at 80×24 (and wider where the bug was seen)."""

from __future__ import annotations

import pytest

from test_tui import REPLIES, ScriptedProvider, settle, store_state, tui_settings, type_text, wait_for_screen  # noqa: F401

pytest.importorskip("textual")


# --- what the user sees ------------------------------------------------------------------------------


def assert_focus_visible(app, where: str) -> None:
    """The focused widget is on the top screen, displayed, on screen and not covered by anything."""
    focused = app.focused
    assert focused is not None, f"{where}: nothing has focus"
    screen = app.screen
    assert focused.screen is screen, f"{where}: {focused} has focus on a screen below {screen}"
    # display is inherited (a container's none hides all in it); visibility is per widget (CSS may hide a
    # container and show a child), so only the widget's own counts.
    hidden = [n for n in focused.ancestors_with_self if n is not app and not n.display]
    assert focused.visible, f"{where}: {focused} has focus with visibility hidden"
    assert not hidden, f"{where}: {focused} has focus inside hidden {hidden}"
    region = focused.region
    assert region.area > 0, f"{where}: {focused} has focus but no place on screen"
    x, y = region.x + region.width // 2, region.y + min(region.height - 1, 1)
    assert 0 <= x < app.size.width and 0 <= y < app.size.height, f"{where}: {focused} is off screen ({region})"
    top, _ = screen.get_widget_at(x, y)
    assert top is focused or focused in top.ancestors, f"{where}: {focused} is covered by {top}"


def footer_state(app) -> tuple[list, list]:
    """(the footer keys on screen as (key, action, disabled), the live bindings the footer should show)."""
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    screen = app.screen
    shown_footers = [f for f in app.query(Footer) if f.display and f.screen is screen]
    stale = [f for f in app.screen_stack[0].query(Footer) if f.display and f.screen is not screen]
    assert not stale, f"the footer of {stale[0].screen} shows while {screen} is on top"
    if not shown_footers:
        return [], []
    assert len(shown_footers) == 1, shown_footers
    keys = [(k.key, k.action, k.disabled) for k in shown_footers[0].query(FooterKey)]
    # The live bindings: what a key press would run now (Textual drops a key the focused field types, and a
    # binding whose check_action says False, from active_bindings).
    active = screen.active_bindings
    live = {(b.binding.key, b.binding.action) for b in active.values() if b.binding.show}
    palette = active.get(app.COMMAND_PALETTE_BINDING)  # the footer shows it on the right when it acts
    if palette is not None and shown_footers[0].show_command_palette:
        live.add((palette.binding.key, palette.binding.action))
    return keys, sorted(live)


def assert_footer_is_live(app, where: str) -> None:
    keys, live = footer_state(app)
    assert not [k for k in keys if k[2]], f"{where}: the footer shows keys that do nothing now: {keys}"
    shown_actions = {action for _, action, _ in keys}
    live_actions = {action for _, action in live}
    assert shown_actions == live_actions, f"{where}: footer {sorted(shown_actions)} != live {sorted(live_actions)}"
    for key, action, _ in keys:  # each key shown runs its action: nothing above it takes the key first
        binding = app.screen.active_bindings.get(key)
        assert binding is not None and binding.binding.action == action and binding.enabled, f"{where}: {key}"


async def check(pilot, where: str) -> None:
    await pilot.pause()
    await pilot.pause()
    assert_focus_visible(pilot.app, where)
    assert_footer_is_live(pilot.app, where)


# --- sample data -------------------------------------------------------------------------------------


async def seeded(settings, *, resolved: bool = False, verifying: bool = False) -> str:
    from rfpilot.core.closeout import closing
    from rfpilot.core.session import fixes
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.facts import add_note
    from rfpilot.core.session.sessions import create_session

    ws = await Workspace.open(settings)
    try:
        async with ws.ctx() as ctx:
            row = await create_session(ctx, "VPN drops every hour", client="Northwind")
            await add_note(ctx, row, "The gateway firmware is 4.2")
            from rfpilot.core.session.lane import add_check

            await add_check(ctx, row, "Ping the gateway", command="ping -t gw.example.net")
            if verifying:
                fix = await fixes.suggest_fix(ctx, row, "Raise the idle timeout", confidence=70)
                await fixes.apply_fix(ctx, row, fix)
            if resolved:
                await closing.resolve_session(ctx, row, "## Problem\nDrops.\n\n## Resolution\nRaised the timeout.")
                from rfpilot.core.team.outputs import generate_all

                await generate_all(ctx, row, None)
            return row.id
    finally:
        await ws.close()


def make_app(settings, **kwargs):
    from rfpilot.tui.app import RfpilotApp

    return RfpilotApp(settings, provider_factory=lambda: ScriptedProvider(list(REPLIES)), **kwargs)


async def escape_to_main(pilot) -> None:
    from rfpilot.tui.screens.main import MainScreen

    for _ in range(4):
        if isinstance(pilot.app.screen, MainScreen):
            return
        await pilot.press("escape")
        await pilot.pause()
    assert isinstance(pilot.app.screen, MainScreen), pilot.app.screen


# --- the acceptance walk -----------------------------------------------------------------------------


async def test_every_screen_and_drawer_at_80x24_has_visible_focus_and_a_live_footer(tui_settings) -> None:
    from textual.command import CommandPalette

    from rfpilot.tui.screens.branch_map import BranchMapScreen
    from rfpilot.tui.screens.choice import ChoiceScreen
    from rfpilot.tui.screens.handoff import HandoffDialog
    from rfpilot.tui.screens.help import HelpScreen
    from rfpilot.tui.screens.outputs import OutputsScreen
    from rfpilot.tui.screens.preview import PreviewScreen
    from rfpilot.tui.screens.queue import QueueScreen
    from rfpilot.tui.screens.script_library import ScriptsScreen
    from rfpilot.tui.screens.text_prompt import TextPrompt
    from rfpilot.tui.screens.three_choice import ThreeChoiceScreen
    from rfpilot.tui.screens.ticket_picker import TicketPicker

    sid = await seeded(tui_settings, verifying=True)
    app = make_app(tui_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        main = app.screen
        await check(pilot, "first launch: the list drawer")
        assert main.has_class("-show-sessions")
        await pilot.press("ctrl+b")
        await check(pilot, "list drawer closed, nothing open")
        await pilot.press("ctrl+o")
        await check(pilot, "list drawer again")
        await pilot.press("slash")
        await check(pilot, "the filter")
        await pilot.press("escape")
        await check(pilot, "back from the filter")
        main.query_one("#sessions").select_session(sid)
        await pilot.press("enter")
        await settle(pilot)
        await check(pilot, "a session open: the composer")
        assert not main.has_class("-show-sessions")
        await pilot.press("ctrl+l")
        await check(pilot, "the lane drawer")
        assert main.has_class("-show-lane")
        await pilot.press("escape")
        await check(pilot, "esc closed the lane drawer")
        assert not main.has_class("-show-lane")
        await pilot.press("ctrl+f")
        await check(pilot, "the fix banner")
        await pilot.press("ctrl+g")
        await check(pilot, "back to the composer")

        for key, screen_class in (("ctrl+n", TextPrompt), ("f1", HelpScreen), ("f3", ScriptsScreen),
                                  ("f4", BranchMapScreen), ("f5", QueueScreen), ("f6", HandoffDialog)):
            await pilot.press(key)
            await wait_for_screen(pilot, screen_class)
            await pilot.pause(0.3)  # a worker waits on the dialog: it loads, nothing to settle
            await check(pilot, screen_class.__name__)
            await escape_to_main(pilot)
            await pilot.pause(0.3)
            await check(pilot, f"back from {screen_class.__name__}")

        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, CommandPalette)
        await pilot.pause(0.5)
        await check(pilot, "the command palette")
        await escape_to_main(pilot)

        await app.run_command("pause")
        await wait_for_screen(pilot, ChoiceScreen)
        await check(pilot, "a confirmation")
        await escape_to_main(pilot)

        async def tickets():
            return [("48307", "CW #48307  VPN drops\n   New · Northwind", None)]

        for dialog in (PreviewScreen("resolve", "## Problem\nDrops.", "drafted offline"), TicketPicker(tickets),
                       ThreeChoiceScreen("Raise the idle timeout", "Set-VpnTimeout 3600", None)):
            app.push_screen(dialog)
            await wait_for_screen(pilot, type(dialog))
            await pilot.pause(0.3)
            await check(pilot, type(dialog).__name__)
            await escape_to_main(pilot)
            await check(pilot, f"back from {type(dialog).__name__}")

        await pilot.press("ctrl+l", "ctrl+t")
        await check(pilot, "ctrl+t closed the lane drawer")
        await pilot.resize_terminal(160, 50)
        await pilot.press("ctrl+l")
        await check(pilot, "the lane at 160x50")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await check(pilot, "after a resize below 120 columns")

    done = await seeded(tui_settings, resolved=True)
    app = make_app(tui_settings, open_session=done)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await check(pilot, "a resolved session")
        await pilot.press("f7")
        await wait_for_screen(pilot, OutputsScreen)
        await check(pilot, "the outputs overlay")
        await escape_to_main(pilot)
        await check(pilot, "back from the outputs")


async def test_the_essential_keys_stay_visible_at_80_columns(tui_settings) -> None:
    from textual.widgets._footer import FooterKey

    sid = await seeded(tui_settings)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for step in ("composer", "ctrl+l", "down", "ctrl+o"):  # down: the check, with the most keys
            if step != "composer":
                await pilot.press(step)
            await pilot.pause()
            await pilot.pause()
            visible = {k.key for k in app.screen.query(FooterKey) if k.region.area and k.region.right <= 80}
            assert {"ctrl+n", "ctrl+o", "ctrl+l", "ctrl+q", "f1"} <= visible, (step, visible)


# --- item 1: drawers close when focus leaves them -------------------------------------------------------


async def test_sending_from_a_new_session_closes_the_list_drawer(tui_settings) -> None:
    from rfpilot.tui.widgets.composer import Composer

    app = make_app(tui_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-show-sessions")  # first launch: the list fills the screen
        await pilot.press("ctrl+n")
        await type_text(pilot, "Printer offline")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.focused, Composer)
        assert not app.screen.has_class("-show-sessions")
        assert_focus_visible(app, "the new session's composer")
        await type_text(pilot, "it fails")
        await pilot.press("enter")
        await settle(pilot)
        assert_focus_visible(app, "after sending")


async def test_answering_a_question_closes_the_lane_drawer(tui_settings) -> None:
    from rfpilot.tui.widgets.composer import Composer

    sid = await seeded(tui_settings)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "scan fails")
        await pilot.press("enter")
        await settle(pilot)  # the reply asks a question
        await pilot.press("ctrl+l")
        await pilot.pause()
        while app.focused.kind != "question":
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.focused, Composer)
        assert not app.screen.has_class("-show-lane")
        await pilot.pause()
        assert_focus_visible(app, "answering a question")
        assert app.screen.query_one("#composer-mode").region.area > 0  # "Answering: …" is on screen


async def test_esc_closes_a_drawer_one_level_at_a_time(tui_settings) -> None:
    sid = await seeded(tui_settings)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o", "slash")
        await type_text(pilot, "vpn")
        await pilot.press("escape")  # the filter: cleared, back to the list
        await pilot.pause()
        assert app.focused.id == "sessions" and app.screen.query_one("#session-filter").value == ""
        assert app.screen.has_class("-show-sessions")
        await pilot.press("escape")  # the drawer
        await pilot.pause()
        assert not app.screen.has_class("-show-sessions") and app.focused.id == "composer"


# --- item 2: a hidden pane never keeps focus ---------------------------------------------------------


async def test_ctrl_t_moves_focus_out_of_the_lane_it_hides(tui_settings) -> None:
    from rfpilot.tui.screens.text_prompt import TextPrompt

    sid = await seeded(tui_settings)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+l")
        await pilot.pause()
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert_focus_visible(app, "after ctrl+t")
        await pilot.press("n")  # typed into the composer, not the invisible lane's "Add a note"
        await pilot.pause()
        assert not isinstance(app.screen, TextPrompt)
        assert app.screen.composer.text == "n"


async def test_a_resize_below_120_columns_moves_focus_out_of_the_lane(tui_settings) -> None:
    sid = await seeded(tui_settings)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.focused.kind == "fact"
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        await pilot.pause()
        assert_focus_visible(app, "after the resize")
        await pilot.press("d")  # not the hidden fact's delete dialog
        await pilot.pause()
        assert app.screen is app.screen_stack[0] and app.screen.composer.text == "d"


async def test_wide_ctrl_t_hides_the_lane_and_its_focus(tui_settings) -> None:
    sid = await seeded(tui_settings)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+l", "ctrl+t")
        await pilot.pause()
        await pilot.pause()
        assert app.screen.query_one("#lane").region.area == 0
        assert_focus_visible(app, "lane hidden at 160 columns")
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.pause()
        assert app.screen.query_one("#lane").region.area > 0


# --- item 3: no key shadows text editing ------------------------------------------------------------


def test_no_app_or_screen_key_is_a_text_editing_key() -> None:
    from textual.widgets import Input, TextArea

    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.main import MainScreen

    editing = {k.strip() for cls in (TextArea, Input) for b in cls.BINDINGS for k in b.key.split(",")}
    # f6/f7 (TextArea's select line / select all) hand off and show outputs even in the composer (docs/tui.md);
    # ctrl+c copies the selection as TextArea's does.
    allowed = {"f6", "f7", "ctrl+c"}
    ours = {k.strip() for cls in (RfpilotApp, MainScreen) for b in cls.BINDINGS for k in b.key.split(",")}
    assert not (ours & editing) - allowed


def dialog_classes() -> list[type]:
    """Every screen pushed over the main one (dialogs and full-screen views), found by walking the modules."""
    import importlib
    import inspect
    import pkgutil

    from textual.screen import Screen

    import rfpilot.tui.screens as screens
    from rfpilot.tui.screens.main import MainScreen

    found = []
    for info in pkgutil.iter_modules(screens.__path__):
        module = importlib.import_module(f"{screens.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Screen) and cls.__module__ == module.__name__ and cls is not MainScreen:
                found.append(cls)
    return found


# Dialog keys that a text field also binds, each documented in docs/tui.md ("No key of the app takes…"):
# enter in the branch map and the queue acts only where no Input has focus (the Input's enter wins there).
DIALOG_TEXT_KEY_EXCEPTIONS = {("BranchMapScreen", "enter"), ("QueueScreen", "enter"), ("ScriptsScreen", "down")}


def test_no_dialog_key_is_a_text_editing_key() -> None:
    """Each dialog's own keys against the default keys of the installed Textual's TextArea and Input: a dialog
    key there either steals the edit (priority) or dies while the field has focus (footer and buttons lie)."""
    from textual.screen import ModalScreen, Screen
    from textual.widgets import Input, TextArea

    def keys(cls) -> dict[str, str]:
        out = {}
        for klass in cls.__mro__:
            if klass in (Screen, ModalScreen) or not issubclass(klass, Screen):
                continue  # Textual's own screen keys (tab, ctrl+c copy) are the same everywhere
            for binding in klass.__dict__.get("BINDINGS", []):
                for key in binding.key.split(","):
                    out.setdefault(key.strip(), binding.action)
        return out

    fields = {cls.__name__: {k.strip() for b in cls.BINDINGS for k in b.key.split(",")} for cls in (TextArea, Input)}
    dialogs = dialog_classes()
    assert {"ParameterForm", "TextPrompt", "PreviewScreen", "HandoffDialog", "BranchMapScreen"} <= {
        d.__name__ for d in dialogs}
    clashes = sorted((dialog.__name__, key, field)
                     for dialog in dialogs for key in keys(dialog) for field, taken in fields.items()
                     if key in taken and (dialog.__name__, key) not in DIALOG_TEXT_KEY_EXCEPTIONS)
    assert not clashes, clashes


async def test_focus_composer_key_keeps_the_draft(tui_settings) -> None:
    from rfpilot.tui.screens.main import MainScreen

    key = next(b.key for b in MainScreen.BINDINGS if b.id == "focus.composer")  # the documented key
    sid = await seeded(tui_settings)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        composer = app.screen.composer
        composer.insert("a draft I want to keep")
        composer.move_cursor((0, 2))
        await pilot.press(key)
        await pilot.pause()
        assert composer.text == "a draft I want to keep"
        await pilot.press("ctrl+o", key)
        await pilot.pause()
        assert app.focused is composer and not app.screen.has_class("-show-sessions")


# --- list 9 -------------------------------------------------------------------------------------------


async def test_slash_in_the_library_does_not_type_into_the_focused_search(tui_settings) -> None:
    from rfpilot.tui.screens.script_library import ScriptsScreen

    app = make_app(tui_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await wait_for_screen(pilot, ScriptsScreen)
        await pilot.press("slash")
        await pilot.pause()
        search = app.screen.query_one("#scripts-search")
        assert app.focused is search and search.value == ""
        await type_text(pilot, "a/b")  # once there is text, / types
        assert search.value == "a/b"


async def test_question_mark_opens_contextual_help_and_types_in_the_composer(tui_settings) -> None:
    from rfpilot.tui.screens.help import HelpScreen

    sid = await seeded(tui_settings)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.composer.text == "?"
        await pilot.press("ctrl+l", "question_mark")
        await wait_for_screen(pilot, HelpScreen)
        title, rows = app.screen.sections[0]
        assert title == "Here: a task lane row" and "lane.delete" in {bid for *_, bid in rows}
        everything = [row for _, rows in app.screen.sections for row in rows]
        assert ("ctrl+p", "Command palette: every action, with its key", "") in [
            (k.replace("^", "ctrl+"), d, b) for k, d, b in everything]
        ids = {bid for *_, bid in everything}
        assert {"preview.post", "preview.regenerate", "preview.cancel"} <= ids
        await pilot.press("question_mark")  # again closes it
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_the_palette_offers_only_what_the_session_state_allows(tui_settings) -> None:
    from textual.command import CommandPalette
    from textual.widgets import OptionList

    sid = await seeded(tui_settings, resolved=True)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.5)
        assert isinstance(app.screen, CommandPalette)
        shown = " | ".join(str(o.prompt) for o in app.screen.query_one(OptionList).options)
        for gone in ("Resolve this session", "Pause this session", "Resume this session", "Abandon this session"):
            assert gone not in shown
        assert "Reopen this session" in shown and "Escalate this session" in shown


def test_valid_actions_follow_the_transitions() -> None:
    from rfpilot.core.session.sessions import valid_actions

    assert valid_actions("active") == {"pause", "resolve", "escalate", "abandon"}
    assert valid_actions("paused") == {"resume", "resolve", "escalate", "abandon"}
    assert valid_actions("escalated") == {"resolve", "abandon"}
    assert valid_actions("resolved") == {"reopen", "escalate"}
    assert valid_actions("abandoned") == {"reopen"}


async def test_banner_buttons_show_their_keys(tui_settings) -> None:
    from textual.widgets import Button

    sid = await seeded(tui_settings, verifying=True)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        banner = app.screen.query_one("#banner")
        labels = [str(b.label) for b in banner.query(Button)]
        assert labels[:2] == ["1·It worked", "2·Didn't work…"]
        assert "ctrl+f, then 1–4" in str(banner.query_one("#banner-text").render())


async def test_f2_without_a_psa_says_how_to_connect_one(tui_settings) -> None:
    app = make_app(tui_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any("no PSA connection" in m and "rfpilot psa connect" in m for m in said), said


async def test_a_dialog_footer_shows_the_dialog_keys(tui_settings) -> None:
    from textual.widgets._footer import FooterKey

    from rfpilot.tui.screens.text_prompt import TextPrompt

    app = make_app(tui_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await wait_for_screen(pilot, TextPrompt)
        await pilot.pause()
        shown = [k.key for k in app.screen.query(FooterKey) if k.region.area]
        assert {"ctrl+s", "escape"} <= set(shown) and "ctrl+n" not in shown
        # quit and help act in every dialog (app priority keys) and show first, as in the main footer
        assert shown[:2] == ["ctrl+q", "f1"], shown
        assert_footer_is_live(app, "new session dialog")


async def test_closing_a_session_takes_focus_off_the_lane(tui_settings) -> None:
    """At 160×50 a sentence typed after closing a session went to the lane's keys (n, d, s…)."""
    from rfpilot.tui.screens.choice import ChoiceScreen
    from rfpilot.tui.screens.text_prompt import TextPrompt
    from rfpilot.tui.widgets.session_list import SessionList

    sid = await seeded(tui_settings)
    app = make_app(tui_settings, open_session=sid)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+l")
        await pilot.pause()
        await app.run_command("abandon")
        await wait_for_screen(pilot, ChoiceScreen)
        await pilot.press("down", "enter")
        await wait_for_screen(pilot, TextPrompt)
        await type_text(pilot, "duplicate")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert (await store_state(app, sid)).details["session"]["status"] == "abandoned"
        assert isinstance(app.focused, SessionList)
        assert_focus_visible(app, "after abandoning")
        await pilot.press("n")  # not "Add a note" on the closed session's lane
        await pilot.pause()
        assert not isinstance(app.screen, TextPrompt)
