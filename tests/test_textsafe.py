"""The one output sanitiser (rfpilot.textsafe): properties, and the JSON/TOML forms that keep data exact."""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from rfpilot.textsafe import PLACEHOLDER, InertStream, dumps, inert, inert_all, is_inert

EXAMPLES = int(os.environ.get("RFPILOT_STRESS", "1")) * 300
ATTACK = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b[H\x1b]0;pwned\x07\a\x9b31m\x9d0;t\x9c\x00\b\x7f"

# Text with plenty of controls, surrogates and CR/LF mixed into ordinary characters.
hostile = st.text(
    alphabet=st.one_of(
        st.characters(codec=None),  # any code point, lone surrogates included
        st.sampled_from(["\x1b", "\x07", "\x9b", "\x9d", "\x00", "\b", "\x7f", "\r", "\n", "\t", "\x85"]),
    ),
    max_size=200,
)
printable = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\n\t"), max_size=200)


def _controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF]


@settings(max_examples=EXAMPLES, deadline=None)
@given(hostile)
def test_no_control_but_newline_and_tab_survives(value: str) -> None:
    out = inert(value)
    assert _controls(out) == []
    assert is_inert(out)
    out.encode("utf-8")  # no lone surrogate left to raise UnicodeEncodeError


@settings(max_examples=EXAMPLES, deadline=None)
@given(hostile)
def test_idempotent(value: str) -> None:
    once = inert(value)
    assert inert(once) == once


@settings(max_examples=EXAMPLES, deadline=None)
@given(printable)
def test_printable_text_is_unchanged(value: str) -> None:
    assert inert(value) == value


@settings(max_examples=EXAMPLES, deadline=None)
@given(hostile)
def test_one_code_point_in_at_most_one_out(value: str) -> None:
    """Columns stay aligned: each control becomes exactly one placeholder; only CRLF shrinks (to LF)."""
    assert len(inert(value)) == len(value) - value.count("\r\n")


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.recursive(hostile | st.integers() | st.none(), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(hostile, inner, max_size=4), max_leaves=20))
def test_json_is_escape_free_and_exact(payload) -> None:
    text = dumps(payload, indent=2)
    assert _controls(text) == []
    assert json.loads(text) == payload


@settings(max_examples=EXAMPLES, deadline=None)
@given(hostile, st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_a_stream_shows_what_the_whole_text_shows(value: str, cuts: list[int]) -> None:
    stream = InertStream()
    points = sorted({min(c, len(value)) for c in cuts})
    pieces = [value[a:b] for a, b in zip([0, *points], [*points, len(value)], strict=True)]
    assert "".join(stream.feed(p) for p in pieces) + stream.finish() == inert(value)


def test_each_attack_is_visible_and_inert() -> None:
    out = inert("Outlook " + ATTACK + " done\r\nnext\tline\r")
    assert out == ("Outlook �]52;c;ZXZpbA==��[2J�[H�]0;pwned���31m�0;t���� done\nnext\tline�")
    assert out.count(PLACEHOLDER) == 14
    assert inert(None) == "" and inert("") == ""
    assert inert_all({"a\x1b": ["x\x9b", ("y\x07", 3)], "n": None}) == {"a�": ["x�", ["y�", 3]], "n": None}


def test_plain_json_would_have_leaked_c1() -> None:
    """The reason for ``dumps``: json.dumps(ensure_ascii=False) writes U+009B/U+0085 raw."""
    assert "\x9b" in json.dumps({"t": ATTACK}, ensure_ascii=False)
    assert "\\u009b" in dumps({"t": ATTACK}) and "\x9b" not in dumps({"t": ATTACK})


def test_tui_uses_the_same_sanitiser() -> None:
    from rfpilot.tui import safe

    # The TUI's inert is the shared sanitiser plus one on-screen width rule (U+FE0F dropped), nothing of its own.
    assert safe._inert is inert
    assert safe.inert(ATTACK) == inert(ATTACK)
    assert safe.inert("🖨\ufe0f a\x1b[2J") == inert("🖨 a\x1b[2J")
    assert safe.text("a\x1b[2Jb\x07").plain == "a�[2Jb�"


def test_template_toml_export_has_no_raw_c1_and_round_trips() -> None:
    from rfpilot.core.library.template_files import dumps as dump_template
    from rfpilot.core.library.template_files import loads

    doc = {"name": "n\x9b\x85 \"q\" \\", "description": ATTACK, "body": "a\x9d\nb \"\"\" \\x9b\n",
           "parameters": [{"key": "k", "label": "l\x9c"}]}
    for fmt in ("toml", "yaml"):
        text = dump_template(doc, fmt)
        assert _controls(text) == [], fmt
        assert loads(text, fmt) == doc, fmt


def test_a_warning_logged_with_no_handler_is_inert(capsys) -> None:
    """Nothing configures logging in the CLI: Python's last-resort handler would print a warning raw to stderr."""
    import logging

    from rfpilot.cli.output import guard_logging

    previous = logging.lastResort
    try:
        guard_logging()
        guard_logging()  # idempotent
        record = logging.LogRecord("rfpilot.core.team.outputs", logging.WARNING, __file__, 1,
                                   "outputs not drafted: %s", ("server said \x1b]0;pwned\x07\x9b2J",), None)
        logging.lastResort.handle(record)
        assert capsys.readouterr().err == "outputs not drafted: server said �]0;pwned��2J\n"
    finally:
        logging.lastResort = previous
