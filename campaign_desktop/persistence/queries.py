"""Read queries shared by services: rows in, frozen domain views out.

Bulk-friendly: views for many campaigns cost a fixed number of queries, not one per row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    Table,
    Text,
    and_,
    cast,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from campaign_desktop.domain.errors import NotFoundError, ValidationError
from campaign_desktop.domain.names import find_named, name_key
from campaign_desktop.domain.recurrence import RecurrencePattern
from campaign_desktop.domain.segments import Segment
from campaign_desktop.domain.status import ARMED_STATUSES, ContactStatus, RunTrigger
from campaign_desktop.domain.views import CampaignView, RunView
from campaign_desktop.persistence.models import (
    Campaign,
    CampaignRun,
    Contact,
    ContactList,
    SavedSegment,
    campaign_audience,
    campaign_segment,
    list_membership,
)
from campaign_desktop.persistence.portable import by_dialect, contains_ignoring_case
from campaign_desktop.persistence.segment_sql import segment_sql

log = logging.getLogger("campaign_desktop.persistence")

RowT = TypeVar("RowT")

#: Ids per IN (...) list, the one size for every query (well under SQLite's cap on bound
#: parameters, 32,766 since 3.32). Beyond it a list is cut into chunks (`in_chunks`), or,
#: where an IN list stops paying off, the query covers every row and the caller picks.
IN_LIMIT = 500
# Up to this many distinct sets of lists, counting each set is cheaper than one pass over
# every membership (a set costs at most its lists' memberships).
_FEW_SETS = 3
#: The shortest search text the trigram indexes can answer (migration 0007): shorter text
#: is matched by a scan, as before them.
SEARCH_INDEX_MIN_CHARS = 3
_CONTACT_SEARCH = table("contact_search")


def in_chunks(items: Sequence[RowT]) -> Iterator[Sequence[RowT]]:
    """`items` in slices of at most `IN_LIMIT`: one IN (...) list each."""
    for start in range(0, len(items), IN_LIMIT):
        yield items[start : start + IN_LIMIT]


def is_armed() -> ColumnElement[bool]:
    """True for the campaigns that fire by themselves (the scheduler arms a job for each):
    not archived, with a next run, and in one of `ARMED_STATUSES`. The one place this
    condition is written (docs/design.md §4)."""
    return and_(
        Campaign.archived.is_(False),
        Campaign.next_run_at.is_not(None),
        Campaign.status.in_(sorted(ARMED_STATUSES)),
    )


def load(session: Session, model: type[RowT], key: int, what: str) -> RowT:
    """The row of `model` with primary key `key`, or NotFoundError naming `what`."""
    row = session.get(model, key)
    if row is None:
        raise NotFoundError(f"{what} {key} does not exist (any more).")
    return row


def named_ids(
    session: Session, model: type[ContactList] | type[SavedSegment], names: Iterable[str]
) -> dict[str, int]:
    """The id of the list or segment (`model`) each of `names` names: its exact spelling
    first, else the oldest one the same ignoring case (`domain.names.find_named`,
    docs/design.md §21); names that name nothing are left out.

    Exact spellings (what the GUI passes) are one indexed query. For the others the whole
    table is read (lists and segments number tens to thousands) and compared in Python, so
    that SQLite (whose `lower()` folds ASCII only) and PostgreSQL (whose folding follows the
    database's locale) agree.
    """
    wanted = list(names)
    exact = {
        str(item_name): int(item_id)
        for item_id, item_name in session.execute(
            select(model.id, model.name).where(model.name.in_({name.strip() for name in wanted}))
        )
    }
    found = {name: exact[name.strip()] for name in wanted if name.strip() in exact}
    if len(found) < len(wanted):
        rows = [
            (row[0], row[1])
            for row in session.execute(select(model.id, model.name).order_by(model.id))
        ]
        for name in wanted:
            item = None if name in found else find_named(rows, name)
            if item is not None:
                found[name] = item
    return found


#: Keys of the PostgreSQL advisory locks under which list and segment names are checked and
#: taken ("LIST", "SEGM" in ASCII); any constants the app's databases agree on.
_NAME_LOCK_KEYS = {"contact_list": 0x4C495354, "segment": 0x5345474D}


def lock_names(session: Session, model: type[ContactList] | type[SavedSegment]) -> None:
    """Hold, until the transaction ends, the lock under which a list or segment (`model`)
    name is checked and then taken, so that two desktops cannot take "VIP" and "vip" at the
    same moment (docs/design.md §21). On PostgreSQL an advisory transaction lock (READ
    COMMITTED lets each see the other's name only after it committed; the unique
    constraint is exact); SQLite's write transaction already holds the database's lock."""
    if session.get_bind().dialect.name == "postgresql":
        key = _NAME_LOCK_KEYS[model.__tablename__]
        session.execute(select(func.pg_advisory_xact_lock(key)))


def name_taken(
    session: Session,
    model: type[ContactList] | type[SavedSegment],
    name: str,
    *,
    other_than: int | None = None,
) -> str | None:
    """The name of a list or segment (`model`), other than the one with id `other_than`,
    that is `name` ignoring case and surrounding spaces (`domain.names.name_key`); None
    when `name` is free. Takes `lock_names` first: call it in the write that takes the
    name."""
    lock_names(session, model)
    key = name_key(name)
    for item_id, item_name in session.execute(select(model.id, model.name).order_by(model.id)):
        if item_id != other_than and name_key(item_name) == key:
            return str(item_name)
    return None


def load_campaign(session: Session, campaign_id: int) -> Campaign:
    return load(session, Campaign, campaign_id, "Campaign")


def load_run(session: Session, run_id: int) -> CampaignRun:
    return load(session, CampaignRun, run_id, "Run")


def run_view(run: CampaignRun) -> RunView:
    return RunView(
        id=run.id,
        campaign_id=run.campaign_id,
        occurrence_at=run.occurrence_at,
        trigger=run.trigger,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        total=run.total,
        sent=run.sent,
        failed=run.failed,
        skipped=run.skipped,
        unconfirmed=run.unconfirmed,
        error=run.error,
        bounced=run.bounced or 0,
        unsubscribed=run.unsubscribed or 0,
        details_removed_at=run.details_removed_at,
    )


def _audience_rows(
    session: Session,
    query: Select[tuple[int, Any]],
    campaign_ids: Sequence[int],
    link: Table = campaign_audience,
) -> Iterator[tuple[int, Any]]:
    """(campaign id, value) rows of a query on `link` (`campaign_audience` or
    `campaign_segment`), for `campaign_ids` only.

    A short id list goes into SQL as IN (…); a long one (SQLite caps parameters) is
    filtered here while the rows stream past.
    """
    if len(campaign_ids) <= IN_LIMIT:
        query = query.where(link.c.campaign_id.in_(campaign_ids))
        for campaign_id, value in session.execute(query):
            yield campaign_id, value
        return
    wanted = set(campaign_ids)
    for campaign_id, value in session.execute(query):
        if campaign_id in wanted:
            yield campaign_id, value


def audience_sizes(session: Session, campaign_ids: Sequence[int]) -> dict[int, int]:
    """Subscribed contacts each campaign would reach (each contact once across its lists
    and segments, docs/design.md §18).

    Campaigns with no subscribed contact are left out. Counted once per distinct set of
    lists (and segments), not once per campaign: thousands of campaigns share a few dozen.
    """
    query = select(campaign_audience.c.campaign_id, campaign_audience.c.list_id)
    lists_of: dict[int, set[int]] = defaultdict(set)
    for campaign_id, list_id in _audience_rows(session, query, campaign_ids):
        lists_of[campaign_id].add(list_id)
    segments_of = _segment_ids_of(session, campaign_ids)
    keys = {
        campaign_id: frozenset(lists)
        for campaign_id, lists in lists_of.items()
        if campaign_id not in segments_of
    }
    sizes = list_set_sizes(session, set(keys.values()))
    found = {campaign_id: sizes[key] for campaign_id, key in keys.items() if sizes[key]}
    mixed = {
        campaign_id: (frozenset(lists_of.get(campaign_id, ())), segment_ids)
        for campaign_id, segment_ids in segments_of.items()
    }
    stored = stored_segments(session, set().union(*segments_of.values()))
    counted: dict[tuple[frozenset[int], frozenset[int]], int] = {}
    for list_ids, segment_ids in set(mixed.values()):
        counted[list_ids, segment_ids] = count_audience(
            session, list_ids, [stored[key] for key in segment_ids if key in stored]
        )
    found.update((campaign_id, counted[key]) for campaign_id, key in mixed.items() if counted[key])
    return found


def _segment_ids_of(session: Session, campaign_ids: Sequence[int]) -> dict[int, frozenset[int]]:
    """The segments of each of these campaigns that has any, by id."""
    query = select(campaign_segment.c.campaign_id, campaign_segment.c.segment_id)
    if len(campaign_ids) <= IN_LIMIT:
        query = query.where(campaign_segment.c.campaign_id.in_(campaign_ids))
    wanted = set(campaign_ids)
    found: dict[int, set[int]] = defaultdict(set)
    for campaign_id, segment_id in session.execute(query):
        if campaign_id in wanted:
            found[campaign_id].add(segment_id)
    return {campaign_id: frozenset(ids) for campaign_id, ids in found.items()}


def stored_segment(segment_id: int, definition: Any) -> Segment | None:
    """A saved segment's definition as a `Segment`; one that no longer loads (written by
    hand, or by a later version) is logged and matches nobody, rather than failing every
    count and run that uses it."""
    try:
        return Segment.from_dict(definition)
    except ValidationError as exc:
        log.warning("segment %s: stored conditions not understood: %s", segment_id, exc.message)
        return None


def stored_segments(session: Session, segment_ids: Collection[int]) -> dict[int, Segment]:
    """The saved segments with these ids that load, by id."""
    found: dict[int, Segment] = {}
    for chunk in in_chunks(sorted(segment_ids)):
        for segment_id, definition in session.execute(
            select(SavedSegment.id, SavedSegment.definition).where(SavedSegment.id.in_(chunk))
        ):
            segment = stored_segment(segment_id, definition)
            if segment is not None:
                found[segment_id] = segment
    return found


def campaign_segments(session: Session, campaign_id: int) -> list[Segment]:
    """The segments a campaign sends to (those that load)."""
    ids = session.scalars(
        select(campaign_segment.c.segment_id).where(campaign_segment.c.campaign_id == campaign_id)
    ).all()
    return list(stored_segments(session, ids).values())


def audience_condition(
    list_members: Select[Any] | None, segments: Sequence[Segment]
) -> ColumnElement[bool]:
    """True for contacts in `list_members` (a SELECT of contact ids) or picked by any of
    `segments`: a campaign's audience before the status is looked at (docs/design.md §18)."""
    terms: list[ColumnElement[bool]] = []
    if list_members is not None:
        terms.append(Contact.id.in_(list_members))
    terms.extend(segment_sql(segment) for segment in segments)
    return or_(*terms) if terms else false()


