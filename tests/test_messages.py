"""What rfpilot says, checked over the whole source: every command a message suggests exists, `error:` lines share
one capitalisation, and counts and articles agree ("1 question", "an escalated session").

The scans read rfpilot/ with ``ast`` (string literals, f-strings and error constructors), so a new message is
checked the day it is written.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfpilot.grammar import count, plural, verb, with_article

SOURCE = Path(__file__).resolve().parent.parent / "rfpilot"
BACKTICKED = re.compile(r"`rfpilot(?: ([^`]*))?`")
# An unquoted "rfpilot WORD …" is a command only when WORD is one ("rfpilot opens its TUI" is prose).
UNQUOTED = re.compile(r"(?<![\w/.`-])rfpilot ([a-z][\w-]*(?: [^\s`'\"),;:]+)*)")
# Backticked "rfpilot …" text that is not a command line, with why.
NOT_COMMANDS = {
    "ref <10 hex>": "the tag rfpilot writes into PSA notes (core/closeout/writeback.py TAG_PREFIX)",
}
# Words that keep their capital at the start of an error message.
NAMES = {"ConnectWise", "Autotask", "Autotask's", "HaloPSA", "Halo", "Anthropic", "Anthropic's", "OpenAI", "Postgres",
         "PostgreSQL", "SQLite", "TOML", "YAML", "JSON", "HTTP", "URL", "TUI", "LLM", "PSA", "API", "SPEC", "UTF-8",
         "Typer", "Textual", "RFPILOT_HOME"}


def _sources() -> Iterator[tuple[Path, ast.AST]]:
    for path in sorted(SOURCE.rglob("*.py")):
        yield path.relative_to(SOURCE.parent), ast.parse(path.read_text(encoding="utf-8"))


def _text_of(node: ast.AST) -> str | None:
    """A string literal as written; an f-string with ``{}`` for each placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _strings() -> Iterator[tuple[str, str]]:
    seen_parts: set[int] = set()
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                seen_parts.update(id(v) for v in node.values)
            if id(node) in seen_parts:
                continue
            text = _text_of(node)
            if text is not None:
                yield f"{path}:{getattr(node, 'lineno', 0)}", text


# --- every suggested command exists ---------------------------------------------------------------------


def _command_tree():
    import typer

    from rfpilot.cli import app

    return typer.main.get_command(app)


