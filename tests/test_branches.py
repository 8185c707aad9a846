"""Branching hypotheses (SPEC §10; seed-004 §7.3 cases 1–13 adapted, gaps of §9 fixed) on both stores."""

from __future__ import annotations

import json

import pytest

from rfpilot.core.session import branches
from rfpilot.core.engine import chat
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
from rfpilot.core.llm.prompts import CHAT_SYSTEM_PROMPT
from rfpilot.errors import ConflictError, UsageError

TWO = [("Network connectivity", "Check the network stack"), ("DNS resolution", "Check the DNS configuration")]


def _fork_block(options) -> str:
    payload = {"fork_reason": "Two possible causes identified",
               "options": [{"label": label, "description": desc} for label, desc in options]}
    return f"[FORK]\n{json.dumps(payload)}\n[/FORK]"


async def _talk(ctx, session, provider, *texts):
    for text in texts:
        await chat.send(ctx, session, text, provider)


async def test_root_is_created_lazily_with_the_history(ctx, session) -> None:
    provider = ScriptedProvider([ScriptedReply(reply="First reply."), ScriptedReply(reply="Second reply.")])
    await _talk(ctx, session, provider, "test message")
    assert await branches.list_branches(ctx, session) == []
    root = await branches.ensure_root(ctx, session)
    await ctx.db.commit()
    assert root.parent_branch_id is None and root.label == "Root" and root.status == "active" and root.seq == 0
    assert len(await branches.history(ctx, session, root)) == 2
    assert session.active_branch_id == root.id


async def test_fork_makes_untried_children_of_the_active_branch(ctx, session) -> None:
    point, children = await branches.fork(ctx, session, "Two possible causes identified", TWO)
    root = await branches.root_of(ctx, session)
    assert [c.label for c in children] == ["Network connectivity", "DNS resolution"]
    assert [c.status for c in children] == ["untried", "untried"] and [c.position for c in children] == [1, 2]
    assert all(c.parent_branch_id == root.id for c in children)
    assert point.parent_branch_id == root.id and [o["branch_id"] for o in point.options] == [c.id for c in children]
    assert session.active_branch_id == root.id  # forking does not switch
    assert len(await branches.list_branches(ctx, session)) == 3  # the tree


async def test_switch_and_mark(ctx, session) -> None:
    _, (a, b) = await branches.fork(ctx, session, "why", TWO)
    await branches.switch(ctx, session, b)
    assert session.active_branch_id == b.id and b.status == "active" and a.status == "untried"
    await branches.mark(ctx, session, a, "dead_end", "Network was fine, not the cause")
    assert a.status == "dead_end" and a.status_reason == "Network was fine, not the cause"
    assert a.status_changed_at is not None and a.context_summary["by"] == "offline"
    assert a.context_summary["concluded"] == "Network was fine, not the cause"
    with pytest.raises(UsageError, match="say why it is a dead end"):
        await branches.mark(ctx, session, b, "dead_end", "")
    with pytest.raises(UsageError, match="dead_end or solved"):
        await branches.mark(ctx, session, b, "untried", None)


async def test_revive_needs_a_dead_end_and_evidence_from_elsewhere(ctx, session) -> None:
    _, (a, b) = await branches.fork(ctx, session, "why", TWO)
    with pytest.raises(ConflictError, match="only a dead end can be revived"):
        await branches.revive(ctx, session, a, b, "the error appears on VPN only")
    await branches.mark(ctx, session, a, "dead_end", "ping was fine")
    with pytest.raises(UsageError, match="another branch"):
        await branches.revive(ctx, session, a, a, "the error appears on VPN only")
    await branches.revive(ctx, session, a, b, "the error appears on VPN only")
    assert a.status == "revived" and a.evidence_from_branch_id == b.id
    context = await branches.cross_branch_context(ctx, session, a)
    assert "Revived with evidence from DNS resolution: the error appears on VPN only" in context


async def test_the_limit_counts_hypotheses_not_the_root(ctx, session, settings) -> None:
    await branches.fork(ctx, session, "why", TWO)
    assert branches.limit_of(ctx) == 10
    ctx.settings = settings.__class__(paths=settings.paths, file_data=settings.file_data, env=settings.env,
                                      overrides={"branches.limit": 3})
    with pytest.raises(ConflictError, match="already explores 2 hypotheses; 2 more would pass the limit of 3"):
        await branches.fork(ctx, session, "more", [("X", ""), ("Y", "")])
    assert len(await branches.list_branches(ctx, session)) == 3  # nothing changed
    ctx.settings = settings.__class__(paths=settings.paths, file_data=settings.file_data, env=settings.env,
                                      overrides={"branches.limit": 2})
    with pytest.raises(ConflictError):
        await branches.fork(ctx, session, "more", [("X", ""), ("Y", "")])


async def test_fork_input_is_checked(ctx, session) -> None:
    with pytest.raises(UsageError, match="2 to 4"):
        await branches.fork(ctx, session, "why", [("Only one", "")])
    with pytest.raises(UsageError, match="both called"):
        await branches.fork(ctx, session, "why", [("Same", ""), ("same", "")])
    assert await branches.list_branches(ctx, session) == []