def members_of(list_ids: Collection[int]) -> Select[Any] | None:
    """SELECT the contact ids on any of these lists (None for no list)."""
    if not list_ids:
        return None
    return select(list_membership.c.contact_id).where(
        list_membership.c.list_id.in_(sorted(list_ids))
    )


def count_audience(session: Session, list_ids: Collection[int], segments: Sequence[Segment]) -> int:
    """Subscribed contacts on any of these lists or picked by any of these segments."""
    if not list_ids and not segments:
        return 0
    return (
        session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(
                Contact.status == ContactStatus.SUBSCRIBED,
                audience_condition(members_of(list_ids), segments),
            )
        )
        or 0
    )


def list_set_sizes(
    session: Session, list_sets: Collection[frozenset[int]]
) -> dict[frozenset[int], int]:
    """Subscribed contacts on at least one list of each set (by list id)."""
    list_sets = [key for key in set(list_sets) if key]
    sizes: dict[frozenset[int], int] = {frozenset(): 0}
    if len(list_sets) <= _FEW_SETS:
        for key in list_sets:
            members = select(list_membership.c.contact_id).where(list_membership.c.list_id.in_(key))
            sizes[key] = (
                session.scalar(
                    select(func.count())
                    .select_from(Contact)
                    .where(Contact.status == ContactStatus.SUBSCRIBED, Contact.id.in_(members))
                )
                or 0
            )
        return sizes
    # Many sets: one pass over the memberships instead. Subscribed contacts are grouped by the
    # exact set of lists they are on ("signature"; a handful of kinds in practice); a set's
    # audience is then the contacts whose signature meets it.
    signature = (
        select(func.aggregate_strings(cast(list_membership.c.list_id, String), ",").label("lists"))
        .join(Contact, Contact.id == list_membership.c.contact_id)
        .where(Contact.status == ContactStatus.SUBSCRIBED)
        .group_by(list_membership.c.contact_id)
        .subquery()
    )
    kinds = [
        (frozenset(int(item) for item in lists.split(",")), count)
        for lists, count in session.execute(
            select(signature.c.lists, func.count()).group_by(signature.c.lists)
        )
    ]
    for key in list_sets:
        sizes[key] = sum(count for lists, count in kinds if not lists.isdisjoint(key))
    return sizes


