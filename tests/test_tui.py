"""The TUI driven with Textual's Pilot on the scripted provider, asserting on what it shows and stores."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from rfpilot.config import load_settings
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply

pytest.importorskip("textual")


def block(name: str, payload) -> str:
    return f"[{name}]\n{json.dumps(payload)}\n[/{name}]"


Q1 = "Did the scan account's password change recently?"
C1 = "Test the account against the share"

REPLIES = [
    ScriptedReply(reply="Scanning fails while printing works, so look at the SMB credentials.\n\n"
                  + block("QUESTIONS", [{"text": Q1}]) + "\n"
                  + block("ACTIONS", [{"label": C1, "command": "net use \\\\fs\\scans /user:<account> *",
                                       "description": "proves the account works"}])),
    ScriptedReply(reply="A rotation explains it.\n\n"
                  + block("PROMOTE", {"source_type": "question", "source_ref": "{{question:" + Q1 + "}}",
                                      "text": "The scan account password was rotated last night.",
                                      "summary": "points at stale credentials"}) + "\n"
                  + block("ACTIONS", [{"label": C1, "command": "net use \\\\fs\\scans /user:<account> *",
                                       "description": "proves the account works"}])),
    ScriptedReply(reply="The account works, so the copier holds the old password.\n\n"
                  + block("PROMOTE", {"source_type": "diagnostic_check", "source_ref": "{{check:" + C1 + "}}",
                                      "text": "The account opened the share with the new password."}) + "\n"
                  + block("SUGGEST_FIX", {"title": "Update the password stored on the copier",
                                          "description": "The copier still sends the old password.", "confidence": 85})
                  + "\n" + block("QUESTIONS", [{"text": "Web page or front panel?"}])),
    ScriptedReply(reply=("## Problem\nThe copier could not scan to the share.\n\n## What we confirmed\n- The password was rotated.\n\n"
                         "## Root cause\nThe copier kept the old password.\n\n## Resolution\nUpdated it; confirmed working."),
                  action="resolution_note"),
]


@pytest.fixture
def tui_settings(tmp_path: Path):
    env = {
        "RFPILOT_HOME": str(tmp_path / "home"),
        "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tui.db'}",
        "RFPILOT_ACCOUNT": f"tui-{uuid.uuid4().hex[:8]}",
        "RFPILOT_USER_EMAIL": "tui@example.com",
        "RFPILOT_USER_NAME": "TUI Tester",
        "RFPILOT_LLM_PROVIDER": "scripted",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    return load_settings(env=env)


async def settle(pilot) -> None:
    import asyncio
    for _ in range(3):
        try:
            await asyncio.wait_for(pilot.app.workers.wait_for_complete(), 15)
        except TimeoutError:
            raise AssertionError(f"workers stuck: {[(w.name, w.state) for w in pilot.app.workers]} screen={pilot.app.screen} focused={pilot.app.focused}")
        await pilot.pause()


async def wait_for_screen(pilot, cls) -> None:
    """A worker waiting on a dialog never completes until it is answered: poll the screen instead."""
    import asyncio

    for _ in range(200):
        if isinstance(pilot.app.screen, cls):
            await pilot.pause()
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{cls.__name__} never showed; screen is {pilot.app.screen}")


async def post_from_preview(pilot) -> list[str]:
    """ctrl+s in the preview editor posts; the result shows in the editor; ctrl+s again closes it."""
    import asyncio

    screen = pilot.app.screen
    await pilot.press("ctrl+s")
    for _ in range(300):
        if screen.outcome is not None:
            break
        await asyncio.sleep(0.02)
    assert screen.outcome is not None, "posting never finished"
    shown = str(screen.query_one("#preview-result").render())
    assert screen.outcome.lines[0] in shown
    if screen.outcome.closed:
        await pilot.press("ctrl+s")
        await settle(pilot)
    return screen.outcome.lines


async def session_with_verifying_fix(settings) -> tuple[str, int]:
    """A session whose suggested fix was applied and awaits an outcome: (id, state_version)."""
    from rfpilot.core.session import fixes
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import create_session

    ws = await Workspace.open(settings)
    try:
        async with ws.ctx() as ctx:
            row = await create_session(ctx, "VPN drops every hour")
            fix = await fixes.suggest_fix(ctx, row, "Raise the idle timeout", confidence=70)
            await fixes.apply_fix(ctx, row, fix)
            return row.id, row.state_version
    finally:
        await ws.close()


async def store_state(app, session_id: str):
    from rfpilot.tui.data import snapshot

    async with app.ctx() as ctx:
        return await snapshot(ctx, session_id)


async def type_text(pilot, value: str) -> None:
    for ch in value:
        await pilot.press("space" if ch == " " else ch)


async def test_the_whole_workflow(tui_settings) -> None:
    from textual.widgets import TextArea

    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.preview import PreviewScreen
    from rfpilot.tui.screens.text_prompt import TextPrompt
    from rfpilot.tui.widgets.banner import Banner
    from rfpilot.tui.widgets.composer import Composer
    from rfpilot.tui.widgets.lane import LaneRow

    provider = ScriptedProvider(list(REPLIES))
    app = RfpilotApp(tui_settings, provider_factory=lambda: provider)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        # New session.
        await pilot.press("ctrl+n")
        await type_text(pilot, "Copier cannot scan to the share")
        await pilot.press("ctrl+s")
        await settle(pilot)
        sid = screen.session_id
        assert sid is not None and app.focused is screen.query_one(Composer)

        # A chat turn streams into the transcript; the lane fills.
        await type_text(pilot, "Panel says connection failed")
        await pilot.press("enter")
        await settle(pilot)
        snap = await store_state(app, sid)
        assert [m["role"] for m in snap.messages] == ["user", "assistant"]
        assert [i["text"] for i in snap.details["lane"]] == [Q1, C1]
        assert "[QUESTIONS]" not in str(screen.query_one("#transcript").render())

        # Answer the question from the lane: the answer is the next message; a fact appears.
        await pilot.press("ctrl+l")
        assert isinstance(app.focused, LaneRow) and app.focused.item["text"] == Q1
        await pilot.press("enter")
        assert screen.answering and screen.answering["text"] == Q1
        await type_text(pilot, "yes last night")
        await pilot.press("enter")
        await settle(pilot)
        snap = await store_state(app, sid)
        question = next(i for i in snap.details["lane"] if i["kind"] == "question")
        assert question["state"] == "answered" and question["response"] == "yes last night"
        assert [f["source_ref"] for f in snap.details["facts"]] == [question["id"]]

        # n in the lane adds a note of the engineer's own.
        await pilot.press("ctrl+l", "n")
        await wait_for_screen(pilot, TextPrompt)
        await type_text(pilot, "The copier was serviced last week")
        await pilot.press("ctrl+s")
        await settle(pilot)
        snap = await store_state(app, sid)
        assert [f["source_type"] for f in snap.details["facts"]] == ["question", "user_note"]

        # Run the check with pasted output.
        check = next(r for r in screen.query(LaneRow) if r.kind == "check")
        check.focus()
        await pilot.press("a")
        assert screen.answering["kind"] == "check"
        composer = screen.query_one(Composer)
        composer.insert("The command completed successfully.")
        await pilot.press("enter")
        await settle(pilot)
        snap = await store_state(app, sid)
        assert len(snap.details["facts"]) == 3
        assert snap.details["active_fix"]["title"] == "Update the password stored on the copier"
        banner = screen.query_one(Banner)
        assert banner.display and banner.mode == "proposed"

        # Apply -> verifying -> partial (notes) -> finish -> it worked.
        await pilot.press("ctrl+f")
        await pilot.press("1")
        await settle(pilot)
        assert banner.mode == "verifying"
        await pilot.press("ctrl+f")
        await pilot.press("3")
        await pilot.pause()
        await type_text(pilot, "done on the web page only")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert banner.mode == "partial"
        snap = await store_state(app, sid)
        assert snap.details["active_fix"]["partial_notes"] == "done on the web page only"
        await pilot.press("ctrl+f")
        await pilot.press("1")
        await settle(pilot)
        assert banner.mode == "verifying"
        await pilot.press("ctrl+f")
        await pilot.press("1")
        await settle(pilot)
        snap = await store_state(app, sid)
        assert snap.details["active_fix"]["status"] == "applied_success" and not banner.display

        # Resolve: the preview shows the four sections; edit; confirm.
        await app.run_command("resolve")
        await wait_for_screen(pilot, PreviewScreen)
        editor = app.screen.query_one("#preview-text", TextArea)
        assert [line for line in editor.text.splitlines() if line.startswith("## ")] == [
            "## Problem", "## What we confirmed", "## Root cause", "## Resolution"]
        editor.move_cursor(editor.document.end)
        editor.insert("\nChecked by the front desk.")
        lines = await post_from_preview(pilot)
        assert "resolved (local only: no PSA ticket linked)" in lines[0]
        snap = await store_state(app, sid)
        assert snap.details["session"]["status"] == "resolved"
        assert snap.details["resolution_note"].endswith("Checked by the front desk.")
        assert screen.query_one(Composer).disabled


async def test_escalate_with_a_verifying_fix_goes_through_the_intercept(tui_settings) -> None:
    from rfpilot.core.session import fixes
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.choice import ChoiceScreen
    from rfpilot.tui.screens.preview import PreviewScreen

    sid, _ = await session_with_verifying_fix(tui_settings)

    app = RfpilotApp(tui_settings, open_session=sid[:8], provider_factory=lambda: ScriptedProvider(list(REPLIES)))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        assert app.screen.session_id == sid
        await app.run_command("escalate")
        await wait_for_screen(pilot, ChoiceScreen)
        assert [key for key, _ in app.screen.choices][0] == "failed"
        await pilot.press("enter")  # the default: it didn't work
        await wait_for_screen(pilot, PreviewScreen)
        text = app.screen.query_one("#preview-text").text
        assert "## What we've tried" in text
        await post_from_preview(pilot)
        snap = await store_state(app, sid)
        assert snap.details["session"]["status"] == "escalated"
        async with app.ctx() as ctx:
            from rfpilot.core.session.sessions import get_session

            row = await get_session(ctx, sid)
            assert (await fixes.list_fixes(ctx, row))[0].status == "applied_failed"


async def test_cancelling_the_intercept_changes_nothing(tui_settings) -> None:
    from rfpilot.tui.app import RfpilotApp

    sid, version = await session_with_verifying_fix(tui_settings)
    app = RfpilotApp(tui_settings, open_session=sid, provider_factory=lambda: ScriptedProvider(list(REPLIES)))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        from rfpilot.tui.screens.choice import ChoiceScreen

        await app.run_command("escalate")
        await wait_for_screen(pilot, ChoiceScreen)
        await pilot.press("escape")
        await settle(pilot)
        snap = await store_state(app, sid)
        assert snap.details["session"]["status"] == "active" and snap.details["session"]["state_version"] == version


async def test_closing_the_preview_after_answering_the_intercept_records_nothing(tui_settings) -> None:
    """The answer about the fix is stored with the close, in one transaction: walking away from the preview keeps
    neither (the preview still shows the note as it would read with the answer)."""
    from rfpilot.core.session import fixes
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.choice import ChoiceScreen
    from rfpilot.tui.screens.preview import PreviewScreen

    sid, version = await session_with_verifying_fix(tui_settings)
    app = RfpilotApp(tui_settings, open_session=sid, provider_factory=lambda: ScriptedProvider(list(REPLIES)))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await app.run_command("escalate")
        await wait_for_screen(pilot, ChoiceScreen)
        await pilot.press("enter")  # it didn't work
        await wait_for_screen(pilot, PreviewScreen)
        assert "## What we've tried" in app.screen.query_one("#preview-text").text
        await pilot.press("escape")
        await settle(pilot)
        snap = await store_state(app, sid)
        assert snap.details["session"]["status"] == "active" and snap.details["session"]["state_version"] == version
        async with app.ctx() as ctx:
            from rfpilot.core.session.sessions import get_session

            row = await get_session(ctx, sid)
            assert (await fixes.list_fixes(ctx, row))[0].status == "proposed"  # still verifying


async def test_model_text_is_inert(tui_settings) -> None:
    """Markup, escape and OSC sequences from the model or a paste render as text."""
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.safe import inert

    nasty = "[bold red]boom[/] \x1b[2J\x1b]52;c;aGVsbG8=\x07 \x1b]0;title\x07 done"
    assert "\x1b" not in inert(nasty) and "\x07" not in inert(nasty)
    provider = ScriptedProvider([ScriptedReply(reply=nasty + "\n" + block("QUESTIONS", [{"text": nasty}]))])
    app = RfpilotApp(tui_settings, provider_factory=lambda: provider)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await type_text(pilot, "x")
        await pilot.press("ctrl+s")
        await settle(pilot)
        app.screen.query_one("#composer").insert(nasty)
        await pilot.press("enter")
        await settle(pilot)
        shown = "\n".join(str(w.render()) for w in app.screen.query(".bubble, .lane-row"))
        assert "[bold red]boom[/]" in shown
        assert "\x1b" not in shown and "\x07" not in shown


async def test_palette_and_ctrl_c(tui_settings) -> None:
    """The palette reaches session actions; ctrl+c never quits or loses the composer's text."""
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.text_prompt import TextPrompt
    from rfpilot.tui.widgets.composer import Composer

    app = RfpilotApp(tui_settings, provider_factory=lambda: ScriptedProvider(list(REPLIES)))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await type_text(pilot, "Laptop will not dock")
        await pilot.press("ctrl+s")
        await settle(pilot)
        composer = app.screen.query_one(Composer)
        composer.insert("half-typed thought")
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running and composer.text == "half-typed thought"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "add a note")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for_screen(pilot, TextPrompt)
        await type_text(pilot, "The dock firmware is 1.0.4")
        await pilot.press("ctrl+s")
        await settle(pilot)
        snap = await store_state(app, app.screen.session_id)
        assert [(f["text"], f["source_type"]) for f in snap.details["facts"]] == [("The dock firmware is 1.0.4", "user_note")]


