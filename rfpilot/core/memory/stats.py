"""Insights: the team's figures over a look-back window (`rfpilot stats`, the TUI's f8 screen).

Every figure is an aggregate computed by the store (GROUP BY, window functions), the same SQL on SQLite and
Postgres; no query returns one row per session. The medians too: each partition's rows are numbered in order
(``row_number()`` and ``count()`` over the partition) and only the one or two middle values come back, averaged.
What each figure means is written once, in DEFINITIONS: `--json` carries it and docs/memory.md ("Insights") says
the same.

The window: ``since`` before now, widened back to the Monday 00:00 UTC that starts its ISO week, so every week
shown is a whole ISO week (UTC) but the current one, and a week with nothing in it shows as zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, and_, case, func, literal, literal_column, or_, select, union_all
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from rfpilot.core.context import Ctx
from rfpilot.core.text import percent, since_start, span
from rfpilot.core.view_types import (
    StatsClientView,
    StatsEngineerView,
    StatsFixView,
    StatsGroupView,
    StatsProblemView,
    StatsRateView,
    StatsTemplateView,
    StatsView,
    StatsWeekView,
)
from rfpilot.db.enums import SESSION_STATUSES
from rfpilot.db.models import Engineer, ScriptTemplate, SessionRow, SuggestedFix
from rfpilot.errors import NotFoundError
from rfpilot.grammar import count

DEFAULT_SINCE = "90d"
DEFAULT_TOP = 10
WORKED = "applied_success"
FAILED = "applied_failed"
NO_CLIENT = "(no client)"

DEFINITIONS: dict[str, str] = {
    "window": "From the Monday 00:00 UTC of the ISO week that contains (now - since) up to now. Weeks are ISO "
              "weeks in UTC, Monday to Sunday; a week with nothing in it shows as zero.",
    "opened": "Sessions whose created_at falls in the week (or the window).",
    "resolved": "Sessions whose status is resolved now and whose resolved_at (their latest resolve) falls in the "
                "week. A session resolved and then reopened is not counted.",
    "escalated": "Sessions whose escalated_at (their latest escalation) falls in the week, whatever their status "
                 "now: a session escalated, claimed and later resolved counts as escalated in the week it was "
                 "escalated and as resolved in the week it was resolved.",
    "closed": "Sessions counted as resolved or as escalated in the window, each once.",
    "median_resolve_seconds": "The median of active_seconds (time the session was active, parked time left out) "
                              "over the sessions counted as resolved; with an even count, the mean of the two "
                              "middle values; null when none.",
    "first_fix": "Of the closed sessions that had at least one suggested fix, those whose first suggested fix "
                 "(earliest created_at, then id) ended with status applied_success (the engineer confirmed it "
                 "worked). rate = count / of; null when of is 0.",
    "escalation_rate": "Escalated sessions of the window divided by closed sessions; null when none closed.",
    "problems": "Closed sessions grouped by what fixed them: the script template of the fix that worked "
                "(the session's latest applied_success fix), else that fix's title normalised (trimmed, lower "
                "case, trailing dots dropped), else the session's problem_domain. Sessions with none of the three "
                "are counted in unclassified. Largest groups first; fixes lists the titles of the fixes that "
                "worked in the group, with how many sessions each fixed.",
    "templates": "Suggested fixes that name a script template and were applied (applied_at) in the window, by "
                 "template: applied, worked (status applied_success), failed (applied_failed); success_rate = "
                 "worked / applied. Most applied first.",
    "clients": "The same figures per client_name of the session (sessions with no client together), the clients "
               "with the most sessions in the window first.",
    "engineers": "The same figures per session owner (after a claim from the queue, the engineer who claimed "
                 "it), the owners with the most sessions in the window first.",
}


@dataclass(frozen=True)
class Window:
    since: str
    start: datetime  # a Monday, 00:00 UTC
    end: datetime  # now
    weeks: tuple[date, ...]  # the Monday of every week, oldest first


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def window(since: str, now: datetime) -> Window:
    """The weeks ``since`` (a duration such as 90d, or a date) covers up to ``now``, widened to whole ISO weeks."""
    first = since_start(since, now).astimezone(UTC).date()
    first -= timedelta(days=first.weekday())
    last = now.astimezone(UTC).date()
    last -= timedelta(days=last.weekday())
    weeks = tuple(first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1))
    return Window(since.strip().lower(), datetime.combine(first, time(), UTC), now, weeks)


def _week_of(column: Any, dialect: str) -> ColumnElement[Any]:
    """The Monday (UTC) starting the ISO week of a timestamp column, as YYYY-MM-DD text, on either store."""
    if dialect == "postgresql":
        return func.to_char(func.date_trunc("week", func.timezone("UTC", column)), "YYYY-MM-DD")
    # SQLite keeps naive UTC text: 'weekday 0' moves on to the Sunday (or stays on one), -6 days is its Monday.
    return func.date(column, "weekday 0", "-6 days")


def _same_text(column: Any, value: str) -> ColumnElement[bool]:
    """``column`` equals ``value`` in any case, as the store folds case (SQLite's lower() folds ASCII only), so a
    name is found exactly when the store would match it."""
    return func.lower(column) == func.lower(literal(value, String))


def _one(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _rate(count: int, of: int) -> StatsRateView:
    return {"count": count, "of": of, "rate": (count / of) if of else None}


def _ratio(count: int, of: int) -> float | None:
    return (count / of) if of else None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class _Scope:
    """The sessions of one account (and one client, one owner) and the window's conditions on them."""

    def __init__(self, ctx: Ctx, win: Window, client: str | None, owner_id: str | None) -> None:
        # Every event counted here (created, resolved, escalated, a fix applied) bumped the session's updated_at
        # when it happened, so nothing older than the window's start can count: with every status named, the
        # store reads only the window's end of the list's index on (account_id, status, updated_at, id), not the
        # team's whole history.
        self.where: list[ColumnElement[bool]] = [SessionRow.account_id == ctx.account.id,
                                                  SessionRow.status.in_(SESSION_STATUSES),
                                                  SessionRow.updated_at >= win.start]
        if client is not None:
            self.where.append(_same_text(SessionRow.client_name, client))
        if owner_id is not None:
            self.where.append(SessionRow.owner_id == owner_id)
        self.start, self.end = start, end = win.start, win.end
        self.opened = and_(SessionRow.created_at >= start, SessionRow.created_at <= end)
        self.resolved = and_(SessionRow.status == "resolved", SessionRow.resolved_at >= start,
                             SessionRow.resolved_at <= end)
        self.escalated = and_(SessionRow.escalated_at >= start, SessionRow.escalated_at <= end)
        self.closed = or_(self.resolved, self.escalated)


async def _weekly_counts(ctx: Ctx, scope: _Scope, dialect: str) -> dict[tuple[str, str], int]:
    parts = union_all(
        select(literal_column("'opened'").label("kind"), _week_of(SessionRow.created_at, dialect).label("week"))
        .where(*scope.where, scope.opened),
        select(literal_column("'resolved'"), _week_of(SessionRow.resolved_at, dialect)).where(*scope.where,
                                                                                              scope.resolved),
        select(literal_column("'escalated'"), _week_of(SessionRow.escalated_at, dialect)).where(*scope.where,
                                                                                                scope.escalated),
    ).subquery()
    rows = await ctx.db.execute(select(parts.c.kind, parts.c.week, func.count()).group_by(parts.c.kind,
                                                                                          parts.c.week))
    return {(str(kind), str(week)): int(n) for kind, week, n in rows}


async def _medians(ctx: Ctx, scope: _Scope, key: Any | None) -> dict[Any, float]:
    """The median active_seconds of the sessions counted as resolved, per ``key`` (None: one, under key None)."""
    value = SessionRow.active_seconds
    ranked = select(
        (key if key is not None else literal_column("0")).label("k"),
        value.label("v"),
        func.row_number().over(partition_by=key, order_by=(value, SessionRow.id)).label("rn"),
        func.count().over(partition_by=key).label("n"),
    ).where(*scope.where, scope.resolved).subquery()
    middle = or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2)
    rows = await ctx.db.execute(select(ranked.c.k, func.avg(ranked.c.v)).where(middle).group_by(ranked.c.k))
    return {(k if key is not None else None): float(v) for k, v in rows}


