"""Template extraction (SPEC §11): the model's proposal is kept only when it reproduces the script exactly."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from rfpilot.core.library import extraction
from rfpilot.core.library.extraction import (
    EXTRACTION_MAX_TOKENS,
    ExtractedParameter,
    Extraction,
    build_message,
    extract,
    fallback,
    parse_response,
    redacted_original,
    validate,
)
from rfpilot.core.llm.offline import OfflineProvider
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
from rfpilot.core.llm.prompts import EXTRACTION_PROMPT
from rfpilot.core.library.render import REDACTED
from rfpilot.db.models import LLMUsage

SECRET = "S3ntinel-Pa55"

SHARE_LINES = [
    "# Map the finance share for the user, with the credentials the customer gave us",
    f"$secure = ConvertTo-SecureString '{SECRET}' -AsPlainText -Force",
    "$cred = New-Object System.Management.Automation.PSCredential ('NORTHWIND\\avargas', $secure)",
    "New-PSDrive -Name 'F' -PSProvider FileSystem -Root '\\\\fs02.northwind.lan\\Finance' -Credential $cred -Persist",
    "Get-PSDrive -Name 'F'   # confirm it is there",
]
SHARE_SCRIPT = "\n".join(SHARE_LINES)
SHARE_TEMPLATE = "\n".join([
    SHARE_LINES[0],
    "$secure = ConvertTo-SecureString '{{ share_password }}' -AsPlainText -Force",
    "$cred = New-Object System.Management.Automation.PSCredential ('{{ username }}', $secure)",
    "New-PSDrive -Name '{{drive_letter}}' -PSProvider FileSystem -Root '{{ share_path }}' -Credential $cred -Persist",
    "Get-PSDrive -Name '{{ drive_letter }}'   # confirm it is there",
])
SHARE_PARAMETERS = [
    {"key": "share_password", "label": "Share Password", "type": "password", "value": SECRET},
    {"key": "username", "label": "User Name", "type": "text", "value": "NORTHWIND\\avargas",
     "inferred_from": "the user named in the ticket"},
    {"key": "drive_letter", "type": "text", "value": "F"},
    {"key": "share_path", "label": "Share Path", "type": "text", "value": "\\\\fs02.northwind.lan\\Finance"},
]


def reply(parameters: list[dict[str, Any]], body: str, *, fence: bool = False) -> str:
    text = json.dumps({"parameters": parameters, "templated_body": body}, indent=1)
    return f"```json\n{text}\n```" if fence else text


def model(*replies: str, error: str | None = None) -> ScriptedProvider:
    if error is not None:
        return ScriptedProvider([ScriptedReply(reply="", action="extraction", error=error)])
    return ScriptedProvider([ScriptedReply(reply=r, action="extraction") for r in replies])


# --- parsing ---------------------------------------------------------------------------------------------------


def test_a_well_formed_reply_is_parsed() -> None:
    parsed = parse_response(reply(SHARE_PARAMETERS, SHARE_TEMPLATE))
    assert parsed is not None
    assert parsed.source == "llm" and parsed.reason is None
    assert parsed.templated_body == SHARE_TEMPLATE
    by_key = {p.key: p for p in parsed.parameters}
    assert list(by_key) == ["share_password", "username", "drive_letter", "share_path"]
    assert by_key["share_password"].field_type == "password" and by_key["share_password"].secret
    assert by_key["username"].value == "NORTHWIND\\avargas"
    assert by_key["username"].inferred_from == "the user named in the ticket"
    assert by_key["drive_letter"].label == "Drive Letter"  # derived from the key
    assert by_key["drive_letter"].inferred_from == "ai best-guess"


def test_code_fences_are_stripped() -> None:
    parsed = parse_response(reply(SHARE_PARAMETERS, SHARE_TEMPLATE, fence=True))
    assert parsed is not None and parsed.templated_body == SHARE_TEMPLATE
    bare = parse_response("```\n" + reply([], "Get-Service") + "\n```")
    assert bare is not None and bare.parameters == () and bare.templated_body == "Get-Service"


def test_a_parameter_with_an_unusable_key_is_dropped() -> None:
    parsed = parse_response(reply(
        [{"key": "BadKey-Name", "value": "x"}, {"key": "9lives", "value": "y"}, {"key": None}, "port",
         {"key": "server_name", "type": "text", "value": "fs02"}],
        "ping {{ server_name }}",
    ))
    assert parsed is not None
    assert [p.key for p in parsed.parameters] == ["server_name"]


def test_types_the_value_cannot_keep_become_text() -> None:
    parsed = parse_response(reply(
        [
            {"key": "a", "type": "ipv4_address", "value": "10.0.0.5"},
            {"key": "b", "type": "select", "value": "Standard"},  # no options here
            {"key": "c", "type": "boolean", "value": "$true"},  # would render as "true"
            {"key": "d", "type": "Number", "value": "8443"},
            {"key": "e", "type": "number", "value": " 8443"},  # would lose its space
            {"key": "f", "type": "textarea", "value": "line one\nline two"},
            {"key": "g", "value": 42},  # not a string: no usable value
        ],
        "{{ a }} {{ b }} {{ c }} {{ d }} {{ e }} {{ f }} {{ g }}",
    ))
    assert parsed is not None
    types = {p.key: p.field_type for p in parsed.parameters}
    assert types == {"a": "text", "b": "text", "c": "text", "d": "number", "e": "text", "f": "textarea", "g": "text"}
    assert parsed.parameters[-1].value == ""


def test_malformed_json_is_not_a_proposal() -> None:
    assert parse_response('{"parameters": [, "templated_body": "x"}') is None
    assert parse_response("Sure! Here is the template you asked for.") is None
    assert parse_response("") is None


def test_a_json_array_is_not_a_proposal() -> None:
    assert parse_response(json.dumps([{"parameters": [], "templated_body": "x"}])) is None


def test_missing_parameters_or_body_is_not_a_proposal() -> None:
    assert parse_response(json.dumps({"templated_body": "x"})) is None
    assert parse_response(json.dumps({"parameters": {}, "templated_body": "x"})) is None
    assert parse_response(json.dumps({"parameters": []})) is None
    assert parse_response(json.dumps({"parameters": [], "templated_body": ["x"]})) is None


def test_raw_control_characters_inside_strings_are_tolerated() -> None:
    parsed = parse_response('{"parameters": [], "templated_body": "a\tb\nc"}')
    assert parsed is not None and parsed.templated_body == "a\tb\nc"


# --- validation ------------------------------------------------------------------------------------------------


def proposal(parameters: list[dict[str, Any]], body: str) -> Extraction:
    parsed = parse_response(reply(parameters, body))
    assert parsed is not None
    return parsed


def test_validation_accepts_a_faithful_template() -> None:
    assert validate(proposal(SHARE_PARAMETERS, SHARE_TEMPLATE), SHARE_SCRIPT) is None
    assert validate(fallback(SHARE_SCRIPT, "offline"), SHARE_SCRIPT) is None


def test_validation_names_what_is_wrong() -> None:
    script = "Test-NetConnection fs02 -Port 445"
    twice = proposal([{"key": "host", "value": "fs02"}, {"key": "host", "value": "fs02"}],
                     "Test-NetConnection {{ host }} -Port 445")
    assert "more than once: host" in (validate(twice, script) or "")
    undeclared = proposal([{"key": "host", "value": "fs02"}], "Test-NetConnection {{ host }} -Port {{ port }}")
    assert "no parameter declares: port" in (validate(undeclared, script) or "")
    upper = proposal([{"key": "host", "value": "fs02"}], "Test-NetConnection {{ Host }} -Port 445")
    assert "no parameter declares: Host" in (validate(upper, script) or "")
    unused = proposal([{"key": "host", "value": "fs02"}, {"key": "port", "value": "445"}],
                      "Test-NetConnection {{ host }} -Port 445")
    assert "never uses: port" in (validate(unused, script) or "")
    wrong_value = proposal([{"key": "host", "value": "fs01"}], "Test-NetConnection {{ host }} -Port 445")
    assert "does not reproduce" in (validate(wrong_value, script) or "")
    no_value = proposal([{"key": "host"}], "Test-NetConnection {{ host }} -Port 445")
    assert "does not reproduce" in (validate(no_value, script) or "")


def test_a_password_left_in_the_body_is_refused() -> None:
    script = f"cmdkey /add:fs02 /user:avargas /pass:{SECRET}\nnet use Z: \\\\fs02\\scans {SECRET} /user:avargas"
    half = proposal(
        [{"key": "share_password", "type": "password", "value": SECRET}],
        "cmdkey /add:fs02 /user:avargas /pass:{{ share_password }}\n"
        f"net use Z: \\\\fs02\\scans {SECRET} /user:avargas",
    )
    assert validate(half, script) == "a password value is still written out in the templated body"


# --- the call --------------------------------------------------------------------------------------------------


async def test_a_faithful_proposal_is_kept() -> None:
    provider = model(reply(SHARE_PARAMETERS, SHARE_TEMPLATE))
    result = await extract(None, provider, SHARE_SCRIPT, ["The user is avargas."])
    assert result.source == "llm" and result.reason is None and result.model == "scripted"
    assert result.templated_body == SHARE_TEMPLATE
    assert [p.key for p in result.parameters] == ["share_password", "username", "drive_letter", "share_path"]
    (request,) = provider.calls
    assert request.action == "extraction"
    assert request.system == EXTRACTION_PROMPT
    assert request.max_tokens == EXTRACTION_MAX_TOKENS == 3000
    assert request.message == build_message(SHARE_SCRIPT, ["The user is avargas."])


async def test_an_undeclared_placeholder_falls_back() -> None:
    script = "Test-NetConnection fs02 -Port 445"
    body = "Test-NetConnection {{ host }} -Port {{ port }}"
    result = await extract(None, model(reply([{"key": "host", "value": "fs02"}], body)), script, [])
    assert result.parameters == () and result.templated_body == script and result.source == "fallback"
    assert result == fallback(script, result.reason or "")
    assert "port" in (result.reason or "")


async def test_a_model_error_falls_back() -> None:
    result = await extract(None, model(error="the model server is overloaded"), SHARE_SCRIPT, [])
    assert result.source == "fallback" and result.parameters == () and result.templated_body == SHARE_SCRIPT
    assert "overloaded" in (result.reason or "")
    assert result.model is None


async def test_an_unreadable_reply_falls_back() -> None:
    result = await extract(None, model("Here you go: the template has two parameters."), SHARE_SCRIPT, [])
    assert result.source == "fallback" and result.templated_body == SHARE_SCRIPT
    assert "JSON" in (result.reason or "")


async def test_a_changed_comment_falls_back() -> None:
    body = SHARE_TEMPLATE.replace("confirm it is there", "Confirm it is there.")
    result = await extract(None, model(reply(SHARE_PARAMETERS, body)), SHARE_SCRIPT, [])
    assert result.source == "fallback" and result.parameters == () and result.templated_body == SHARE_SCRIPT
    assert "does not reproduce" in (result.reason or "") and "line 5" in (result.reason or "")


async def test_changed_whitespace_falls_back() -> None:
    body = SHARE_TEMPLATE.replace("   # confirm", " # confirm")
    result = await extract(None, model(reply(SHARE_PARAMETERS, body)), SHARE_SCRIPT, [])
    assert result.source == "fallback" and "does not reproduce" in (result.reason or "")
    tabs = SHARE_TEMPLATE.replace("\n$cred", "\n    $cred")
    result = await extract(None, model(reply(SHARE_PARAMETERS, tabs)), SHARE_SCRIPT, [])
    assert result.source == "fallback" and "line 3" in (result.reason or "")


async def test_offline_falls_back_without_a_call() -> None:
    assert await extract(None, None, SHARE_SCRIPT, []) == fallback(SHARE_SCRIPT, "offline")
    assert await extract(None, OfflineProvider(), SHARE_SCRIPT, ["a fact"]) == fallback(SHARE_SCRIPT, "offline")


async def test_empty_and_oversized_scripts_are_not_sent() -> None:
    provider = model(reply([], "x"))
    empty = await extract(None, provider, "  \n", [])
    assert empty.source == "fallback" and empty.templated_body == "  \n" and "empty" in (empty.reason or "")
    huge = "Write-Output 'x'\n" * 1000
    big = await extract(None, provider, huge, [])
    assert big.source == "fallback" and big.templated_body == huge and "too long" in (big.reason or "")
    assert provider.calls == []


async def test_no_parameters_is_a_valid_answer() -> None:
    script = "Get-Service -Name Spooler | Select-Object Status"
    result = await extract(None, model(reply([], script)), script, [])
    assert result.source == "llm" and result.parameters == () and result.templated_body == script


# --- secrets ---------------------------------------------------------------------------------------------------


async def test_a_password_stays_in_memory_only() -> None:
    provider = model(reply(SHARE_PARAMETERS, SHARE_TEMPLATE))
    facts = ["The user avargas could not open the finance share.", "The drive mapping was missing after the reset."]
    result = await extract(None, provider, SHARE_SCRIPT, facts, "Northwind Traders · priority 2")
    assert result.source == "llm"
    password = next(p for p in result.parameters if p.key == "share_password")
    assert password.value == SECRET  # the caller still has it to run the script now
    stored = redacted_original(result)
    assert SECRET not in stored
    assert stored == SHARE_SCRIPT.replace(SECRET, "{{ share_password }}")
    assert SECRET not in repr(result) and SECRET not in str(result) and REDACTED in repr(result)
    assert SECRET not in json.dumps(result.safe_values())
    assert SECRET not in result.templated_body
    # The message carries the engineer's own script and nothing more of the secret.
    (request,) = provider.calls
    assert request.message.count(SECRET) == SHARE_SCRIPT.count(SECRET) == 1
    assert SECRET not in request.system
    for fact in facts:
        assert f"- {fact}" in request.message
    assert "Northwind Traders · priority 2" in request.message


def test_redacted_original_fills_every_other_value() -> None:
    parsed = proposal(SHARE_PARAMETERS, SHARE_TEMPLATE)
    stored = redacted_original(parsed)
    assert "'NORTHWIND\\avargas'" in stored and "-Name 'F'" in stored and "'\\\\fs02.northwind.lan\\Finance'" in stored
    assert "{{ share_password }}" in stored and SECRET not in stored
    assert redacted_original(fallback("echo {{ not_a_parameter }}", "offline")) == "echo {{ not_a_parameter }}"


def test_repr_of_a_parameter_hides_only_passwords() -> None:
    secret = ExtractedParameter("pin", "Pin", "password", SECRET)
    plain = ExtractedParameter("host", "Host", "text", "fs02")
    assert SECRET not in repr(secret) and "fs02" in repr(plain)
    assert plain.as_parameter().field_type == "text" and secret.as_parameter().secret


# --- the message -----------------------------------------------------------------------------------------------


def test_the_message_holds_the_script_then_facts_then_ticket_context() -> None:
    script = "\n  Get-Printer -Name 'Reception'\n"
    message = build_message(script, ["The queue was paused.", "  "], "Ticket: printer offline")
    assert message.startswith("# Script that resolved the ticket\n```\nGet-Printer -Name 'Reception'\n```\n")
    facts_at, ticket_at = message.index("# Session context"), message.index("# Ticket context")
    assert facts_at < ticket_at
    assert "- The queue was paused." in message and "-   \n" not in message and message.count("\n- ") == 1
    assert message.endswith("# Ticket context\nTicket: printer offline")


def test_the_message_leaves_out_empty_sections() -> None:
    message = build_message("Get-Printer", [], None)
    assert "Session context" not in message and "Ticket context" not in message
    assert "Ticket context" not in build_message("Get-Printer", [], "   ")


def test_a_script_holding_a_fence_gets_a_longer_one() -> None:
    message = build_message("Write-Output '```'", [])
    assert "\n````\nWrite-Output '```'\n````" in message


def test_the_prompt_states_the_rules() -> None:
    for words in ("FEWER", "password", "MUST", "character for character", "empty parameters list", "JSON"):
        assert words.lower() in EXTRACTION_PROMPT.lower(), words


# --- realistic round trips -------------------------------------------------------------------------------------


async def test_a_windows_script_round_trips_with_its_line_endings() -> None:
    """A CRLF script with a trailing newline: the model answers with plain newlines and no outer whitespace."""
    script = "\r\n".join(SHARE_LINES) + "\r\n"
    provider = model(reply(SHARE_PARAMETERS, SHARE_TEMPLATE + "\n"))
    result = await extract(None, provider, script, [])
    assert result.source == "llm", result.reason
    assert result.templated_body == SHARE_TEMPLATE.replace("\n", "\r\n") + "\r\n"
    assert validate(result, script) is None
    assert redacted_original(result) == script.replace(SECRET, "{{ share_password }}")
    assert "\r" not in provider.calls[0].message  # the model saw plain newlines


async def test_printer_smb_credentials_round_trip() -> None:
    key = '"HKLM:\\SOFTWARE\\Vendor\\ScanProfiles\\$printer"'
    script = (
        "# Scan-to-folder on the reception copier: refresh the SMB account it uses\n"
        "$printer = 'RCP-MFP-02'\n"
        f"Set-ItemProperty -Path {key} -Name SmbUser -Value 'svc-scan'\n"
        f"Set-ItemProperty -Path {key} -Name SmbSecret -Value '{SECRET}'\n"
        "Restart-Service -Name Spooler\n"
    )
    body = (
        "# Scan-to-folder on the reception copier: refresh the SMB account it uses\n"
        "$printer = '{{ printer_name }}'\n"
        "Set-ItemProperty -Path " + key + " -Name SmbUser -Value '{{ smb_user }}'\n"
        "Set-ItemProperty -Path " + key + " -Name SmbSecret -Value '{{ smb_password }}'\n"
        "Restart-Service -Name Spooler"
    )
    parameters = [
        {"key": "printer_name", "label": "Printer", "type": "text", "value": "RCP-MFP-02"},
        {"key": "smb_user", "label": "SMB User", "type": "text", "value": "svc-scan"},
        {"key": "smb_password", "label": "SMB Password", "type": "password", "value": SECRET},
    ]
    result = await extract(None, model(reply(parameters, body, fence=True)), script, [])
    assert result.source == "llm", result.reason
    assert result.templated_body == body + "\n"
    assert redacted_original(result) == script.replace(SECRET, "{{ smb_password }}")
    assert result.safe_values() == {"printer_name": "RCP-MFP-02", "smb_user": "svc-scan"}


# --- usage -----------------------------------------------------------------------------------------------------


async def test_usage_is_recorded_for_the_session(ctx, session) -> None:
    await extract(ctx, model(reply(SHARE_PARAMETERS, SHARE_TEMPLATE)), SHARE_SCRIPT, [], session=session)
    await extract(ctx, model(error="connection refused"), SHARE_SCRIPT, [], session=session)
    await extract(ctx, None, SHARE_SCRIPT, [], session=session)  # offline: no call, no row
    rows = (await ctx.db.execute(select(LLMUsage).where(LLMUsage.session_id == session.id))).scalars().all()
    assert sorted((r.action, r.provider, r.ok) for r in rows) == [
        ("extraction", "scripted", False), ("extraction", "scripted", True)
    ]


def test_the_module_stays_light() -> None:
    assert "sqlalchemy" not in extraction.__dict__ and "usage_service" not in extraction.__dict__