async def test_filter_and_abandon(tui_settings) -> None:
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import create_session
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.choice import ChoiceScreen
    from rfpilot.tui.screens.text_prompt import TextPrompt
    from rfpilot.tui.widgets.session_list import SessionList

    ws = await Workspace.open(tui_settings)
    async with ws.ctx() as ctx:
        await create_session(ctx, "Printer offline on the second floor")
        keep = await create_session(ctx, "VPN drops every hour", client="Northwind")
    await ws.close()
    app = RfpilotApp(tui_settings, provider_factory=lambda: ScriptedProvider(list(REPLIES)))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        listing = app.screen.query_one(SessionList)
        assert app.focused is listing
        await pilot.press("slash")
        await type_text(pilot, "northwind")
        await settle(pilot)  # the filter is a query in the store
        assert [r.title for r in listing.matching()] == ["VPN drops every hour"]
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert app.screen.session_id == keep.id
        await app.run_command("abandon")
        await wait_for_screen(pilot, ChoiceScreen)
        await pilot.press("down", "enter")
        await wait_for_screen(pilot, TextPrompt)
        await type_text(pilot, "duplicate ticket")
        await pilot.press("ctrl+s")
        await settle(pilot)
        snap = await store_state(app, keep.id)
        assert snap.details["session"]["status"] == "abandoned"
        assert snap.details["session"]["abandon_reason"] == "duplicate ticket"