async def _first_fix(ctx: Ctx, scope: _Scope, key: Any | None) -> dict[Any, tuple[int, int]]:
    """(worked, of) per ``key``: the closed sessions with a fix, and those whose first fix worked. Each closed
    session's first fix is one probe of the index on (session_id, created_at, id)."""
    first = (select(SuggestedFix.status).where(SuggestedFix.session_id == SessionRow.id)
             .order_by(SuggestedFix.created_at, SuggestedFix.id).limit(1).correlate(SessionRow).scalar_subquery())
    inner = select((key if key is not None else literal_column("0")).label("k"), first.label("first")).where(
        *scope.where, scope.closed).subquery()
    stmt = select(inner.c.k, func.count(inner.c.first), _one(inner.c.first == WORKED)).group_by(inner.c.k)
    return {(k if key is not None else None): (int(worked), int(of)) for k, of, worked in await ctx.db.execute(stmt)}


async def _groups(ctx: Ctx, scope: _Scope, key: Any, top: int) -> list[tuple[Any, int, int, int, int]]:
    """(key, opened, resolved, escalated, closed) of the ``top`` keys with the most sessions in the window."""
    stmt = (select(key, _one(scope.opened), _one(scope.resolved), _one(scope.escalated), _one(scope.closed))
            .where(*scope.where, or_(scope.opened, scope.closed))
            .group_by(key)
            .order_by(func.count().desc(), func.coalesce(key, literal_column("''"))).limit(top))
    return [(k, int(o), int(r), int(e), int(c)) for k, o, r, e, c in await ctx.db.execute(stmt)]


