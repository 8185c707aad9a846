"""Scripts in the TUI, end to end on the store: Apply → three choices → resolve → review; Apply → the form."""

from __future__ import annotations

import asyncio

from tests.test_tui import settle, tui_settings, wait_for_screen  # noqa: F401

SCRIPT = "Set-CopierSmb -Host copier-01 -Account 'HARBOUR\\svc-scan'"


async def _seed(settings, *, template: bool):
    from rfpilot.core.session import fixes
    from rfpilot.core.library import templates
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.facts import add_note
    from rfpilot.core.library.render import Parameter
    from rfpilot.core.session.sessions import create_session

    ws = await Workspace.open(settings)
    try:
        async with ws.ctx() as ctx:
            row = await create_session(ctx, "Front-desk copier cannot scan to the share")
            if template:
                await templates.create_template(ctx, templates.TemplateSpec(
                    name="Copier scan login", slug="copier-scan-login",
                    body="Set-CopierSmb -Host {{ host }} -Account '{{ scan_account }}'",
                    parameters=[Parameter("host", "Copier host"), Parameter("scan_account", "Scan account")]))
                await add_note(ctx, row, "The scan account is HARBOUR\\svc-scan2")
                await fixes.suggest_fix(ctx, row, "Update the copier's scan login", confidence=85,
                                        template_slug="copier-scan-login", parameters={"host": "copier-02"})
            else:
                await fixes.suggest_fix(ctx, row, "Update the copier's scan login", confidence=85, script=SCRIPT)
            return row.id
    finally:
        await ws.close()


async def _store(app, sid):
    from rfpilot.core.session import fixes
    from rfpilot.core.library import templates
    from rfpilot.core.session.sessions import get_session

    async with app.ctx() as ctx:
        row = await get_session(ctx, sid)
        fix = await fixes.active_fix(ctx, row)
        return row, fix, await templates.list_templates(ctx), await templates.list_drafts(ctx, pending_only=False)


async def test_apply_a_drafted_script_then_keep_it_after_resolving(tui_settings) -> None:
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.choice import ChoiceScreen
    from rfpilot.tui.screens.draft_review import DraftReviewScreen
    from rfpilot.tui.screens.preview import PreviewScreen
    from rfpilot.tui.screens.three_choice import ThreeChoiceScreen

    sid = await _seed(tui_settings, template=False)
    app = RfpilotApp(tui_settings, open_session=sid)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f", "1")  # the banner's Apply
        await wait_for_screen(pilot, ThreeChoiceScreen)
        await pilot.press("2")  # run now, templatize after resolve
        await settle(pilot)
        row, fix, _, drafts = await _store(app, sid)
        assert fix.user_decision == "draft_template" and fix.applied_at is not None
        assert [d.status for d in drafts] == ["pending"]

        await app.run_command("resolve")
        await wait_for_screen(pilot, ChoiceScreen)  # the fix is verifying: did it work?
        assert app.screen.choices[0][0] == "worked"
        await pilot.press("enter")
        await wait_for_screen(pilot, PreviewScreen)
        screen = app.screen
        await pilot.press("ctrl+s")
        for _ in range(200):
            if screen.outcome is not None:
                break
            await asyncio.sleep(0.02)
        await pilot.press("ctrl+s")  # close the editor: the review follows
        await wait_for_screen(pilot, DraftReviewScreen)
        app.screen.query_one("#review-name").value = "Copier scan login"
        await pilot.press("ctrl+s")
        await settle(pilot)
        row, _, library, drafts = await _store(app, sid)
        assert row.status == "resolved"
        assert [d.status for d in drafts] == ["accepted"]
        [tpl] = library
        assert tpl.name == "Copier scan login" and tpl.body == SCRIPT and tpl.source_session_id == sid


async def test_apply_a_template_fix_fills_the_form_and_records_the_run(tui_settings) -> None:
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.parameter_form import ParameterForm
    from rfpilot.tui.screens.script_library import ScriptsScreen

    sid = await _seed(tui_settings, template=True)
    app = RfpilotApp(tui_settings, open_session=sid)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f", "1")
        await wait_for_screen(pilot, ParameterForm)
        form = app.screen
        shown = " ".join(str(w.render()) for w in form.query("Static"))
        assert "from session: The scan account is HARBOUR\\svc-scan2" in shown and "from the fix" in shown
        assert "Set-CopierSmb -Host copier-02 -Account 'HARBOUR\\svc-scan2'" in shown
        await pilot.press("ctrl+s")  # I ran this
        await settle(pilot)
        _, fix, [tpl], _ = await _store(app, sid)
        assert fix.applied_at is not None and tpl.usage_count == 1
        assert app.screen.query_one("#banner").mode == "verifying"

        await pilot.press("f3")
        await wait_for_screen(pilot, ScriptsScreen)
        await pilot.pause(0.4)
        listed = " ".join(str(o.prompt) for o in app.screen.query_one("OptionList").options)
        assert "Copier scan login" in listed and "used 1×" in listed