def keymap_settings(tmp_path, keymap: str):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(f"[keymap]\n{keymap}", encoding="utf-8")
    return load_settings(env={"RFPILOT_HOME": str(home), "RFPILOT_LLM_PROVIDER": "offline",
                              "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
                              "RFPILOT_USER_EMAIL": "k@example.com"})


async def _new_session_key_then_quit(pilot, app, key: str) -> None:
    """``key`` opens the new-session prompt (the keymap in force maps it so); escape, then ctrl+q still quits."""
    from rfpilot.tui.screens.text_prompt import TextPrompt

    await pilot.press(key)
    await wait_for_screen(pilot, TextPrompt)
    await pilot.press("escape")
    await pilot.pause()
    await pilot.press("ctrl+q")
    await pilot.pause()
    assert not app.is_running


async def test_keymap_from_config(tmp_path) -> None:
    """[keymap] in config.toml remaps a binding by id; ctrl+q still quits."""
    from rfpilot.tui.app import RfpilotApp

    settings = keymap_settings(tmp_path, '"session.new" = "f6"\n"app.quit" = "f10"\n')
    app = RfpilotApp(settings)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await _new_session_key_then_quit(pilot, app, "f6")


async def test_a_bad_keymap_is_ignored_with_a_warning(tmp_path) -> None:
    """A keymap entry that is not keys is left out (the app still opens, its other entries apply) and said in a
    warning naming it, with how to write one; `keymap = 5` leaves every default key."""
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.text_prompt import TextPrompt

    settings = keymap_settings(tmp_path, '"session.new" = "f6"\n"app.quit" = 5\n')
    app = RfpilotApp(settings)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        said = [str(n.message) for n in app._notifications]
        assert any(m.startswith("keymap.app.quit does not take 5: it takes a key") and "ignored" in m for m in said), said
        assert app.key_for("session.new") == "f6"
        await pilot.press("f6")
        await wait_for_screen(pilot, TextPrompt)
        await pilot.press("escape")

    config = settings.paths.config_file
    config.write_text("keymap = 5\n", encoding="utf-8")
    app = RfpilotApp(load_settings(env=settings.env))
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        said = [str(n.message) for n in app._notifications]
        assert any(m.startswith(f"keymap does not take 5: it takes a table of binding ids and keys (config {config})")
                   and "rfpilot config set keymap --unset" in m for m in said), said
        assert app.keymap == {}
        await _new_session_key_then_quit(pilot, app, "ctrl+n")  # the default key