def _group_figures(opened: int, resolved: int, escalated: int, closed: int, median: float | None,
                   first: tuple[int, int]) -> StatsGroupView:
    return {"opened": opened, "resolved": resolved, "escalated": escalated, "closed": closed,
            "escalation_rate": _ratio(escalated, closed), "first_fix_rate": _ratio(*first),
            "median_resolve_seconds": median}


def _normal_title(column: Any) -> ColumnElement[str]:
    return func.rtrim(func.lower(func.trim(column)), ". ")


async def _problems(ctx: Ctx, scope: _Scope, top: int) -> tuple[list[StatsProblemView], int]:
    fix = SuggestedFix
    # Each closed session's working fix: one probe of the index on suggested_fixes.session_id, then its row by
    # primary key (a join on a subquery of ranked fixes was a nested scan on SQLite: quadratic).
    latest = func.coalesce(fix.verified_at, fix.created_at)
    working_id = (select(fix.id).where(fix.session_id == SessionRow.id, fix.status == WORKED)
                  .order_by(latest.desc(), fix.created_at.desc(), fix.id.desc()).limit(1)
                  .correlate(SessionRow).scalar_subquery())
    closed = select(SessionRow.status, SessionRow.resolved_at, SessionRow.escalated_at,
                    func.lower(func.trim(SessionRow.problem_domain)).label("domain"),
                    working_id.label("fix_id")).where(*scope.where, scope.closed).subquery()
    working = aliased(SuggestedFix)
    kind = case((working.script_template_slug.is_not(None), literal_column("'template'")),
                (working.title.is_not(None), literal_column("'fix'")),
                (closed.c.domain.is_not(None), literal_column("'domain'")), else_=None)
    key = case((working.script_template_slug.is_not(None), working.script_template_slug),
               (working.title.is_not(None), _normal_title(working.title)), else_=closed.c.domain)
    base = (select(kind.label("kind"), key.label("key"), closed.c.status, closed.c.resolved_at, closed.c.escalated_at,
                   working.title.label("title"))
            .select_from(closed).outerjoin(working, working.id == closed.c.fix_id).subquery())
    resolved = and_(base.c.status == "resolved", base.c.resolved_at >= scope.start,
                    base.c.resolved_at <= scope.end)
    escalated = and_(base.c.escalated_at >= scope.start, base.c.escalated_at <= scope.end)
    grouped = (select(base.c.kind, base.c.key, func.count(), _one(resolved), _one(escalated),
                      func.min(base.c.title))
               .where(base.c.key.is_not(None)).group_by(base.c.kind, base.c.key)
               .order_by(func.count().desc(), base.c.key).limit(top))
    groups: list[tuple[Any, ...]] = [tuple(row) for row in await ctx.db.execute(grouped)]
    unclassified = int((await ctx.db.execute(select(func.count()).where(base.c.key.is_(None)))).scalar_one())
    if not groups:
        return [], unclassified
    keys = {str(row[1]) for row in groups}
    worked_by = (select(base.c.kind, base.c.key, func.min(base.c.title), func.count())
                 .where(base.c.key.in_(keys), base.c.title.is_not(None))
                 .group_by(base.c.kind, base.c.key, _normal_title(base.c.title))
                 .order_by(func.count().desc(), func.min(base.c.title)))
    fixes: dict[tuple[str, str], list[StatsFixView]] = {}
    for k_kind, k_key, title, n in await ctx.db.execute(worked_by):
        fixes.setdefault((str(k_kind), str(k_key)), []).append({"title": str(title), "sessions": int(n)})
    names = await _template_names(ctx, [str(r[1]) for r in groups if r[0] == "template"])
    out: list[StatsProblemView] = []
    for k_kind, k_key, n, res, esc, title in groups:
        if k_kind == "template":
            label = names.get(str(k_key)) or str(k_key)
        else:
            label = str(title) if k_kind == "fix" and title else str(k_key)
        out.append({"kind": str(k_kind), "key": str(k_key), "label": label, "sessions": int(n),
                    "resolved": int(res), "escalated": int(esc), "fixes": fixes.get((str(k_kind), str(k_key)), [])})
    return out, unclassified


