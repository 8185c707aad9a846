"""Write the labelled team-memory set (sessions.json) from the problem families in families.py.

    python tests/data/memory/generate.py [--seed 17] [--out tests/data/memory/sessions.json]

Each session combines, with a seeded random generator, one of its family's wordings for the title, the problem
as reported, three to seven facts (one or two early observations first, then what diagnosis found), a fix that
worked (resolved) or a reason to hand it on (escalated, about 15%), sometimes a dead-end hypothesis, an active
time and a close date; then ticket noise (RE:/FW:, "Sent from my iPhone", signatures, typos, lower case).

The split is fixed in the file: within each family, sessions alternate between the reference half (loaded into
the store as closed sessions) and the query half (held out: a query is the session's title and its first
``query_facts`` facts). Rerunning with the same seed writes the same file byte for byte; the committed file is
the set the tests and bench/memory.py use, so regenerate only to change the set on purpose.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from families import CLIENTS, FAMILIES, SITES, USERS  # noqa: E402

SEED = 21
OUT = HERE / "sessions.json"
ESCALATED_SHARE = 0.15
DEAD_END_SHARE = 0.3

TITLE_PREFIXES = ["RE: ", "FW: ", "URGENT: ", "Ticket#{ticket} - ", "[External] ", "Fwd: ", "** HIGH ** "]
INTAKE_OPENERS = ["Hi team,\n\n", "Hello,\n", "Hi guys - ", "Good morning,\n\n", "To whom it may concern,\n",
                  "Hi {tech},\n\n"]
INTAKE_CLOSERS = ["\n\nSent from my iPhone", "\n\nThanks,\n{user}", "\n\nThanks!!", "\n\nPlease call me on 555-01{n}",
                  "\n\n--\n{user}\n{client}\nThis email and any attachments are confidential and intended solely "
                  "for the addressee.",
                  "\n\nRegards\n{user} | Office Manager | {client}", "\n\nGet Outlook for Android",
                  "\n\n(ticket created by email from {user})", "\n\nthis is the 2nd time this month"]
TECHS = ["Alex", "Sam", "Jordan", "Chris"]
# How people say the same thing differently: each phrase found in a text is swapped, half the time, for one of its
# alternatives (whole words, case kept for a capital first letter).
SYNONYMS: dict[str, list[str]] = {
    "can't": ["cannot", "unable to", "cant", "can not"], "won't": ["will not", "wont", "doesn't"],
    "not working": ["broken", "down", "failing", "not workin"], "stopped working": ["quit working", "broke", "stopped"],
    "keeps": ["continually", "constantly", "repeatedly"], "password": ["pw", "passwd", "credentials", "pass word"],
    "error": ["issue", "problem", "err msg"], "users": ["staff", "people", "everyone", "employees"],
    "user": ["staff member", "employee", "end user"], "laptop": ["notebook", "computer", "machine"],
    "PC": ["computer", "workstation", "desktop"], "computer": ["PC", "machine", "workstation"],
    "server": ["srv", "box"], "email": ["mail", "e-mail"], "emails": ["mails", "messages"],
    "after": ["since", "following"], "since": ["after", "ever since"], "fails": ["doesn't work", "errors out",
    "is failing"], "failing": ["broken", "erroring"], "missing": ["gone", "disappeared", "not there"],
    "sign in": ["log in", "login", "sign-in"], "log in": ["sign in", "logon", "login"],
    "shows": ["displays", "says", "gives"], "started": ["began", "kicked off"], "folder": ["directory", "dir"],
    "update": ["patch", "upgrade"], "connect": ["get on", "hook up"], "access": ["get into", "reach"],
    "works": ["is fine", "is OK", "works fine"], "every": ["each", "all"], "anymore": ["any more", "now"],
    "this morning": ["today", "first thing today", "since 8am"], "yesterday": ["last night", "on Monday"],
    "the office": ["the building", "HQ", "the site"], "affected": ["impacted", "hit"],
}
VAGUE = {  # what a ticket says when the user only knows the area
    "email": ["Email problem", "Issue with email", "Outlook issue", "email not working right", "Mail problem - {user}"],
    "print": ["Printer problem", "Printing issue", "printer not working", "Copier issue at {site}"],
    "login": ["Can't log in", "Login problem", "Sign in issue - {user}", "Locked out?", "password problem"],
    "network": ["Network issue", "Internet problem", "Connection problem at {site}", "can't connect"],
    "files": ["Can't get to my files", "File access problem", "Documents issue", "shared files problem"],
    "computer": ["Computer problem", "Laptop issue - {user}", "PC not working right", "help with my computer"],
    "server": ["Server alert", "Server problem", "Urgent - server issue", "RMM alert on {client}"],
    "app": ["Application problem", "Software not working", "App issue - {user}", "Program won't open"],
    "calls": ["Meeting audio issue", "Problem with calls", "Teams issue"],
}
AREA = {
    "scan_to_folder_password": "print", "outlook_credential_prompt": "email", "vpn_split_tunnel": "network",
    "print_spooler": "print", "dns_after_dc_change": "network", "mfa_loop": "login", "mapped_drives": "files",
    "cert_expiry": "server", "mailbox_full": "email", "onedrive_sync": "files", "teams_audio": "calls",
    "rdp_nla": "login", "time_skew_kerberos": "login", "wifi_8021x_cert": "network", "bitlocker_recovery": "computer",
    "windows_update_stuck": "computer", "printer_driver_update": "print", "sharepoint_permissions": "files",
    "quickbooks_multiuser": "app", "smb_signing_nas": "files", "dhcp_scope_exhausted": "network",
    "firewall_port_change": "app", "azure_ad_join_prt": "login", "license_unassigned": "app",
    "disk_full_server": "server", "account_lockout": "login", "email_deliverability": "email",
    "shared_mailbox_outlook": "email", "vpn_password_expired": "login", "scan_to_email_smtp": "print",
    "outlook_search": "email",
}
# Early observations any ticket may carry, whatever the problem.
GENERIC_EARLY = ["Restarting the computer did not help", "Other users at the site are fine",
                 "Started on Monday morning", "The user is working from home today",
                 "Client says nothing was changed", "Happens on the laptop and on the desktop",
                 "User already tried logging off and on", "It worked last week", "Affects several users",
                 "Only one user is affected so far", "User is a VIP (managing partner)", "No error message shown"]
# How an engineer writes a fact down.
FACT_STYLES = ["{fact}", "{fact}", "{fact}", "Confirmed: {fact}", "User says: {fact}", "checked - {fact}",
               "{lower}", "Note: {fact}", "{fact} (verified)", "{fact}."]
TITLE_FRAMES = ["{title} - {user}", "{title} ({client})", "{title} at {site}", "{title} again", "{title}??",
                "{user}: {title}", "{title} - pls help", "{client} - {title}"]
_PHRASES = sorted(SYNONYMS, key=len, reverse=True)
_PHRASE_RE = re.compile(r"(?<![\w'])(" + "|".join(re.escape(p) for p in _PHRASES) + r")(?![\w'])", re.IGNORECASE)


def reword(text: str, rng: random.Random, share: float = 0.5) -> str:
    """``text`` with about ``share`` of its known phrases said another way."""
    def swap(m: re.Match) -> str:
        found = m.group()
        options = SYNONYMS.get(found) or SYNONYMS.get(found.lower())
        if options is None or rng.random() >= share:
            return found
        choice = rng.choice(options)
        return choice[0].upper() + choice[1:] if found[0].isupper() and not choice[0].isupper() else choice
    return _PHRASE_RE.sub(swap, text)


def first_sentence(text: str) -> str:
    head = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
    return head[:90].rstrip(" .")


def typo(text: str, rng: random.Random) -> str:
    """One plausible typing slip in a word of five letters or more: two letters swapped, or one dropped."""
    words = [m for m in re.finditer(r"[A-Za-z]{5,}", text)]
    if not words:
        return text
    m = rng.choice(words)
    word = m.group()
    i = rng.randrange(1, len(word) - 2)
    slipped = word[:i] + word[i + 1] + word[i] + word[i + 2:] if rng.random() < 0.6 else word[:i] + word[i + 1:]
    return text[:m.start()] + slipped + text[m.end():]


class Filler(dict):
    """The slot values of one session: each family slot picked once, so a session names one copier throughout."""

    def __init__(self, spec: dict, rng: random.Random, client: str) -> None:
        super().__init__()
        for key, values in spec.get("slots", {}).items():
            self[key] = rng.choice(values)
        self.setdefault("user", rng.choice(USERS))
        self.setdefault("site", rng.choice(SITES))
        self.setdefault("n", str(rng.randint(10, 99)))
        self["ticket"] = str(rng.randint(100_000, 999_999))
        self["date"] = f"{rng.choice(['Mon', 'Tue', 'Wed', 'Thu', 'Fri'])} {rng.randint(1, 28)}/{rng.randint(1, 12)}"
        self["client"] = client
        self["tech"] = rng.choice(TECHS)

    def fill(self, text: str) -> str:
        return text.format_map(self)


def make_session(sid: str, name: str, spec: dict, rng: random.Random) -> dict:
    home = spec.get("home") or []
    client = rng.choice(home) if home and rng.random() < 0.4 else rng.choice(CLIENTS)
    f = Filler(spec, rng, client)

    intake = f.fill(rng.choice(spec["intakes"]))
    shape = rng.random()
    if shape < 0.12:  # the user knew only the area
        title = f.fill(rng.choice(VAGUE[AREA[name]]))
    elif shape < 0.35:  # the ticket's subject was the first line of the email
        title = first_sentence(reword(intake, rng))
    else:
        title = reword(f.fill(rng.choice(spec["titles"])), rng)
    if rng.random() < 0.25:
        title = TITLE_FRAMES[rng.randrange(len(TITLE_FRAMES))].format(title=title, user=f["user"], client=client,
                                                                       site=f["site"])
    if rng.random() < 0.15:
        title = f.fill(rng.choice(TITLE_PREFIXES)) + title
    if rng.random() < 0.12:
        title = typo(title, rng)
    if rng.random() < 0.08:
        title = title.lower()

    intake = reword(intake, rng)
    if rng.random() < 0.25:
        intake = typo(intake, rng)
    if rng.random() < 0.2:
        intake = f.fill(rng.choice(INTAKE_OPENERS)) + intake
    if rng.random() < 0.35:
        intake += f.fill(rng.choice(INTAKE_CLOSERS))

    early = rng.sample(spec["early"], rng.choice((1, 2, 2)))
    if rng.random() < 0.3:  # a first observation that says nothing about the problem
        early[rng.randrange(len(early))] = rng.choice(GENERIC_EARLY)
    late = rng.sample(spec["late"], rng.randint(max(1, 3 - len(early)), min(5, 7 - len(early))))
    facts = []
    for text in early + late:
        fact = reword(f.fill(text), rng, 0.6)
        facts.append(rng.choice(FACT_STYLES).format(fact=fact, lower=fact[0].lower() + fact[1:]))
    facts = [typo(t, rng) if rng.random() < 0.08 else t for t in facts]

    escalated = rng.random() < ESCALATED_SHARE
    dead_end = None
    if rng.random() < (DEAD_END_SHARE * 1.6 if escalated else DEAD_END_SHARE):
        hypothesis, why = rng.choice(spec["dead_ends"])
        dead_end = {"hypothesis": f.fill(hypothesis), "reason": f.fill(why)}
    fix_title, fix_description = (f.fill(part) for part in rng.choice(spec["fixes"]))
    low, high = spec["minutes"]
    active = int(rng.uniform(low, high) * 60 * (1.6 if escalated else 1.0)) + rng.randint(0, 59)
    session = {
        "id": sid,
        "family": name,
        "client": client,
        "title": title,
        "intake": intake,
        "facts": facts,
        "query_facts": len(early),
        "status": "escalated" if escalated else "resolved",
        "fix": None if escalated else {"title": fix_title, "description": fix_description},
        # An escalated session sometimes tried the family's usual fix first, and it did not work there.
        "failed_fix": ({"title": fix_title, "notes": "did not change anything here"}
                       if escalated and rng.random() < 0.5 else None),
        "escalation_reason": f.fill(rng.choice(spec["escalations"])) if escalated else None,
        "dead_end": dead_end,
        "active_seconds": active,
        "closed_days_ago": rng.randint(1, 365),
    }
    return session


def generate(seed: int = SEED) -> dict:
    rng = random.Random(seed)
    sessions = []
    for name in sorted(FAMILIES):
        spec = FAMILIES[name]
        for k in range(rng.randint(9, 15)):
            session = make_session(f"m{len(sessions) + 1:03d}", name, spec, rng)
            # Alternate within the family: both halves hold every family, in about equal numbers.
            session["split"] = "reference" if k % 2 == 0 else "query"
            sessions.append(session)
    return {
        "about": "Labelled team-memory set: synthetic closed MSP sessions by problem family. Generated by "
                 "tests/data/memory/generate.py; 'split' marks the reference half (loaded as closed sessions) and the "
                 "held-out query half (a query is the title and the first 'query_facts' facts).",
        "seed": seed,
        "families": sorted(FAMILIES),
        "clients": CLIENTS,
        "sessions": sessions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = generate(args.seed)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    split = {s["split"] for s in data["sessions"]}
    counts = {k: sum(s["split"] == k for s in data["sessions"]) for k in sorted(split)}
    escalated = sum(s["status"] == "escalated" for s in data["sessions"])
    dead = sum(s["dead_end"] is not None for s in data["sessions"])
    print(f"{len(data['sessions'])} sessions in {len(data['families'])} families ({counts}); {escalated} escalated, "
          f"{dead} with a dead end -> {args.out}")


if __name__ == "__main__":
    main()