async def test_help_follows_focus_and_keymap(tmp_path) -> None:
    """F1 lists the focused widget's usable keys first; help and palette show remapped keys."""
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.facts import add_note
    from rfpilot.core.session.sessions import create_session
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.help import HelpScreen

    settings = keymap_settings(tmp_path, '"session.new" = "f6"\n')
    ws = await Workspace.open(settings)
    async with ws.ctx() as ctx:
        row = await create_session(ctx, "Laptop will not dock")
        await add_note(ctx, row, "The dock firmware is 1.0.4")
        session_id = row.id
    await ws.close()

    app = RfpilotApp(settings, open_session=session_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.key_for("session.new") == "f6"
        await pilot.press("ctrl+p")  # the palette shows the key next to the command
        await pilot.pause(0.5)
        from textual.command import CommandPalette
        from textual.widgets import OptionList

        assert isinstance(app.screen, CommandPalette)
        shown = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
        assert any("New session" in p and "key: f6" in p for p in shown), shown
        assert any("Resolve this session" in p and "key:" not in p for p in shown)  # no single-key resolve
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+l")  # the engineer's own note: edit and delete, not skip or answer
        await pilot.pause()
        await pilot.press("f1")
        await wait_for_screen(pilot, HelpScreen)
        title, rows = app.screen.sections[0]
        assert title == "Here: a task lane row"
        ids = {bid for _, _, bid in rows}
        assert {"lane.edit", "lane.delete", "lane.add_note"} <= ids
        assert not ids & {"lane.skip", "lane.answer", "lane.copy"}
        assert ("d, del", "Delete", "lane.delete") in rows
        everything = {bid: key for _, others in app.screen.sections[1:] for key, _, bid in others}
        assert everything["session.new"] == "f6" and "lane.delete" not in everything