async def _template_names(ctx: Ctx, slugs: Sequence[str]) -> dict[str, str]:
    if not slugs:
        return {}
    rows = await ctx.db.execute(select(ScriptTemplate.slug, ScriptTemplate.name).where(
        ScriptTemplate.account_id == ctx.account.id, ScriptTemplate.slug.in_(set(slugs))))
    return {str(slug): str(name) for slug, name in rows}


async def _templates(ctx: Ctx, scope: _Scope, win: Window, top: int) -> list[StatsTemplateView]:
    fix = SuggestedFix
    stmt = (select(fix.script_template_slug, func.count(), _one(fix.status == WORKED), _one(fix.status == FAILED))
            .select_from(fix).join(SessionRow, SessionRow.id == fix.session_id)
            .where(fix.account_id == ctx.account.id, *scope.where, fix.script_template_slug.is_not(None),
                   fix.applied_at >= win.start, fix.applied_at <= win.end)
            .group_by(fix.script_template_slug)
            .order_by(func.count().desc(), fix.script_template_slug).limit(top))
    rows: list[tuple[Any, ...]] = [tuple(r) for r in await ctx.db.execute(stmt)]
    names = await _template_names(ctx, [str(r[0]) for r in rows])
    return [{"slug": str(slug), "name": names.get(str(slug)), "applied": int(applied), "worked": int(worked),
             "failed": int(failed), "success_rate": _ratio(int(worked), int(applied))}
            for slug, applied, worked, failed in rows]


async def _engineer_by_email(ctx: Ctx, email: str) -> Engineer:
    found = (await ctx.db.execute(select(Engineer).where(
        Engineer.account_id == ctx.account.id, _same_text(Engineer.email, email.strip())))).scalars().first()
    if found is None:
        raise NotFoundError(f"no engineer of this team has the email {email!r}",
                            hint="the emails are the ones engineers set as identity.email")
    return found


async def _check_client(ctx: Ctx, client: str) -> None:
    known = (await ctx.db.execute(select(SessionRow.id).where(
        SessionRow.account_id == ctx.account.id, _same_text(SessionRow.client_name, client)).limit(1)
    )).first()
    if known is None:
        raise NotFoundError(f"no session has the client {client!r}",
                            hint="give the client's name as sessions show it (any case): rfpilot sessions list")


async def team_stats(ctx: Ctx, *, since: str = DEFAULT_SINCE, client: str | None = None,
                     engineer: str | None = None, top: int = DEFAULT_TOP) -> StatsView:
    """Every figure of Insights for the window ``since`` (a duration) before now; ``client`` (its name, any case)
    and ``engineer`` (an email of the team) narrow it to their sessions; ``top`` rows per table at most."""
    win = window(since, ctx.now())
    if client is not None:
        client = client.strip()
        await _check_client(ctx, client)
    owner = await _engineer_by_email(ctx, engineer) if engineer is not None else None
    scope = _Scope(ctx, win, client, owner.id if owner is not None else None)
    dialect = ctx.db.get_bind().dialect.name
    week_key = _week_of(SessionRow.resolved_at, dialect)

    async with ctx.tx():  # reads only: one snapshot, and no transaction left open after
        counts = await _weekly_counts(ctx, scope, dialect)
        closed_row = (await ctx.db.execute(select(_one(scope.closed)).where(*scope.where))).scalar_one()
        overall = await _medians(ctx, scope, None)
        weekly_medians = await _medians(ctx, scope, week_key)
        first = (await _first_fix(ctx, scope, None)).get(None, (0, 0))
        problems, unclassified = await _problems(ctx, scope, top)
        templates = await _templates(ctx, scope, win, top)
        client_rows = await _groups(ctx, scope, SessionRow.client_name, top)
        client_medians = await _medians(ctx, scope, SessionRow.client_name)
        client_first = await _first_fix(ctx, scope, SessionRow.client_name)
        engineer_rows = await _groups(ctx, scope, SessionRow.owner_id, top)
        engineer_medians = await _medians(ctx, scope, SessionRow.owner_id)
        engineer_first = await _first_fix(ctx, scope, SessionRow.owner_id)
        people = {e.id: e for e in (await ctx.db.execute(select(Engineer).where(
            Engineer.id.in_([row[0] for row in engineer_rows])))).scalars()} if engineer_rows else {}

    weeks: list[StatsWeekView] = []
    for monday in win.weeks:
        day = monday.isoformat()
        weeks.append({"week": week_label(monday), "start": day, "opened": counts.get(("opened", day), 0),
                      "resolved": counts.get(("resolved", day), 0), "escalated": counts.get(("escalated", day), 0),
                      "median_resolve_seconds": weekly_medians.get(day)})
    opened = sum(w["opened"] for w in weeks)
    resolved = sum(w["resolved"] for w in weeks)
    escalated = sum(w["escalated"] for w in weeks)
    closed = int(closed_row)

    clients: list[StatsClientView] = []
    for name, o, r, e, c in client_rows:
        figures = _group_figures(o, r, e, c, client_medians.get(name), client_first.get(name, (0, 0)))
        clients.append(StatsClientView(client=name, **figures))
    engineers: list[StatsEngineerView] = []
    for owner_id, o, r, e, c in engineer_rows:
        person = people.get(owner_id)
        figures = _group_figures(o, r, e, c, engineer_medians.get(owner_id), engineer_first.get(owner_id, (0, 0)))
        engineers.append(StatsEngineerView(engineer_id=str(owner_id), email=person.email if person else None,
                                           name=person.display_name if person else None, **figures))
    return {
        "window": {"since": win.since, "start": win.start.isoformat(), "end": win.end.isoformat(),
                   "weeks": len(win.weeks)},
        "filters": {"client": client, "engineer": owner.email if owner is not None else None},
        "totals": {"opened": opened, "resolved": resolved, "escalated": escalated, "closed": closed,
                   "median_resolve_seconds": overall.get(None),
                   "first_fix": _rate(*first), "escalation_rate": _rate(escalated, closed)},
        "weeks": weeks,
        "problems": problems,
        "unclassified": unclassified,
        "templates": templates,
        "clients": clients,
        "engineers": engineers,
        "definitions": dict(DEFINITIONS),
    }