def last_runs(session: Session, campaign_ids: Sequence[int]) -> dict[int, CampaignRun]:
    """The newest real (non-test) run of each campaign."""
    newest = select(func.max(CampaignRun.id)).where(CampaignRun.trigger != RunTrigger.TEST)
    if len(campaign_ids) <= IN_LIMIT:
        newest = newest.where(CampaignRun.campaign_id.in_(campaign_ids))
    newest = newest.group_by(CampaignRun.campaign_id)
    runs = session.scalars(select(CampaignRun).where(CampaignRun.id.in_(newest)))
    return {run.campaign_id: run for run in runs}


def select_campaigns() -> Select[Any]:
    """SELECT every column of `campaign`: the start of a query for `campaign_views`."""
    return select(*Campaign.__table__.columns)


def list_names(session: Session, campaign_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Each campaign's lists by name, in the order they were chosen."""
    return _chosen_names(session, campaign_ids, campaign_audience, ContactList, "list_id")


def segment_names(session: Session, campaign_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Each campaign's segments by name, in the order they were chosen."""
    return _chosen_names(session, campaign_ids, campaign_segment, SavedSegment, "segment_id")


def _chosen_names(
    session: Session,
    campaign_ids: Sequence[int],
    link: Table,
    named: type[ContactList] | type[SavedSegment],
    link_key: str,
) -> dict[int, tuple[str, ...]]:
    """Each campaign's lists or segments (`named`, joined through `link`'s `link_key`) by
    name, in the order they were chosen."""
    key = link.c[link_key]
    query = (
        select(link.c.campaign_id, named.name)
        .join(named, named.id == key)
        .order_by(link.c.campaign_id, link.c.position, key)
    )
    names: dict[int, list[str]] = defaultdict(list)
    for campaign_id, name in _audience_rows(session, query, campaign_ids, link):
        names[campaign_id].append(name)
    return {campaign_id: tuple(items) for campaign_id, items in names.items()}


def campaign_views(
    session: Session, campaigns: Sequence[Row[Any]], *, audience: bool = True
) -> list[CampaignView]:
    """Views of campaign rows (from `select_campaigns`), in their order.

    `audience=False` leaves `audience_size` at 0 for callers that count it later (the
    campaign table does, off the GUI thread).
    """
    ids = [c.id for c in campaigns]
    sizes = audience_sizes(session, ids) if audience else {}
    runs = last_runs(session, ids)
    lists = list_names(session, ids)
    segments = segment_names(session, ids)
    parent_ids = {c.parent_campaign_id for c in campaigns if c.parent_campaign_id is not None}
    parents: dict[int, str] = {}
    if parent_ids:
        parents = {
            parent_id: name
            for parent_id, name in session.execute(
                select(Campaign.id, Campaign.name).where(Campaign.id.in_(parent_ids))
            )
        }
    views = []
    for c in campaigns:
        run = runs.get(c.id)
        views.append(
            CampaignView(
                id=c.id,
                name=c.name,
                status=c.status,
                subject=c.subject,
                body_text=c.body_text,
                body_html=c.body_html,
                from_name=c.from_name,
                from_email=c.from_email,
                reply_to=c.reply_to,
                lists=lists.get(c.id, ()),
                segments=segments.get(c.id, ()),
                timezone=c.timezone,
                scheduled_local=c.scheduled_local,
                scheduled_at=c.scheduled_at,
                next_run_at=c.next_run_at,
                recurrence_pattern=_pattern(c.id, c.recurrence_pattern),
                is_recurring=c.is_recurring,
                end_date=c.end_date,
                max_runs=c.max_runs,
                runs_done=c.runs_done,
                missed_run_policy=c.missed_run_policy,
                parent_campaign_id=c.parent_campaign_id,
                parent_name=parents.get(c.parent_campaign_id)
                if c.parent_campaign_id is not None
                else None,
                archived=c.archived,
                archived_at=c.archived_at,
                archive_reason=c.archive_reason,
                created_at=c.created_at,
                updated_at=c.updated_at,
                audience_size=sizes.get(c.id, 0),
                last_run=run_view(run) if run is not None else None,
            )
        )
    return views


def _pattern(campaign_id: int, stored: dict[str, Any] | None) -> RecurrencePattern | None:
    """The stored recurrence as a pattern. One that no longer loads (written by hand, or
    by a later version) is logged and shown as none, rather than hiding every campaign."""
    if stored is None:
        return None
    try:
        return RecurrencePattern.from_dict(stored)
    except ValidationError as exc:
        log.warning("campaign %s: stored recurrence not understood: %s", campaign_id, exc.message)
        return None


def attribute_keys(session: Session, *conditions: ColumnElement[bool]) -> list[str]:
    """Every key that appears in the free attributes of the contacts meeting `conditions`
    (of every contact when none is given), sorted (by code point).

    The JSON object's keys as a table: SQLite's ``json_each``, PostgreSQL's
    ``jsonb_object_keys`` (the one place that picks by dialect for it).
    """
    if session.get_bind().dialect.name == "sqlite":
        each = func.json_each(Contact.attributes).table_valued("key")
        # A table-valued function sees the row before it: joined on nothing but that.
        query = select(each.c.key).select_from(Contact).join(each, true())
        # json_each of a JSON scalar (a null written by hand) yields one row with a NULL key.
        query = query.where(each.c.key.is_not(None))
    else:
        key = func.jsonb_object_keys(Contact.attributes)
        # A scalar (a JSON null written by hand) has no keys, and would make the function fail.
        query = select(key).where(func.jsonb_typeof(Contact.attributes) == "object")
    return sorted(str(key) for key in session.scalars(query.where(*conditions).distinct()))


def sample_audience(
    session: Session,
    list_ids: Collection[int],
    *,
    first: int,
    unusual: int,
    segments: Sequence[Segment] = (),
) -> list[Row[Any]]:
    """Subscribed contacts of these lists (or segments) to try a campaign's templates on,
    in one query.

    The `first` by id, the `unusual` with the most data (longest names and attributes: the
    ones that overflow sizes) and the `unusual` with the least (missing attributes: the ones
    that divide by an empty number); each contact once, by id. Rows: id, email,
    first_name, last_name, attributes.
    """
    if not list_ids and not segments:
        return []
    columns = (Contact.id, Contact.email, Contact.first_name, Contact.last_name, Contact.attributes)
    if segments:
        audience = select(*columns).where(
            Contact.status == ContactStatus.SUBSCRIBED,
            audience_condition(members_of(list_ids), segments),
        )
    else:
        # From the memberships to the contacts, not `id IN (members)`: a third of the time on
        # large lists. A contact on two lists comes twice: kept once below.
        audience = (
            select(*columns)
            .join(list_membership, list_membership.c.contact_id == Contact.id)
            .where(
                list_membership.c.list_id.in_(list_ids),
                Contact.status == ContactStatus.SUBSCRIBED,
            )
        )
    # The JSON text's length: SQLite keeps JSON as text, PostgreSQL's jsonb needs ::text.
    attributes = Contact.attributes.expression
    attributes_text = by_dialect(attributes, cast(attributes, Text))
    size = (
        func.length(Contact.first_name)
        + func.length(Contact.last_name)
        + func.coalesce(func.length(attributes_text), 0)
    )
    parts = (
        audience.order_by(Contact.id).limit(first),
        audience.order_by(size.desc(), Contact.id).limit(unusual),
        audience.order_by(size, Contact.id).limit(unusual),
    )
    # UNION ALL: PostgreSQL cannot compare json values to de-duplicate them.
    rows = session.execute(union_all(*(select(part.subquery()) for part in parts))).all()
    unique = {row.id: row for row in rows}
    return [unique[key] for key in sorted(unique)]


def contact_name_text() -> ColumnElement[str]:
    """A contact's "first last", spelt exactly as migration 0007 indexes it on PostgreSQL
    (``first_name || ' ' || last_name``, the space a literal, not a bound parameter): an
    expression index serves only a query that writes the same expression."""
    return Contact.first_name + literal_column("' '", String) + Contact.last_name


def text_uses_search_index(session: Session, text: str) -> bool:
    """True when `contact_text_filter` looks `text` up in SQLite's FTS5 trigram table (a
    text of `SEARCH_INDEX_MIN_CHARS` or more on SQLite) rather than scanning."""
    return (
        session.get_bind().dialect.name == "sqlite" and len(text.strip()) >= SEARCH_INDEX_MIN_CHARS
    )


def contact_text_filter(session: Session, text: str) -> ColumnElement[bool]:
    """Contacts whose email or "first last" contains `text`, whatever the case.

    SQLite: a text of `SEARCH_INDEX_MIN_CHARS` or more characters is looked up in the FTS5
    trigram table `contact_search` (a phrase query: the text as one substring, quotes
    doubled), which folds case for every alphabet; shorter text, which no trigram can
    hold, is matched by a scan (`contains_ignoring_case`). PostgreSQL: ILIKE, which uses
    the pg_trgm indexes of migration 0007 where they exist. Same rows either way.
    """
    needle = text.strip()
    if text_uses_search_index(session, needle):
        phrase = '"' + needle.replace('"', '""') + '"'
        matching: Select[int] = (
            select(literal_column("rowid", Integer))
            .select_from(_CONTACT_SEARCH)
            .where(literal_column("contact_search").op("MATCH")(phrase))
        )
        return Contact.id.in_(matching)
    return contains_ignoring_case([Contact.email.expression, contact_name_text()], needle)