async def test_a_fork_in_a_reply_creates_branches_and_histories_split(ctx, session) -> None:
    provider = ScriptedProvider([
        ScriptedReply(reply="It could be either.\n\n" + _fork_block(TWO)),
        ScriptedReply(reply="On DNS: run nslookup.", match="dns"),
        ScriptedReply(reply="On the network: ping the gateway.", match="network"),
        ScriptedReply(reply="Noted.", match="next"),
    ])
    result = await chat.send(ctx, session, "Name resolution fails on some laptops", provider)
    assert result.fork is not None
    network, dns = [b for b in await branches.list_branches(ctx, session) if b.parent_branch_id]
    assert (network.label, dns.label) == ("Network connectivity", "DNS resolution")

    await branches.switch(ctx, session, network)
    await chat.send(ctx, session, "network first", provider)
    await branches.mark(ctx, session, network, "dead_end", "The gateway answers; the network is fine")
    await branches.switch(ctx, session, dns)
    await chat.send(ctx, session, "dns now", provider)
    dns_history = [m.display_content for m in await branches.history(ctx, session, dns)]
    assert "network first" not in dns_history and "It could be either." in dns_history  # the parent's history
    assert dns_history[-2:] == ["dns now", "On DNS: run nslookup."]

    # The next request on DNS carries the network branch's summary, in the uncached block only.
    await chat.send(ctx, session, "next step", provider)
    request = provider.calls[-1]
    assert "Network connectivity [dead_end]" in request.volatile and "The gateway answers" in request.volatile
    assert request.system == CHAT_SYSTEM_PROMPT and "Network connectivity" not in request.system
    assert all("network first" not in turn.content for turn in request.history)


async def test_the_cached_prefix_is_identical_across_branches(ctx, session) -> None:
    from rfpilot.core.llm.anthropic_provider import build_params

    provider = ScriptedProvider([ScriptedReply(reply="Either.\n\n" + _fork_block(TWO)),
                                 ScriptedReply(reply="ok")])
    await chat.send(ctx, session, "start", provider)
    a, b = [x for x in await branches.list_branches(ctx, session) if x.parent_branch_id]
    requests = []
    for branch in (a, b):
        await branches.switch(ctx, session, branch)
        message = await chat.store_message(ctx, session, f"on {branch.label}")
        requests.append(await chat.build_request(ctx, session, message))
    params = [build_params(r, "claude-sonnet-4-6") for r in requests]
    cached = [p["system"][0] for p in params]
    assert cached[0] == cached[1] and "cache_control" in cached[0]
    assert requests[0].volatile != requests[1].volatile


async def test_a_non_branching_session_has_no_branch_context(ctx, session) -> None:
    assert await branches.branch_map(ctx, session) == []
    assert await branches.cross_branch_context(ctx, session, None) == ""


async def test_fork_work_mark_resolve_outputs_end_to_end(ctx, session) -> None:
    """The scripted run of the acceptance: [FORK] → work on B → A dead_end → resolve → three outputs, the KB
    article listing A under 'Things to rule out first'."""
    from rfpilot.core.closeout import closing
    from rfpilot.core.team import outputs

    kb = ("## Symptoms\nNames do not resolve on some laptops.\n\n## Root cause\nA stale record on the secondary "
          "DNS server.\n\n## Resolution steps\n1. Removed the stale record.\n\n## Things to rule out first\n- None.")
    provider = ScriptedProvider([
        ScriptedReply(reply="It could be either.\n\n" + _fork_block(TWO)),
        ScriptedReply(reply="The gateway answers.", match="gateway"),
        ScriptedReply(reply="The secondary server has a stale record.", match="nslookup"),
        ScriptedReply(action="resolution_note", match="knowledge", reply=kb),
        ScriptedReply(action="resolution_note", reply="## Problem\nx\n\n## Diagnostic steps\nx\n\n## Resolution\nx\n\n"
                                                      "## Recommendations\nx"),
    ])
    await chat.send(ctx, session, "Name resolution fails on some laptops", provider)
    network, dns = [b for b in await branches.list_branches(ctx, session) if b.parent_branch_id]
    await branches.switch(ctx, session, network)
    await chat.send(ctx, session, "pinged the gateway from two laptops", provider)
    await branches.mark(ctx, session, network, "dead_end", "The gateway answers; the network is fine")
    await branches.switch(ctx, session, dns)
    await chat.send(ctx, session, "nslookup against both servers", provider)
    await branches.mark(ctx, session, dns, "solved", "Removed the stale record on the secondary server")
    await closing.resolve_session(ctx, session, "## Problem\nNames did not resolve.\n\n## Resolution\nFixed DNS.")
    drafted = await outputs.generate_all(ctx, session, provider)
    assert sorted(o.output_type for o in drafted) == ["client_summary", "knowledge_base", "psa_ticket_notes"]
    kb_text = outputs.content(next(o for o in drafted if o.output_type == "knowledge_base"))
    rule_out = kb_text.split("## Things to rule out first", 1)[1]
    assert "Network" in rule_out and "The gateway answers; the network is fine" in rule_out