def _problem(root, words: list[str]) -> str | None:
    """Why ``rfpilot WORDS`` is not a command line of the app, or None when it is."""
    node, path, i = root, [], 0
    while i < len(words) and hasattr(node, "commands") and words[i] in node.commands:
        node = node.commands[words[i]]
        path.append(words[i])
        i += 1
    where = " ".join(path) or "rfpilot"
    if i < len(words) and hasattr(node, "commands") and not words[i].startswith("-") and "{}" not in words[i]:
        return f"`{where}` has no command {words[i]!r}"
    options = {o for p in node.params for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
    options |= {"--help", "-h"}
    if path == ["psa", "connect"]:  # provider settings are options too (`psa connect halo --url …`)
        from rfpilot.core.closeout.psa import fields
        from rfpilot.psa import PROVIDER_MODULES

        provider = words[i] if i < len(words) and words[i] in PROVIDER_MODULES else None
        setting = {name: {"--" + f.name.replace("_", "-") for f in fields(name) if not f.secret}
                   for name in PROVIDER_MODULES}
        if provider:  # another PSA's setting is refused for this one
            options -= set().union(*setting.values())
        for name in [provider] if provider else list(PROVIDER_MODULES):
            options |= setting[name]
    for word in words[i:]:
        word = word.strip("[](),.;:")
        if not word.startswith("-") or word in ("-", "--"):
            continue
        for alternative in word.split("=", 1)[0].split("|"):
            if "{}" not in alternative and alternative not in options:
                return f"`{where}` has no option {alternative}"
    return _missing_argument(node, where, words[i:])


def _missing_argument(node, where: str, words: list[str]) -> str | None:
    """Why ``words`` leave out an argument the command requires (`psa connect --secrets-stdin` has no provider),
    or None. A placeholder stands for its argument (`sessions show SESSION`, `psa connect … --default`). A bare
    command name is a reference, not a line to run ("`rfpilot chat` starts one"): only a line that gives options
    or arguments is held to its arguments."""
    if not words or hasattr(node, "commands") or any(w.strip("[]") in ("--help", "-h") for w in words):
        return None
    takes_value = {o for p in node.params if p.param_type_name == "option" and not p.is_flag and not p.count
                   for o in p.opts}
    given, skip = 0, False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-") and word not in ("-", "--"):
            skip = "=" not in word and word.strip("[](),.;:") in takes_value
        elif word.strip("[](),.;:"):
            given += 1
    required = [p.name.upper() for p in node.params if p.param_type_name == "argument" and p.required]
    if given < len(required):
        return f"`{where}` needs {', '.join(required[given:])}"
    return None


def test_every_command_a_message_suggests_exists() -> None:
    """Hints, errors, help and docstrings name `rfpilot …` command lines: each command and option must be real
    (the Anthropic hint once sent users to `chat --offline`, which does not exist)."""
    root = _command_tree()
    top = set(root.commands)
    wrong, checked = [], 0
    for where, text in _strings():
        lines = [m.group(1) or "" for m in BACKTICKED.finditer(text)]
        rest = BACKTICKED.sub("", text)
        lines += [m.group(1) for m in UNQUOTED.finditer(rest) if m.group(1).split()[0] in top]
        for line in lines:
            if line in NOT_COMMANDS or line.startswith("{}"):
                continue
            checked += 1
            problem = _problem(root, line.split())
            if problem:
                wrong.append(f"{where}: `rfpilot {line}`: {problem}")
    assert checked > 50  # the scan finds the hints (a broken regex would pass vacuously)
    assert not wrong, "\n".join(wrong)


def test_the_scan_catches_a_wrong_command() -> None:
    root = _command_tree()
    assert _problem(root, ["chat", "SESSION", "TEXT", "--offline"]) == "`chat` has no option --offline"
    assert _problem(root, ["sessions", "frob"]) == "`sessions` has no command 'frob'"
    assert _problem(root, ["psa", "connect", "halo", "--url", "https://…"]) is None
    assert _problem(root, ["psa", "connect", "halo", "--site", "x"]) == "`psa connect` has no option --site"
    assert _problem(root, ["resolve", "S", "--offline"]) is None
    assert _problem(root, ["psa", "connect", "--secrets-stdin"]) == "`psa connect` needs PROVIDER"
    assert _problem(root, ["psa", "connect", "autotask", "--name", "main", "--secrets-stdin"]) is None
    assert _problem(root, ["psa", "connect", "--help"]) is None
    assert _problem(root, ["resolve", "--offline"]) == "`resolve` needs SESSION"
    assert _problem(root, ["sessions", "show"]) is None  # the command's name, in prose


def test_the_secret_hint_names_a_variable_that_works(cli, monkeypatch) -> None:
    """`psa connect … --private-key x` is refused; the hint names the environment variable rfpilot really reads
    for that connection (core.closeout.psa.env_var), and --secrets-stdin."""
    from rfpilot.core.closeout.psa import env_var

    code, out, err = cli("psa", "connect", "connectwise", "--name", "Team-1", "--site", "x.example.com",
                         "--private-key", "abc")
    assert code == 1 and out == ""
    assert env_var("team-1", "private_key") == "RFPILOT_PSA_TEAM_1_PRIVATE_KEY"
    assert "RFPILOT_PSA_TEAM_1_PRIVATE_KEY" in err and "abc" not in err
    assert "`rfpilot psa connect connectwise --name team-1 --secrets-stdin`" in err  # runnable as written


# --- error messages share one capitalisation ----------------------------------------------------------------


def _error_classes(trees: list[ast.AST]) -> set[str]:
    import inspect

    import rfpilot.errors

    names = {n for n, c in vars(rfpilot.errors).items() if inspect.isclass(c) and issubclass(c, rfpilot.errors.RfpilotError)}
    grew = True
    while grew:  # subclasses defined anywhere in rfpilot/
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names and any(
                        isinstance(b, ast.Name) and b.id in names for b in node.bases):
                    names.add(node.name)
                    grew = True
    return names


def _first_words() -> Iterator[tuple[str, str, str]]:
    """(where, class, message start) for every error constructed with a literal message in rfpilot/."""
    sources = list(_sources())
    classes = _error_classes([t for _, t in sources])
    for path, tree in sources:
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            text = _text_of(node.args[0]) if name in classes else None
            if text and text[:1].isalpha():
                yield f"{path}:{node.lineno}", name, text


def test_error_messages_start_in_lower_case() -> None:
    """`error: …` lines read as one voice: the message starts in lower case (the majority, and what click's own
    usage errors are turned into), unless it starts with a name such as ConnectWise or JSON."""
    found = list(_first_words())
    assert len(found) > 200
    upper = [f"{where}: {name}({text[:50]!r}…)" for where, name, text in found
             if text[0].isupper() and text.split(" ", 1)[0].rstrip(":,") not in NAMES]
    assert not upper, "start these error messages in lower case:\n" + "\n".join(upper)


def test_error_messages_end_without_a_full_stop() -> None:
    """The other half of one voice: an `error:` line is a clause, not a sentence (hints may be sentences)."""
    stops = [f"{where}: {name}({text[-50:]!r})" for where, name, text in _first_words()
             if text.endswith(".") and not text.endswith("..")]
    assert not stops, "end these error messages without a full stop:\n" + "\n".join(stops)


def test_click_usage_errors_are_lower_case_too(cli) -> None:
    code, out, err = cli("sessions", "show")
    assert code == 1 and err.startswith("error: missing argument") and err.splitlines()[0].endswith("'session'"), err
    code, out, err = cli("--bogus")
    assert code == 1 and err.startswith("error: no such option: --bogus")


# --- counts and articles agree --------------------------------------------------------------------------------


# A placeholder that is a count, and words after one that are not a plural noun. "characters" is left out: it only
# ever follows the length of a text over a limit ("4,001 characters; the limit is 4,000"), never 1.
COUNTED = re.compile(r"len\(|count|total|attempts|waiting|pending|\bleft\b|tokens|\bn\b")
NOT_NOUNS = {"is", "was", "has", "does", "characters"}
# The things rfpilot counts: a placeholder followed by one of these in the plural is a count, whatever its name
# (doctor once printed "1 sessions" from ``{part['sessions']} sessions``).
COUNTED_NOUNS = {"sessions", "messages", "questions", "facts", "checks", "fixes", "tickets", "notes", "items",
                 "templates", "files", "connections", "branches", "hypotheses", "drafts", "outputs", "handoffs",
                 "writes", "turns", "rows", "entries", "statuses", "members", "tries", "errors"}


# "connection(s)", "value(s)": a plural left to the reader, wherever it stands in a message ("http(s)" is a scheme).
EITHER_NUMBER = re.compile(r"[A-Za-z](?<!http)\(s\)")
# The words a count may stand before its noun with: names ("1 PSA write", "2 ConnectWise tickets"), not SQL's
# capitals ("{name} ON sessions").
_NAMED = "|".join(re.escape(n) for n in sorted(NAMES) if n.isalpha())
COUNTED_PLURAL = re.compile(rf"^ (?:(?:{_NAMED}) )*([a-z]+s)\b")


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def _hand_made_grammar(tree: ast.AST) -> Iterator[tuple[int, str]]:
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            either = EITHER_NUMBER.search(node.value)
            if either:
                yield node.lineno, f"{node.value[max(0, either.start() - 15):either.end()]!r}: use grammar.count / plural"
        if isinstance(node, ast.JoinedStr):
            for before, after in zip(node.values, node.values[1:]):
                if isinstance(before, ast.Constant) and isinstance(after, ast.FormattedValue) \
                        and re.search(r"(^|\s)an? $", str(before.value)):
                    yield node.lineno, f"{before.value!r} + {{…}}: use grammar.with_article"
                if isinstance(before, ast.FormattedValue) and isinstance(after, ast.Constant):
                    noun = COUNTED_PLURAL.match(str(after.value))
                    counted = COUNTED.search(ast.unparse(before.value))
                    constant = isinstance(before.value, ast.Name) and before.value.id.isupper()  # a limit, never 1
                    if noun and not constant and (noun.group(1) in COUNTED_NOUNS
                                                  or counted and noun.group(1) not in NOT_NOUNS):
                        yield node.lineno, f"{{{ast.unparse(before.value)}}}{after.value[:20]!r}: use grammar.count"
        if isinstance(node, ast.IfExp):
            parts = {_text_of(node.body), _text_of(node.orelse)}
            if parts in ({"s", ""}, {"es", ""}, {"is", "es"}, {"y", "ies"}):
                yield node.lineno, f"{sorted(p or '' for p in parts)} chosen by hand: use grammar.count / plural"


def test_no_message_pluralises_by_hand() -> None:
    """"1 questions", "1 messages" and "a escalated" came from f-strings that guessed: every count and article in
    CLI, TUI and core output goes through rfpilot.grammar."""
    wrong = [f"{path}:{line}: {why}" for path, tree in _sources() if path.name != "grammar.py"
             for line, why in _hand_made_grammar(tree)]
    assert not wrong, "\n".join(wrong)


def test_the_grammar_scan_catches_hand_made_plurals() -> None:
    sample = ast.parse(
        'a = f"{len(rows)} messages"\n'
        'b = f"{count} write(s) queued"\n'
        'c = f"cannot fork a {status} session"\n'
        'd = f"{n} draft{\'s\' if n != 1 else \'\'}"\n'
        'e = f"{len(text)} characters; the limit is {limit}"\n'
        'f = f"{name} is here"\n'
        'g = f"schema {rev} · {part[\'sessions\']} sessions"\n'
        'h = f"{len(bad)} of {len(rows)} PSA connection(s) not usable"\n'
        'i = f"{len(pending)} PSA writes wait"\n'
        'j = "missing required value(s): " + ", ".join(missing)\n'
        'k = f"CREATE INDEX {name} ON sessions (status)"\n'
        'm = f"the address must be http(s), not {url}"\n'
        'def n():\n    """The key(s) a binding has: a docstring, not a message."""\n'
    )
    assert sorted({line for line, _ in _hand_made_grammar(sample)}) == [1, 2, 3, 4, 7, 8, 9, 10]


@pytest.mark.parametrize(("n", "noun", "expected"), [
    (0, "question", "0 questions"), (1, "question", "1 question"), (2, "message", "2 messages"),
    (1, "draft template", "1 draft template"), (3, "draft template", "3 draft templates"),
    (2, "hypothesis", "2 hypotheses"), (1, "hypothesis", "1 hypothesis"), (2, "branch", "2 branches"),
    (2, "try", "2 tries"), (1, "try", "1 try"), (2, "reply", "2 replies"), (2, "day", "2 days"),
    (1200, "token", "1,200 tokens"), (2, "outbox item", "2 outbox items"), (2, "box", "2 boxes"),
])
def test_counts(n: int, noun: str, expected: str) -> None:
    assert count(n, noun) == expected
    assert plural(noun, 1) == noun


@pytest.mark.parametrize(("phrase", "expected"), [
    ("escalated session", "an escalated session"), ("abandoned session", "an abandoned session"),
    ("resolved session", "a resolved session"), ("paused session", "a paused session"),
    ("active session", "an active session"), ("user", "a user"), ("hour", "an hour"), ("one-off", "a one-off"),
])
def test_articles(phrase: str, expected: str) -> None:
    assert with_article(phrase) == expected


def test_verbs_agree() -> None:
    assert (verb(1, "waits"), verb(2, "waits"), verb(0, "waits"), verb(2, "is")) == ("waits", "wait", "wait", "are")


def test_forking_an_escalated_session_reads_right(cli) -> None:
    sid = cli("new", "Printer offline on floor 2")[1].strip()
    assert cli("escalate", sid, "--yes", "--offline")[0] == 0
    code, out, err = cli("branches", "fork", sid, "--reason", "which queue", "-o", "A: spooler", "-o", "B: driver")
    assert code == 3 and out == ""
    assert err.startswith("error: cannot fork an escalated session")
