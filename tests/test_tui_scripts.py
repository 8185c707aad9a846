"""The script screens (parameter form, three choices, draft review, library) driven with Pilot in a small host app.

Snapshots: `pytest tests/test_tui_scripts.py --snapshot-update`, then look at the SVGs before committing them.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("textual")

from textual.widgets import Checkbox, Input, OptionList, Static, TextArea  # noqa: E402

from rfpilot.core.library.render import Parameter, parse_parameters, render  # noqa: E402
from rfpilot.errors import ConflictError, RfpilotError  # noqa: E402
from tests.tui_host import Host, shown  # noqa: F401

SENTINEL = "S3ntinel-Pa55"

PARAMS = [
    Parameter("gateway_host", "Gateway host", description="The VPN endpoint users connect to"),
    Parameter("port", "Port", "number", default="443"),
    Parameter("protocol", "Tunnel type", "select", options=("Ikev2", "Sstp", "L2tp")),
    Parameter("admin_password", "Admin password", "password"),
    Parameter("force", "Force reconnect", "boolean", required=False, true_value="$true", false_value="$false"),
    Parameter("users", "Users", "multi_text", required=False),
]

BODY = """$gateway = "{{ gateway_host }}"
Test-NetConnection $gateway -Port {{ port }}
Set-VpnConnection -Name "Office" -TunnelType {{ protocol }} -Force:{{ force }}
$secret = ConvertTo-SecureString "{{ admin_password }}" -AsPlainText -Force
@"
{{ users }}
"@ -split "`n" | ForEach-Object { Grant-VpnAccess -User $_ -Credential $secret }"""

TEMPLATE = {
    "name": "Repoint the office VPN",
    "slug": "repoint-office-vpn",
    "description": "Points the built-in VPN profile at a new gateway and re-grants access.",
    "language": "powershell",
    "provenance": "from CW #48307 · by M. Davis · used 7×",
    "parameters": [p.as_dict() for p in PARAMS],
}
VALUES = {"gateway_host": "vpn.contoso.example", "protocol": "Ikev2"}
SOURCES = {"gateway_host": "from the fix", "protocol": "from session: The office firewall only offers IKEv2"}


def render_body(values: dict[str, str]) -> str:
    return render(BODY, parse_parameters(TEMPLATE["parameters"]), values)


def form() -> Host:
    from rfpilot.tui.screens.parameter_form import ParameterForm

    return Host(lambda: ParameterForm(TEMPLATE, dict(VALUES), dict(SOURCES), render_body))


def screen_text(app) -> str:
    return app.export_screenshot()


async def type_text(pilot, value: str) -> None:
    for ch in value:
        await pilot.press({" ": "space", "\n": "enter", "-": "minus", ".": "full_stop", "#": "number_sign",
                           "$": "dollar_sign", "{": "left_curly_bracket", "}": "right_curly_bracket",
                           "_": "underscore", ":": "colon", "/": "slash"}.get(ch, ch))


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


# --- the parameter form ---------------------------------------------------------------------------------


async def test_form_prefills_marks_sources_and_previews_live() -> None:
    app = form()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#field-0", Input).value == "vpn.contoso.example"
        assert screen.query_one("#field-1", Input).value == "443"  # the default
        labels = [shown(s) for s in screen.query(".field-label")]
        assert labels[:2] == ["Gateway host *", "Port *"] and labels[4] == "Force reconnect"  # optional: no star
        notes = [shown(s) for s in screen.query(".field-note")]
        assert notes[0] == "from the fix · The VPN endpoint users connect to"
        assert notes[1] == "from session: The office firewall only offers IKEv2"
        # The password is missing: the preview says so instead of a script.
        preview = screen.query_one("#form-preview", Static)
        assert "missing required value: Admin password" in shown(preview)
        # Focus starts on the first required field without a value; typing re-renders at once.
        assert app.focused is screen.query_one("#field-3", Input)
        await type_text(pilot, "hunter")
        assert "ConvertTo-SecureString \"••••••\"" in shown(preview)
        assert 'Test-NetConnection $gateway -Port 443' in shown(preview)
        screen.query_one("#field-1", Input).focus()
        await pilot.press("end", "backspace", "backspace", "backspace", "8", "4", "4", "3")
        assert "-Port 8443" in shown(preview)
        await pilot.press("x")  # a number field refuses letters
        assert screen.query_one("#field-1", Input).value == "8443"
        screen.query_one("#field-4", Checkbox).focus()
        await pilot.press("space")
        assert "-Force:$true" in shown(preview)
        screen.query_one("#field-5", TextArea).focus()
        await type_text(pilot, "alice\nbob")
        assert "alice\nbob" in shown(preview)


async def test_form_refuses_to_record_or_copy_until_it_renders() -> None:
    app = form()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == [] and app.screen.__class__.__name__ == "ParameterForm"
        status = shown(app.screen.query_one("#form-status", Static))
        assert "Not recorded: missing required value: Admin password" in status
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.copied == []
        assert "Nothing copied: missing required value" in shown(app.screen.query_one("#form-status", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


async def test_form_never_shows_the_password_but_copies_and_returns_it() -> None:
    from rfpilot.tui.screens.parameter_form import FormResult

    app = form()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = app.screen
        await type_text(pilot, SENTINEL)
        assert screen.query_one("#field-3", Input).value == SENTINEL
        for widget in screen.query("*"):
            if isinstance(widget, Static):
                assert SENTINEL not in shown(widget)
        assert SENTINEL not in screen_text(app)
        assert "••••••" in shown(screen.query_one("#form-preview", Static))
        await pilot.press("ctrl+o")
        assert app.copied and app.copied[0][0] == "script"
        assert f'ConvertTo-SecureString "{SENTINEL}"' in app.copied[0][1]
        await pilot.press("ctrl+s")
        await pilot.pause()
    [result] = app.results
    assert isinstance(result, FormResult) and result.action == "ran"
    assert result.values["admin_password"] == SENTINEL
    assert result.values["gateway_host"] == "vpn.contoso.example" and result.values["force"] == "false"


async def test_form_copy_key_works_inside_a_text_area_and_buttons_do_the_same() -> None:
    app = form()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await type_text(pilot, "pw")
        app.screen.query_one("#field-5", TextArea).focus()
        await pilot.press("ctrl+o")  # not ctrl+y: that stays redo in the text area
        assert len(app.copied) == 1
        await pilot.click("#copy")
        assert len(app.copied) == 2
        await pilot.click("#ran")
        await pilot.pause()
    assert app.results and app.results[0].action == "ran"


async def test_form_shows_markup_and_control_characters_as_text() -> None:
    from rfpilot.tui.screens.parameter_form import ParameterForm

    template = {"name": "[bold red]x[/] \x1b]0;pwned\x07", "parameters": [Parameter("host", "Host [b]").as_dict()]}
    app = Host(lambda: ParameterForm(template, {"host": "[i]h\x1b[2J"}, {"host": "from [red]fact"},
                                     lambda v: render("ping {{ host }}", [Parameter("host", "Host")], v)))
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        texts = " ".join(shown(s) for s in app.screen.query(Static))
        assert "[bold red]x[/]" in texts and "Host [b]" in texts and "from [red]fact" in texts
        assert "\x1b" not in texts and "ping [i]h\N{REPLACEMENT CHARACTER}[2J" in texts


# --- three choices ---------------------------------------------------------------------------------------


def three(script: str = "ipconfig /flushdns\nRestart-Service Dnscache") -> Host:
    from rfpilot.tui.screens.three_choice import ThreeChoiceScreen

    return Host(lambda: ThreeChoiceScreen("Flush the DNS cache on the laptop", script, "powershell"))


@pytest.mark.parametrize(("key", "decision"), [("1", "one_off"), ("2", "draft_template"), ("3", "build_template"),
                                              ("enter", "draft_template")])
async def test_three_choices_return_each_decision(key: str, decision: str) -> None:
    app = three()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        assert isinstance(app.focused, OptionList)
        await pilot.press(key)
        await pilot.pause()
    [result] = app.results
    assert (result.decision, result.script) == (decision, "ipconfig /flushdns\nRestart-Service Dnscache")


async def test_three_choices_digits_in_the_editor_are_text_and_the_edit_is_returned() -> None:
    app = three()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("shift+tab")
        assert isinstance(app.focused, TextArea)
        await pilot.press("down", "end")
        await type_text(pilot, " # 123")
        assert app.results == []  # the digits went into the script
        await pilot.press("tab", "1")
        await pilot.pause()
    [result] = app.results
    assert result.decision == "one_off"
    assert result.script == "ipconfig /flushdns\nRestart-Service Dnscache # 123"


@pytest.mark.parametrize("script", ["Stop-Service Dnscache\r\nStart-Service Dnscache\r\n", "a\rb\x1b[2J\n\n"])
async def test_three_choices_keep_an_unedited_script_byte_for_byte(script: str) -> None:
    """The editor shows the script inert (CRLF as LF, controls as U+FFFD); the choice carries the script itself."""
    app = three(script)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        assert "\r" not in app.screen.query_one(TextArea).text
        await pilot.press("1")
        await pilot.pause()
    [result] = app.results
    assert (result.decision, result.script) == ("one_off", script)


async def test_three_choices_refuse_an_empty_script_and_escape_cancels() -> None:
    app = three(script="")
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert app.results == []
        assert "The script is empty" in shown(app.screen.query_one("#choice3-error", Static))
        assert isinstance(app.focused, TextArea)
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


# --- draft review ------------------------------------------------------------------------------------------

DRAFT_BODY = 'Set-VpnConnection -Name "Office" -ServerAddress "{{ gateway_host }}" -TunnelType {{ tunnel_type }}'
DRAFT = {
    "id": "d-1",
    "headline": "Resolved. The note is on CW #48307.",
    "proposed_name": "Repoint the office VPN",
    "slug": "repoint-office-vpn",
    "description": "Points the VPN profile at the new gateway.",
    "category": "network",
    "language": "powershell",
    "body": DRAFT_BODY,
    "parameters": [
        {"key": "gateway_host", "label": "Gateway host", "field_type": "text", "required": True,
         "inferred_from": "vpn.contoso.example"},
        {"key": "tunnel_type", "label": "Tunnel type", "field_type": "select", "required": True,
         "options": ["Ikev2", "Sstp"], "inferred_from": "Ikev2"},
    ],
    "provenance": "generated from CW #48307 · resolved by M. Davis",
    "source": "llm",
    "reason": None,
}


def review(draft: dict | None = None, save=None) -> Host:
    from rfpilot.tui.screens.draft_review import DraftReviewScreen

    return Host(lambda: DraftReviewScreen(dict(draft or DRAFT), "1 of 2", save=save))


async def test_review_accepts_with_edits() -> None:
    from rfpilot.tui.screens.draft_review import ReviewResult

    app = review()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert app.focused is screen.query_one("#review-name", Input)
        await type_text(pilot, "VPN: new gateway")  # the name is selected on focus: typing replaces it
        await pilot.press("tab", "tab")  # slug, then category
        await type_text(pilot, "vpn")
        # Take {{ tunnel_type }} out of the script, then drop the parameter.
        area = screen.query_one("#review-script", TextArea)
        area.load_text(DRAFT_BODY.replace("{{ tunnel_type }}", "Ikev2"))
        screen.query_one("#review-param-1", Checkbox).focus()
        await pilot.press("space")
        await pilot.pause()
        assert screen.query_one("#review-param-1", Checkbox).value is False
        assert shown(screen.query_one("#review-error", Static)) == ""
        await pilot.press("ctrl+s")
        await pilot.pause()
    [result] = app.results
    assert result == ReviewResult(
        "accept", name="VPN: new gateway", slug="repoint-office-vpn", description=DRAFT["description"],
        category="vpn", body=DRAFT_BODY.replace("{{ tunnel_type }}", "Ikev2"), parameters=[DRAFT["parameters"][0]],
        dont_ask_again=False, draft_id="d-1")


async def test_review_accepts_an_unedited_crlf_body_byte_for_byte() -> None:
    body = DRAFT_BODY.replace(" -TunnelType", "\r\n  -TunnelType") + "\r\n"
    app = review({**DRAFT, "body": body})
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
    [result] = app.results
    assert result.action == "accept" and result.body == body


async def test_review_refuses_removing_a_parameter_the_script_still_uses() -> None:
    app = review()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = app.screen
        box = screen.query_one("#review-param-0", Checkbox)
        box.focus()
        await pilot.press("space")
        await pilot.pause()
        assert box.value is True
        error = shown(screen.query_one("#review-error", Static))
        assert "{{ gateway_host }} is still in the script" in error
        # Untick it after all by editing the script behind its back: saving names the stray placeholder.
        screen.query_one("#review-script", TextArea).load_text("echo {{ gateway_host }} {{ extra }}")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        assert "{{ extra }}, which no kept parameter declares" in shown(screen.query_one("#review-error", Static))


async def test_review_never_shows_a_password_parameter_s_source_value() -> None:
    draft = {**DRAFT, "body": DRAFT_BODY + ' -Secret "{{ psk }}"', "parameters": [
        *DRAFT["parameters"], {"key": "psk", "label": "Pre-shared key", "field_type": "password",
                               "inferred_from": SENTINEL}]}
    app = review(draft)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        label = shown(app.screen.query_one("#review-param-2", Checkbox))
        assert "psk" in label and "from “••••••”" in label
        assert SENTINEL not in screen_text(app)


async def test_review_refuses_a_blank_name() -> None:
    app = review()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("backspace", "ctrl+s")
        await pilot.pause()
        assert app.results == []
        assert "The template needs a name." in shown(app.screen.query_one("#review-error", Static))


async def test_review_rejects_and_skips_with_the_opt_out() -> None:
    from rfpilot.tui.screens.draft_review import ReviewResult

    app = review()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+r")
        await pilot.pause()
    assert app.results == [ReviewResult("reject", dont_ask_again=False, draft_id="d-1")]

    app = review()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        app.screen.query_one("#review-dont-ask", Checkbox).focus()
        await pilot.press("space", "escape")
        await pilot.pause()
    assert app.results == [ReviewResult("skip", dont_ask_again=True, draft_id="d-1")]


async def test_review_save_errors_keep_the_dialog_open() -> None:
    calls = []

    async def save(result) -> None:
        calls.append(result.slug)
        if len(calls) == 1:
            raise ConflictError("a template called 'repoint-office-vpn' exists", hint="choose another slug")

    app = review(save=save)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.results == []
        assert "exists (choose another slug)" in shown(app.screen.query_one("#review-error", Static))
        app.screen.query_one("#review-slug", Input).focus()
        await type_text(pilot, "office-vpn-2")
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert calls == ["repoint-office-vpn", "office-vpn-2"]
    assert app.results[0].action == "accept" and app.results[0].slug == "office-vpn-2"


async def test_review_of_a_fallback_draft_says_why_it_has_no_parameters() -> None:
    draft = {**DRAFT, "body": "ipconfig /flushdns", "parameters": [], "source": "fallback",
             "reason": "the extracted values did not reproduce the script"}
    app = review(draft)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        texts = " ".join(shown(s) for s in app.screen.query(Static))
        assert "without parameters: the extracted values did not reproduce the script" in texts
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results[0].parameters == [] and app.results[0].body == "ipconfig /flushdns"


# --- the library -----------------------------------------------------------------------------------------

LIBRARY = [
    {"name": "Flush DNS and renew", "slug": "flush-dns", "language": "cmd", "category": "network",
     "description": "Clears the resolver cache and renews the lease.",
     "provenance": "from CW #48120 · by J. Park · used 12×"},
    {"name": "Repoint the office VPN", "slug": "repoint-office-vpn", "language": "powershell", "category": "vpn",
     "description": "Points the built-in VPN profile at a new gateway.",
     "provenance": "from CW #48307 · by M. Davis · used 7×"},
    {"name": "Reset a stuck print queue", "slug": "reset-print-queue", "language": "powershell",
     "category": "printing", "description": "Stops the spooler, clears the queue, starts it again.",
     "provenance": "imported · used 3×"},
]


def library(fail_show: bool = False, pending: int = 2) -> tuple[Host, list[str]]:
    from rfpilot.tui.screens.script_library import ScriptsScreen

    queries: list[str] = []

    async def load(query: str) -> list[dict]:
        queries.append(query)
        q = query.lower()
        return [r for r in LIBRARY if q in f"{r['name']} {r['slug']} {r['description']}".lower()]

    async def show(slug: str) -> dict:
        if fail_show:
            raise RfpilotError("no template called " + slug)
        row = next(r for r in LIBRARY if r["slug"] == slug)
        params = {"repoint-office-vpn": [p.as_dict() for p in PARAMS[:3]]}.get(slug, [])
        body = BODY if slug == "repoint-office-vpn" else "ipconfig /flushdns\nipconfig /renew"
        return {**row, "parameters": params, "body": body}

    async def count() -> int:
        return pending

    return Host(lambda: ScriptsScreen(load, show, count)), queries


async def test_library_lists_filters_and_shows_details() -> None:
    app, queries = library()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        screen = app.screen
        listing = screen.query_one("#scripts-list", OptionList)
        assert listing.option_count == 3
        assert "2 drafts wait for review" in shown(screen.query_one("#scripts-pending", Static))
        detail = shown(screen.query_one("#scripts-detail-text", Static))
        assert "Flush DNS and renew" in detail and "ipconfig /renew" in detail
        await type_text(pilot, "vpn")
        await asyncio.sleep(0.3)
        await settle(pilot)
        assert queries[0] == "" and queries[-1] == "vpn"
        assert len(queries) <= 3  # debounced: not one load per keystroke
        assert listing.option_count == 1
        assert "1 template matching “vpn”" in shown(screen.query_one("#scripts-info", Static))
        detail = shown(screen.query_one("#scripts-detail-text", Static))
        assert "gateway_host  Gateway host · text · required" in detail
        assert "protocol  Tunnel type · select · required · one of Ikev2, Sstp, L2tp" in detail
        assert "Test-NetConnection" in detail
        await pilot.press("enter")  # from the search to the list
        assert app.focused is listing
        await pilot.press("q")
        await pilot.pause()
        assert app.screen.__class__.__name__ != "ScriptsScreen"


async def test_library_escape_goes_back_and_q_types_in_the_search() -> None:
    app, queries = library(pending=0)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#scripts-pending").display is False
        await type_text(pilot, "qz")
        assert app.screen.query_one("#scripts-search", Input).value == "qz"
        await settle(pilot)
        assert "nothing matches “qz”" in shown(app.screen.query_one("#scripts-info", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ != "ScriptsScreen"


async def test_library_shows_a_failed_detail_in_place() -> None:
    app, _ = library(fail_show=True)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert "no template called flush-dns" in shown(app.screen.query_one("#scripts-detail-text", Static))


# --- snapshots -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(100, 32), (80, 24)], ids=["100x32", "80x24"])
def test_snapshot_parameter_form(snap_compare, size) -> None:
    async def before(pilot) -> None:
        await pilot.pause()
        await type_text(pilot, SENTINEL)
        await pilot.pause()

    assert snap_compare(form(), terminal_size=size, run_before=before)


def test_snapshot_three_choices(snap_compare) -> None:
    assert snap_compare(three("$ErrorActionPreference = 'Stop'\nipconfig /flushdns\nRestart-Service Dnscache -Force"),
                        terminal_size=(100, 32), run_before=settle)


def test_snapshot_draft_review(snap_compare) -> None:
    assert snap_compare(review(), terminal_size=(100, 32), run_before=settle)


def test_snapshot_library(snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)

    assert snap_compare(library()[0], terminal_size=(100, 32), run_before=before)