# --- words for the figures, shared by `rfpilot stats` and the f8 screen -----------------------------------------

GROUP_HEADERS = ("OPENED", "RESOLVED", "ESCALATED", "ESCALATION", "FIRST FIX", "MEDIAN TO RESOLVE")


def group_cells(group: StatsGroupView) -> list[str]:
    """A client's or an engineer's figures, in GROUP_HEADERS order."""
    return [str(group["opened"]), str(group["resolved"]), str(group["escalated"]), percent(group["escalation_rate"]),
            percent(group["first_fix_rate"]), span(group["median_resolve_seconds"])]


def summary_lines(view: StatsView) -> list[str]:
    """The window and the team's totals, in three lines."""
    win, totals, filters = view["window"], view["totals"], view["filters"]
    first, esc = totals["first_fix"], totals["escalation_rate"]
    scope = " · ".join([f"client {filters['client']}" if filters["client"] else "all clients",
                        f"engineer {filters['engineer']}" if filters["engineer"] else "all engineers"])
    return [
        f"last {win['since']} ({win['start'][:10]} to {win['end'][:10]}, {count(win['weeks'], 'week')}) · {scope}",
        f"{totals['opened']} opened · {totals['resolved']} resolved · {totals['escalated']} escalated · "
        f"median time to resolve {span(totals['median_resolve_seconds'])}",
        f"first fix worked {percent(first['rate'])} ({first['count']} of {first['of']}) · "
        f"escalation rate {percent(esc['rate'])} ({esc['count']} of {esc['of']})",
    ]


def problem_label(problem: StatsProblemView) -> str:
    """A problem as one line: what it is, and the fixes that worked for it (unless the problem is that fix)."""
    worked = ", ".join(f"{f['title']} ({f['sessions']})" for f in problem["fixes"])
    return problem["label"] + (f" · worked: {worked}" if worked and problem["kind"] != "fix" else "")


def template_name(template: StatsTemplateView) -> str:
    return template["name"] if template["name"] is not None else "(not in the library)"


def client_name(client: StatsClientView) -> str:
    return client["client"] if client["client"] is not None else NO_CLIENT


def unclassified_line(view: StatsView) -> str | None:
    if not view["unclassified"]:
        return None
    return f"({count(view['unclassified'], 'closed session')} with no template, working fix or domain to group by)"


def nothing_yet(view: StatsView) -> str | None:
    """What to say instead of the figures when nothing closed in the window (None: there is something to show)."""
    if view["totals"]["closed"]:
        return None
    opened = view["totals"]["opened"]
    more = f" ({opened} opened, none closed)" if opened else ""
    return f"nothing to show yet: no session was resolved or escalated in the last {view['window']['since']}{more}"
