"""Contact use cases: add, edit, search, subscription state, contact lists and CSV import.

Each public method is one transaction (an import: one per batch) and returns frozen views.

Decisions, recorded here because the design leaves them open:

- Emails are stored normalised (trimmed, domain lower-cased, docs/design.md §2), so "Ann@x.com"
  and "ann@x.com" are two contacts: the local part is case-sensitive by RFC 5321.
- A list name is found ignoring case and surrounding spaces (`domain.names`, exact
  spelling first, docs/design.md §21), and a name the same as another list's that way is
  refused. `add`, `add_to_list` and `import_csv` create a list they name when none is
  called that; `remove_from_list` and the filters never do.
- Adding to and removing from a list are bulk actions like `delete_many`: a transaction
  per chunk, cancellable; contacts deleted meanwhile are skipped, not an error.
- The CSV export's format (UTF-8 with BOM, commas) is argued in `export_csv`.
- `update(attributes=...)` replaces the whole attribute set (the edit form shows them
  all); an import merges into it instead.
- An unsubscribe outranks a bounce: `mark_bounced` leaves an unsubscribed contact
  unsubscribed, and unsubscribing again keeps the first `unsubscribed_at`.
- `search`/`count` match case-insensitively (Unicode-aware when the text is not ASCII)
  anywhere in the email or in "first last"; an unknown list or no match gives no rows.
- No events: contact changes do not move campaigns or runs, so the service has no event
  bus, and the Contacts tab reloads after the actions it starts.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.emails import normalize_email
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.names import find_named, name_key
from campaign_desktop.domain.segments import Segment
from campaign_desktop.domain.status import ContactStatus
from campaign_desktop.domain.views import ContactListView, ContactView, ImportReport
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import (
    Campaign,
    Contact,
    ContactList,
    campaign_audience,
    list_membership,
)
from campaign_desktop.persistence.portable import contains_ignoring_case, insert_or_ignore
from campaign_desktop.persistence.segment_sql import segment_sql
from campaign_desktop.services.csv_import import (
    ContactCsv,
    CsvPreview,
    CsvRow,
    CsvSource,
    StatusCheck,
    check_attribute_key,
    check_status,
    preview,
    sharing_the_gil,
)
from campaign_desktop.services.runs import spreadsheet_safe

#: Rows per import transaction: big enough for executemany to pay, small enough that the
#: scheduler's and sender's writes wait well under SQLite's busy timeout.
BATCH_SIZE = 2000
_NAME_MAX = 200
_ATTRIBUTE_VALUE_TYPES = (str, int, float, bool, type(None))


class CancelFlag(Protocol):
    """What `import_csv` polls between batches (a `threading.Event` is one)."""

    def is_set(self) -> bool: ...


ImportProgress = Callable[[float, int], None]
"""Called after each batch with (fraction of the file's bytes read, data rows read)."""

BulkProgress = Callable[[int, int], None]
"""Called after each chunk of a bulk action with (contacts handled so far, contacts asked)."""

#: Contacts per statement (and per transaction) of a bulk action: one DELETE or UPDATE of
#: this many ids takes milliseconds, so the scheduler's and sender's writes never wait long.
BULK_CHUNK = queries.IN_LIMIT
#: Contacts per read of a CSV export: each page is its own short read (keyset by email), so
#: a long export never holds one read transaction open, nor more than a page in memory.
EXPORT_PAGE = 5000
#: The export's own columns, before one column per custom field.
EXPORT_COLUMNS = ("email", "first_name", "last_name", "status", "lists")
#: How the export joins a contact's lists in its one "lists" cell.
LIST_SEPARATOR = "; "

ExportTarget = str | os.PathLike[str] | BinaryIO
"""A path (written whole or not at all), or an open binary stream the caller keeps."""


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk action did: `handled` ids in the order given (all of them unless
    `cancelled`), of which `changed` were changed (the others were gone already, or
    already in the state asked for)."""

    handled: tuple[int, ...]
    changed: int
    cancelled: bool = False


@dataclass(frozen=True)
class ListChange:
    """What adding contacts to a list (or taking them out of one) did.

    Of the `handled` contacts (all those asked for unless `cancelled`), `changed` were
    added (removed) and `unchanged` were in the list already (were not in it); the rest
    had been deleted meanwhile.
    """

    list_name: str
    handled: int
    changed: int
    unchanged: int
    cancelled: bool = False


@dataclass(frozen=True)
class ListUsage:
    """A list with what deleting it would touch: its counts, and the campaigns (by name)
    whose audience it is (any of them makes `delete_list` refuse)."""

    list: ContactListView
    campaigns: tuple[str, ...]


@dataclass(frozen=True)
class ExportReport:
    """What a CSV export wrote: `rows` contacts under `columns` (header order); a
    `cancelled` export to a path left no file behind."""

    rows: int
    columns: tuple[str, ...]
    cancelled: bool = False


class ContactService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # --- reading -------------------------------------------------------------------------

    def get(self, contact_id: int) -> ContactView:
        with self._db.read() as session:
            return _contact_views(session, [_load_contact(session, contact_id)])[0]

    def get_many(self, contact_ids: Iterable[int]) -> list[ContactView]:
        """The contacts with these ids, in the order given; ids no longer there are left out."""
        ids = list(dict.fromkeys(contact_ids))
        found: dict[int, ContactView] = {}
        with self._db.read() as session:
            for chunk in queries.in_chunks(ids):
                rows = session.scalars(select(Contact).where(Contact.id.in_(chunk))).all()
                found.update((view.id, view) for view in _contact_views(session, rows))
        return [found[contact_id] for contact_id in ids if contact_id in found]

    def find(self, email: str) -> ContactView | None:
        """The contact with this address (compared in its normalised form), or None.

        Text that is no valid address matches nobody: None, not an error.
        """
        try:
            address = normalize_email(email)
        except ValidationError:
            return None
        with self._db.read() as session:
            contact = session.scalar(select(Contact).where(Contact.email == address))
            return None if contact is None else _contact_views(session, [contact])[0]

    def search(
        self,
        text: str = "",
        *,
        list_name: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 200,
        segment: Segment | None = None,
        after_email: str | None = None,
        before_email: str | None = None,
    ) -> list[ContactView]:
        """One page of contacts matching `text`, in `list_name`, with `status`, picked by
        `segment` (docs/design.md §18); by email.

        Where the page starts: `offset` rows into the matches, or (keyset paging, issue
        16) right after the address `after_email` or, read backwards, the `limit` matches
        right before `before_email` (still returned in email order). An address is unique,
        so a keyset page neither repeats nor skips a row when contacts were added or
        deleted since the page next to it was read, and costs the same at any depth (the
        email index); an OFFSET page can do both when rows before it changed.
        `count` gives the total. Raises ValueError for a negative offset, a limit below 1,
        or more than one starting point.
        """
        starts = (offset != 0) + (after_email is not None) + (before_email is not None)
        if offset < 0 or limit < 1 or starts > 1:
            raise ValueError(
                f"one of offset >= 0, after_email, before_email, and limit >= 1, got "
                f"{offset}, {after_email!r}, {before_email!r}, {limit}"
            )
        with self._db.read() as session:
            query = select(Contact).where(
                *_contact_filters(session, text, list_name, status, segment)
            )
            if before_email is not None:
                query = query.where(Contact.email < before_email).order_by(Contact.email.desc())
                contacts = list(reversed(session.scalars(query.limit(limit)).all()))
                return _contact_views(session, contacts)
            if after_email is not None:
                query = query.where(Contact.email > after_email)
            if offset == 0:
                found = _page_near_the_start(
                    session, text, list_name, status, segment, after_email, limit
                )
                if found is not None:
                    return _contact_views(session, found)
            query = query.order_by(Contact.email).offset(offset).limit(limit)
            return _contact_views(session, session.scalars(query).all())

    def first_page(
        self,
        text: str = "",
        *,
        list_name: str | None = None,
        status: str | None = None,
        segment: Segment | None = None,
        limit: int = 200,
    ) -> tuple[list[ContactView], int | None]:
        """`search`'s first page and how many contacts match, or None for "many: ask
        `count`, it takes a while": when the page came from the first contacts in email
        order (a text that a large share of contacts contain), counting them costs
        seconds at a million contacts while the page took milliseconds (issue 16), so a
        table shows the page first and counts off the GUI thread.
        """
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        with self._db.read() as session:
            near = _page_near_the_start(session, text, list_name, status, segment, None, limit)
            if near is not None:
                return _contact_views(session, near), None
            if queries.text_uses_search_index(session, text):
                # The page and the count in one statement (a window count over every
                # match): the trigram index is asked once, not once for each.
                rows = session.execute(
                    select(Contact, func.count().over())
                    .where(*_contact_filters(session, text, list_name, status, segment))
                    .order_by(Contact.email)
                    .limit(limit)
                ).all()
                total = rows[0][1] if rows else 0
                return _contact_views(session, [row[0] for row in rows]), total
        # Otherwise the page walks the email index and stops early; the count is apart.
        page = self.search(text, list_name=list_name, status=status, segment=segment, limit=limit)
        if len(page) < limit:
            return page, len(page)  # a short first page is every match
        return page, self.count(text, list_name=list_name, status=status, segment=segment)

    def ids(
        self,
        text: str = "",
        *,
        list_name: str | None = None,
        status: str | None = None,
        segment: Segment | None = None,
        from_email: str | None = None,
        to_email: str | None = None,
        offset: int = 0,
        limit: int = 200,
    ) -> list[int]:
        """The ids of the contacts `search` would give with the same arguments, in its
        order, without loading them: what a bulk action on a selection of rows (all of
        a million, say) reads on a pool thread. `from_email` / `to_email` keep only the
        addresses from / up to these (both included): a selection read by its first and
        last address, which still holds when contacts before it were added or deleted."""
        if offset < 0 or limit < 1:
            raise ValueError(f"offset must be >= 0 and limit >= 1, got {offset}, {limit}")
        with self._db.read() as session:
            query = select(Contact.id).where(
                *_contact_filters(session, text, list_name, status, segment)
            )
            if from_email is not None:
                query = query.where(Contact.email >= from_email)
            if to_email is not None:
                query = query.where(Contact.email <= to_email)
            query = query.order_by(Contact.email).offset(offset).limit(limit)
            return list(session.scalars(query))

    def count(
        self,
        text: str = "",
        *,
        list_name: str | None = None,
        status: str | None = None,
        segment: Segment | None = None,
    ) -> int:
        """How many contacts `search` would page through with the same filters."""
        with self._db.read() as session:
            query = select(func.count()).select_from(Contact)
            query = query.where(*_contact_filters(session, text, list_name, status, segment))
            return session.scalar(query) or 0

    def attribute_names(self) -> list[str]:
        """Every custom-field name (a key of some contact's `attributes`), sorted by code
        point: the Contacts tab's optional columns. One query (SQL JSON functions)."""
        with self._db.read() as session:
            return queries.attribute_keys(session)

    # --- writing -------------------------------------------------------------------------

    def add(
        self,
        email: str,
        first_name: str = "",
        last_name: str = "",
        lists: Iterable[str] = (),
        attributes: Mapping[str, Any] | None = None,
    ) -> ContactView:
        """A new subscribed contact, put in `lists` (created when missing)."""
        address = normalize_email(email)
        first = _person_name(first_name, "first_name")
        last = _person_name(last_name, "last_name")
        values = _clean_attributes(attributes or {})
        names = _list_names(lists, "lists")
        try:
            return self._insert(address, first, last, values, names)
        except IntegrityError:
            # Another desktop added the same address between our check and our insert.
            raise ValidationError("email", f"{address} is already in your contacts.") from None

    def _insert(
        self,
        address: str,
        first: str,
        last: str,
        values: dict[str, Any],
        names: list[str],
    ) -> ContactView:
        with self._db.write() as session:
            if session.scalar(select(Contact.id).where(Contact.email == address)) is not None:
                raise ValidationError("email", f"{address} is already in your contacts.")
            now = self._clock.now()
            contact = Contact(
                email=address,
                first_name=first,
                last_name=last,
                attributes=values,
                status=ContactStatus.SUBSCRIBED.value,
                created_at=now,
                updated_at=now,
            )
            session.add(contact)
            session.flush()
            self._add_memberships(session, [contact.id], names)
            return _contact_views(session, [contact])[0]

    def update(
        self,
        contact_id: int,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        lists: Iterable[str] | None = None,
    ) -> ContactView:
        """Change the address, the names, the attributes (replaced as a whole) and/or the
        lists (exactly these, created when missing); None leaves a field as it is. One
        transaction: a refusal (ValidationError naming the field) changes nothing.

        A new address must not belong to another contact; past deliveries keep the address
        they were sent to.
        """
        address = None if email is None else normalize_email(email)
        first = None if first_name is None else _person_name(first_name, "first_name")
        last = None if last_name is None else _person_name(last_name, "last_name")
        values = None if attributes is None else _clean_attributes(attributes)
        names = None if lists is None else _list_names(lists, "lists")
        try:
            return self._update(contact_id, address, first, last, values, names)
        except IntegrityError:
            # Another desktop took the address between our check and our write.
            raise ValidationError("email", f"{address} is already in your contacts.") from None

    def _update(  # noqa: PLR0917  (the fields of `update`, checked)
        self,
        contact_id: int,
        address: str | None,
        first: str | None,
        last: str | None,
        values: dict[str, Any] | None,
        names: list[str] | None,
    ) -> ContactView:
        with self._db.write() as session:
            contact = _load_contact(session, contact_id)
            before = (contact.email, contact.first_name, contact.last_name, contact.attributes)
            if address is not None and address != contact.email:
                taken = select(Contact.id).where(Contact.email == address, Contact.id != contact_id)
                if session.scalar(taken) is not None:
                    raise ValidationError("email", f"{address} is already in your contacts.")
                contact.email = address
            if first is not None:
                contact.first_name = first
            if last is not None:
                contact.last_name = last
            if values is not None:
                contact.attributes = values
            changed = (contact.email, contact.first_name, contact.last_name, contact.attributes)
            lists_changed = names is not None and self._set_memberships(session, contact_id, names)
            if changed != before or lists_changed:
                contact.updated_at = self._clock.now()
            session.flush()
            return _contact_views(session, [contact])[0]

    def _set_memberships(self, session: Session, contact_id: int, names: Sequence[str]) -> bool:
        """Make the contact a member of exactly these lists; True when that changed any."""
        wanted = {self._list_id(session, name) for name in names}
        current = set(
            session.scalars(
                select(list_membership.c.list_id).where(list_membership.c.contact_id == contact_id)
            )
        )
        if current - wanted:
            session.execute(
                delete(list_membership).where(
                    list_membership.c.contact_id == contact_id,
                    list_membership.c.list_id.in_(current - wanted),
                )
            )
        if wanted - current:
            session.execute(
                insert_or_ignore(session, list_membership),
                [{"list_id": list_id, "contact_id": contact_id} for list_id in wanted - current],
            )
        return wanted != current

    def delete(self, contact_id: int) -> None:
        """Delete for good; past deliveries keep the address they were sent to."""
        with self._db.write() as session:
            _load_contact(session, contact_id)
            # Core delete: the database cascades memberships without loading them.
            session.execute(delete(Contact).where(Contact.id == contact_id))

    def delete_many(
        self,
        contact_ids: Iterable[int],
        *,
        progress: BulkProgress | None = None,
        cancel: CancelFlag | None = None,
    ) -> BulkOutcome:
        """Delete contacts for good, `BULK_CHUNK` at a time: one DELETE per chunk, each its
        own transaction. Past deliveries keep their address (their contact_id becomes NULL
        through ``ix_delivery_contact``, migration 0004); memberships go with the contact.

        Ids no longer there are skipped. `cancel.is_set()` is read before each chunk: the
        chunks done stay done (`cancelled=True`). `progress(handled, asked)` follows each
        chunk, on the calling thread.
        """

        def delete_chunk(session: Session, ids: Sequence[int]) -> int:
            return _rows_matched(
                session.execute(delete(Contact).where(Contact.id.in_(_ids_parameter())), _ids(ids))
            )

        return self._in_chunks(contact_ids, delete_chunk, progress, cancel)

    def set_status_many(
        self,
        contact_ids: Iterable[int],
        status: str,
        *,
        progress: BulkProgress | None = None,
        cancel: CancelFlag | None = None,
    ) -> BulkOutcome:
        """Unsubscribe, resubscribe or mark bounced many contacts, by the rules of the
        one-contact calls (`unsubscribe`, `resubscribe`, `mark_bounced`): an unsubscribe
        keeps the first `unsubscribed_at`, a bounce never overrides an unsubscribe.

        One UPDATE per `BULK_CHUNK` ids, each its own transaction; cancel and progress as
        in `delete_many`. Raises ValidationError for an unknown status (nothing changed).
        """
        wanted = ContactStatus(_status(status))

        def update_chunk(session: Session, ids: Sequence[int]) -> int:
            statement = update(Contact).where(
                Contact.id.in_(_ids_parameter()), *_STATUS_CHANGE_FROM[wanted]
            )
            now = self._clock.now()
            values: dict[str, Any] = {"status": wanted.value, "updated_at": now}
            if wanted == ContactStatus.UNSUBSCRIBED:
                values["unsubscribed_at"] = now
            elif wanted == ContactStatus.SUBSCRIBED:
                values["unsubscribed_at"] = None
            return _rows_matched(session.execute(statement.values(values), _ids(ids)))

        return self._in_chunks(contact_ids, update_chunk, progress, cancel)

    def _in_chunks(
        self,
        contact_ids: Iterable[int],
        action: Callable[[Session, Sequence[int]], int],
        progress: BulkProgress | None,
        cancel: CancelFlag | None,
    ) -> BulkOutcome:
        ids = list(dict.fromkeys(contact_ids))
        changed = done = 0
        for chunk in queries.in_chunks(ids):
            if cancel is not None and cancel.is_set():
                return BulkOutcome(tuple(ids[:done]), changed, cancelled=True)
            with self._db.write() as session:
                changed += action(session, chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, len(ids))
        return BulkOutcome(tuple(ids), changed)

    def unsubscribe(self, email: str) -> ContactView:
        """Never send to this contact again (until resubscribed); stamps `unsubscribed_at`."""
        return self._set_status(email, ContactStatus.UNSUBSCRIBED)

    def resubscribe(self, email: str) -> ContactView:
        """Subscribed again (from unsubscribed or bounced); clears `unsubscribed_at`."""
        return self._set_status(email, ContactStatus.SUBSCRIBED)

    def mark_bounced(self, email: str) -> ContactView:
        """The address bounces: stop sending. An unsubscribed contact stays unsubscribed."""
        return self._set_status(email, ContactStatus.BOUNCED)

    def _set_status(self, email: str, status: ContactStatus) -> ContactView:
        address = normalize_email(email)
        with self._db.write() as session:
            contact = session.scalar(select(Contact).where(Contact.email == address))
            if contact is None:
                raise ValidationError("email", f"{address} is not in your contacts.")
            current = contact.status
            now = self._clock.now()
            if status == ContactStatus.UNSUBSCRIBED and current != status:
                contact.status = status
                contact.unsubscribed_at = now
                contact.updated_at = now
            elif status == ContactStatus.SUBSCRIBED and current != status:
                contact.status = status
                contact.unsubscribed_at = None
                contact.updated_at = now
            elif status == ContactStatus.BOUNCED and current == ContactStatus.SUBSCRIBED:
                contact.status = status
                contact.updated_at = now
            return _contact_views(session, [contact])[0]

    # --- lists ---------------------------------------------------------------------------

    def lists(self) -> list[ContactListView]:
        """Every list with its member and subscribed counts, by name (one query)."""
        with self._db.read() as session:
            return _list_views(session)

    def create_list(self, name: str, description: str = "") -> ContactListView:
        list_name = _list_name(name, "name")
        text = _description(description)
        with self._db.write() as session:
            _refuse_taken_list_name(session, list_name)
            item = ContactList(name=list_name, description=text, created_at=self._clock.now())
            session.add(item)
            session.flush()
            return ContactListView(
                id=item.id, name=item.name, description=text, member_count=0, subscribed_count=0
            )

    def rename_list(self, list_id: int, name: str) -> ContactListView:
        """Campaigns keep their audience: they refer to the list, not to its name."""
        list_name = _list_name(name, "name")
        with self._db.write() as session:
            item = _load_list(session, list_id)
            if item.name != list_name:
                _refuse_taken_list_name(session, list_name, other_than=list_id)
                item.name = list_name
                session.flush()
            return _list_views(session, list_id)[0]

    def delete_list(self, list_id: int) -> None:
        """Delete a list but not its contacts; refused while a campaign sends to it."""
        with self._db.write() as session:
            item = _load_list(session, list_id)
            refuse_while_in_use("list", item.name, _campaigns_using(session, list_id))
            session.execute(delete(ContactList).where(ContactList.id == list_id))

    def list_usage(self, list_id: int) -> ListUsage:
        """The list's counts and the campaigns whose audience it is, by name (what the
        Contacts tab says before deleting it). NotFoundError for a list no longer there."""
        with self._db.read() as session:
            _load_list(session, list_id)
            return ListUsage(_list_views(session, list_id)[0], _campaigns_using(session, list_id))

    def add_to_list(
        self,
        contact_ids: Iterable[int],
        list_name: str,
        *,
        progress: BulkProgress | None = None,
        cancel: CancelFlag | None = None,
    ) -> ListChange:
        """Put contacts in the list called `list_name`, created (in the first chunk's
        transaction) when there is none.

        One INSERT per `BULK_CHUNK` ids, each its own transaction; contacts deleted
        meanwhile are skipped. Cancel and progress as in `delete_many`: the chunks done stay
        done, and a list created by the first chunk stays. Raises ValidationError("list_name")
        for an empty or overlong name and ValidationError("contacts") for no contacts,
        before anything is written.
        """
        name = _list_name(list_name, "list_name")
        ids = _chosen_ids(contact_ids, "Choose the contacts to add to the list first.")
        with self._db.read() as session:
            name = _as_spelled(session, name)

        def add_chunk(session: Session, chunk: Sequence[int]) -> tuple[int, int]:
            list_id = self._list_id(session, name)
            present = _existing_among(session, chunk)
            # Only contacts still there are selected; RETURNING gives the rows inserted, not
            # those ON CONFLICT DO NOTHING left out (members already), on both engines.
            added = session.execute(
                insert_or_ignore(session, list_membership)
                .from_select(
                    ["list_id", "contact_id"],
                    select(bindparam("list_id", type_=Integer), Contact.id).where(
                        Contact.id.in_(_ids_parameter())
                    ),
                )
                .returning(list_membership.c.contact_id),
                {"list_id": list_id, **_ids(chunk)},
            ).all()
            return len(added), present - len(added)

        return self._list_chunks(name, ids, add_chunk, progress, cancel)

    def remove_from_list(
        self,
        contact_ids: Iterable[int],
        list_name: str,
        *,
        progress: BulkProgress | None = None,
        cancel: CancelFlag | None = None,
    ) -> ListChange:
        """Take contacts out of the list called `list_name` (they stay contacts).

        One DELETE per `BULK_CHUNK` ids, each its own transaction; cancel and progress as
        in `add_to_list`. Raises ValidationError("list_name") when there is no such list
        (also when it is deleted meanwhile: the chunks done stay done) and
        ValidationError("contacts") for no contacts.
        """
        name = _list_name(list_name, "list_name")
        ids = _chosen_ids(contact_ids, "Choose the contacts to take out of the list first.")
        with self._db.read() as session:
            _list_id_named(session, name)  # refused before the first chunk, not during it
            name = _as_spelled(session, name)

        def remove_chunk(session: Session, chunk: Sequence[int]) -> tuple[int, int]:
            list_id = _list_id_named(session, name)
            present = _existing_among(session, chunk)
            removed = _rows_matched(
                session.execute(
                    delete(list_membership).where(
                        list_membership.c.list_id == list_id,
                        list_membership.c.contact_id.in_(_ids_parameter()),
                    ),
                    _ids(chunk),
                )
            )
            return removed, present - removed

        return self._list_chunks(name, ids, remove_chunk, progress, cancel)

    def _list_chunks(
        self,
        name: str,
        ids: Sequence[int],
        action: Callable[[Session, Sequence[int]], tuple[int, int]],
        progress: BulkProgress | None,
        cancel: CancelFlag | None,
    ) -> ListChange:
        changed = unchanged = done = 0
        for chunk in queries.in_chunks(ids):
            if cancel is not None and cancel.is_set():
                return ListChange(name, done, changed, unchanged, cancelled=True)
            with self._db.write() as session:
                chunk_changed, chunk_unchanged = action(session, chunk)
            changed += chunk_changed
            unchanged += chunk_unchanged
            done += len(chunk)
            if progress is not None:
                progress(done, len(ids))
        return ListChange(name, done, changed, unchanged)

    def _add_memberships(
        self, session: Session, contact_ids: Sequence[int], names: Sequence[str]
    ) -> int:
        added = 0
        for name in names:
            list_id = self._list_id(session, name)
            already = _members_among(session, list_id, contact_ids)
            session.execute(
                insert_or_ignore(session, list_membership),
                [{"list_id": list_id, "contact_id": contact_id} for contact_id in contact_ids],
            )
            added += len(contact_ids) - already
        return added

    def _list_id(self, session: Session, name: str) -> int:
        """The id of the list called `name` (ignoring case, `queries.named_ids`), created
        (empty) when there is none."""
        list_id = queries.named_ids(session, ContactList, [name]).get(name)
        if list_id is not None:
            return list_id
        queries.lock_names(session, ContactList)  # no "vip" made beside another's new "VIP"
        list_id = queries.named_ids(session, ContactList, [name]).get(name)
        if list_id is not None:
            return list_id
        # ON CONFLICT DO NOTHING: another desktop creating the same list at the same moment
        # (team mode) is no error; either way the list exists afterwards.
        session.execute(
            insert_or_ignore(session, ContactList).values(
                name=name, description="", created_at=self._clock.now()
            )
        )
        created = queries.named_ids(session, ContactList, [name]).get(name)
        assert created is not None
        return created

    # --- CSV import ----------------------------------------------------------------------

    def preview_csv(self, path: CsvSource, rows: int = 5) -> CsvPreview:
        """What the import dialog shows before importing: see `csv_import.preview`."""
        return preview(path, rows)

    def check_csv_status(
        self, path: CsvSource, header: str, *, cancel: CancelFlag | None = None
    ) -> StatusCheck:
        """What the column `header` will do as the import's status column: how many rows
        unsubscribe or bounce their contact, and which words refuse their rows (the import
        dialog shows it before importing). Reads the whole file, nothing of the database:
        see `csv_import.check_status` (ValidationError("file"), ("mapping"))."""
        return check_status(path, header, cancelled=None if cancel is None else cancel.is_set)

    def import_csv(
        self,
        path: CsvSource,
        list_name: str = "Customers",
        *,
        mapping: Mapping[str, str] | None = None,
        progress: ImportProgress | None = None,
        cancel: CancelFlag | None = None,
    ) -> ImportReport:
        """Import contacts from a CSV file into `list_name` (created when missing).

        - New addresses become subscribed contacts. An address already in the contacts
          updates that contact: non-empty names overwrite, attributes are merged (an empty
          cell never erases a value). An import never resubscribes an unsubscribed or
          bounced contact (consent is not re-given by a file); a status column can only
          take consent away: "unsubscribed" or "bounced" there (or another tool's word for
          it, `csv_import.STATUS_WORDS`) makes a subscribed contact (new or existing) so,
          in the batch's own transaction (`csv_import.STATUS`), and
          `report.status_unsubscribed` / `status_bounced` count the contacts it changed. A
          status word meaning "not opted in" ("pending") or one the app does not know
          skips the row with a reason naming the word (`report.status_refused` counts
          them): such a contact is never imported as subscribed by accident.
        - Every contact created or updated is added to `list_name`.
        - Skipped rows come back as ``(row, reason)``; rows are numbered as a spreadsheet
          shows them: the header is row 1, the first data row is row 2, blank lines count
          as rows but are otherwise ignored. A row repeating an earlier row's address is
          skipped ("Same email as row 12"); so is an invalid address.
        - `mapping` (header → ``email`` | ``first_name`` | ``last_name`` | ``ignore`` |
          ``attr:<key>``) overrides the automatic column mapping (see `csv_import`).
        - `report.rows_read` counts the data rows handled: created + updated + skipped.

        Streams: never more than one batch of rows in memory. Each batch of `BATCH_SIZE`
        rows is its own transaction, so the scheduler's writes are never held up for
        long. `cancel.is_set()` is checked before each batch; a cancelled import keeps the
        batches done so far and says `cancelled=True`. `progress(fraction, rows_read)` is
        called after each batch, on the importing thread.

        Nothing is written when the file cannot be read, has no email column, has no rows
        below its header, or `mapping`/`list_name` are invalid: that is a ValidationError.
        """
        target = _list_name(list_name, "list_name")
        total = _BatchResult()
        cancelled = False
        with ContactCsv(path, mapping) as reader:
            if not reader.has_rows():
                raise ValidationError("file", "The file has no rows below its header.")
            imported = _ImportedRows()
            try:
                for batch in reader.batches(BATCH_SIZE):
                    if cancel is not None and cancel.is_set():
                        cancelled = True
                        break
                    total.add(self._import_batch(batch, target, imported))
                    if progress is not None:
                        progress(reader.fraction_read, total.rows)
            finally:
                imported.close()
        return ImportReport(
            created=total.created,
            updated=total.updated,
            skipped=total.skipped,
            cancelled=cancelled,
            rows_read=total.rows,
            status_unsubscribed=total.opted_out[ContactStatus.UNSUBSCRIBED],
            status_bounced=total.opted_out[ContactStatus.BOUNCED],
            status_refused=total.status_refused,
        )

    def _import_batch(
        self, batch: Sequence[CsvRow], list_name: str, imported: _ImportedRows
    ) -> _BatchResult:
        """One batch's rows in one transaction. A repeated address keeps its first row, but
        never loses a later row's opt-out: the status a repeat takes away is applied to the
        contact (in this batch or imported by an earlier one), and a repeat whose status the
        app cannot read holds every row of that address back (it may be an opt-out)."""
        result = _BatchResult()
        accepted, unreadable, skipped = _first_rows(batch, result)
        for address, refused_row in unreadable.items():
            held = accepted.pop(address, None)
            if held is not None:
                skipped.append((held.row, _held_back(refused_row)))
        late: dict[str, str] = {}  # address imported by an earlier batch → opt-out to apply
        for address, earlier_row in imported.rows_of(list(accepted)).items():
            repeat = accepted.pop(address)
            if repeat.opted_out:
                late[address] = repeat.opted_out
                skipped.append((repeat.row, _repeat_opting_out(earlier_row, repeat.opted_out)))
            else:
                skipped.append((repeat.row, f"Same email as row {earlier_row}"))
        # An address whose status was refused counts as seen: a later batch's row for it is
        # a repeat, never a subscribed contact.
        imported.add((address, row) for address, row in unreadable.items())
        result.skipped = sorted(skipped)
        opt_outs = _opted_out(accepted, late)
        if not accepted and not opt_outs:
            return result
        now = self._clock.now()
        write = self._write_batch_raw if self._db.is_sqlite else self._write_batch_core
        result.created, result.updated, opted_out = write(accepted, list_name, now, opt_outs)
        result.opted_out.update(opted_out)
        imported.add((address, row.row) for address, row in accepted.items())
        return result

    def _write_batch_raw(
        self,
        accepted: Mapping[str, CsvRow],
        list_name: str,
        now: datetime,
        opt_outs: Mapping[ContactStatus, list[str]],
    ) -> tuple[int, int, dict[ContactStatus, int]]:
        """`_write_batch_core` on the SQLite file's DBAPI connection (`Database.write_raw`):
        (created, updated, opted out). Same rows, same stored values, one statement per step.

        Issue 16: SQLAlchemy's per-row parameter processing cost more than SQLite's insert.
        The new contacts go in as one JSON array read by ``json_each`` in one INSERT …
        SELECT, so the search index's trigger (migration 0007) fires inside one statement
        (FTS5 flushes its pending rows per statement), the batch's timestamp is converted
        once, and no per-row parameter set is built. Attributes are stored as the JSON text
        SQLite writes for the object (no spaces), which every reader parses the same.
        """
        addresses = json.dumps(list(accepted))
        stamp = _SQLITE_TIME(now)
        with self._db.write_raw() as raw:
            existing = {
                email: (contact_id, first, last, json.loads(attributes) if attributes else None)
                for contact_id, email, first, last, attributes in raw.execute(
                    _SQLITE_FIND_CONTACTS, (addresses,)
                )
            }
            new_contacts: list[tuple[str, str, str, dict[str, Any]]] = []
            changes: list[tuple[str, str, str, str, int]] = []
            for address, row in sharing_the_gil(accepted.items()):
                current = existing.get(address)
                if current is None:
                    new_contacts.append(
                        (address, row.first_name, row.last_name, _stored_attributes(row))
                    )
                    continue
                change = _merged_contact(current, row, now)
                if change is not None:
                    changes.append(
                        (
                            change["first_name"],
                            change["last_name"],
                            _SQLITE_JSON(change["attributes"]),
                            stamp,
                            change["id"],
                        )
                    )
            if new_contacts:
                raw.execute(_SQLITE_INSERT_CONTACTS, (json.dumps(new_contacts), stamp))
            if changes:
                raw.executemany(_SQLITE_UPDATE_CONTACT, changes)
            list_id = _sqlite_list_id(raw, list_name, stamp)
            raw.execute(_SQLITE_ADD_MEMBERS, (list_id, addresses))
            opted_out = {
                status: raw.execute(
                    _SQLITE_OPT_OUT[status], (stamp, IMPORTED_OPT_OUT, stamp, json.dumps(opted))
                ).rowcount
                for status, opted in opt_outs.items()
            }
        return len(new_contacts), len(accepted) - len(new_contacts), opted_out

    def _write_batch_core(
        self,
        accepted: Mapping[str, CsvRow],
        list_name: str,
        now: datetime,
        opt_outs: Mapping[ContactStatus, list[str]],
    ) -> tuple[int, int, dict[ContactStatus, int]]:
        """Create or update the contacts of `accepted` (first row of each new address), add
        them all to `list_name` and make the subscribed contacts of `opt_outs` (addresses
        by status) so, in one transaction: (created, updated, and by status how many
        subscribed contacts the status column made unsubscribed or bounced)."""
        # Bound as parameters, not literal lists: SQLAlchemy's statement cache would keep
        # the first batch's 2,000 addresses alive for as long as the app runs.
        addresses = {"addresses": list(accepted)}
        in_batch = Contact.email.in_(bindparam("addresses", expanding=True))
        with self._db.write() as session:
            found = session.execute(
                select(
                    Contact.id,
                    Contact.email,
                    Contact.first_name,
                    Contact.last_name,
                    Contact.attributes,
                ).where(in_batch),
                addresses,
            )
            existing = {
                email: (contact_id, first, last, attributes)
                for contact_id, email, first, last, attributes in found
            }
            new_contacts: list[dict[str, Any]] = []
            changes: list[dict[str, Any]] = []
            for address, row in sharing_the_gil(accepted.items()):
                current = existing.get(address)
                if current is None:
                    new_contacts.append(_new_contact(address, row, now))
                    continue
                change = _merged_contact(current, row, now)
                if change is not None:
                    changes.append(change)
            if new_contacts:
                # With RETURNING, SQLAlchemy sends many rows per INSERT ("insertmanyvalues"),
                # not a row per statement. The ids themselves are not needed.
                session.execute(insert(Contact).returning(Contact.id), new_contacts)
            if changes:
                session.execute(update(Contact), changes)
            session.execute(
                insert_or_ignore(session, list_membership).from_select(
                    ["list_id", "contact_id"],
                    select(bindparam("list_id", type_=Integer), Contact.id).where(in_batch),
                ),
                {"list_id": self._list_id(session, list_name), **addresses},
            )
            opted_out: dict[ContactStatus, int] = {}
            for status, opted in opt_outs.items():
                changed = session.execute(
                    update(Contact)
                    .where(Contact.email.in_(opted), Contact.status == ContactStatus.SUBSCRIBED)
                    .values(
                        {
                            Contact.status: status,
                            getattr(Contact, f"{status}_at"): now,
                            Contact.status_reason: IMPORTED_OPT_OUT,
                            Contact.updated_at: now,
                        }
                    )
                )
                opted_out[status] = int(cast(CursorResult[Any], changed).rowcount)
        return len(new_contacts), len(accepted) - len(new_contacts), opted_out

    # --- CSV export ----------------------------------------------------------------------

    def export_csv(
        self,
        target: ExportTarget,
        text: str = "",
        *,
        list_name: str | None = None,
        status: str | None = None,
        segment: Segment | None = None,
        progress: BulkProgress | None = None,
        cancel: CancelFlag | None = None,
    ) -> ExportReport:
        """Write the contacts `search` would list with the same filters to a CSV file.

        Columns: `EXPORT_COLUMNS` (status as stored: subscribed, unsubscribed, bounced; the
        lists joined by `LIST_SEPARATOR`), then one column per custom field that any of
        these contacts has, by name; an empty cell for a field a contact lacks. The file
        reads back through `import_csv` to the same addresses, names, custom fields and
        opt-outs (`csv_import` takes "unsubscribed"/"bounced" from the status column, never
        re-subscribes, leaves the "lists" column out, and undoes the quote that keeps a
        cell from running as a formula).

        Format: UTF-8 with a byte-order mark, commas, CRLF line ends, cells quoted only
        when needed (RFC 4180). The BOM is what makes Excel (Windows and Mac) read the
        file as UTF-8 when it is opened by double-click; without it Excel takes the
        system's ANSI code page and "Zoë" shows as "ZoÃ«". LibreOffice and the app's own
        import recognise the BOM too. No ``sep=`` line: with one, Excel ignores the BOM.
        A cell starting with = + - @ tab or CR gets a leading apostrophe (OWASP CSV
        injection: `runs.spreadsheet_safe`).

        Streams: `EXPORT_PAGE` contacts per read, keyset by email (the search's order),
        each page its own short read. `progress(written, total)` follows each page;
        `cancel.is_set()` is read before each. A path is written to a temporary file
        beside it and renamed into place at the end: a cancelled or failed export leaves
        no file (and an older file of that name as it was). A stream is written as it
        goes and left open. Raises ValidationError("status") for an unknown status and
        ValidationError("file") when the file cannot be written.
        """
        if status is not None:
            _status(status)
        if isinstance(target, str | os.PathLike):
            return self._export_to_path(
                Path(target), text, list_name, status, segment, progress, cancel
            )
        writer = io.TextIOWrapper(target, encoding="utf-8-sig", newline="", write_through=True)
        try:
            return self._export_rows(writer, text, list_name, status, segment, progress, cancel)
        finally:
            writer.flush()
            writer.detach()  # the caller's stream stays open

    def _export_to_path(  # noqa: PLR0917  (the arguments of `export_csv`)
        self,
        path: Path,
        text: str,
        list_name: str | None,
        status: str | None,
        segment: Segment | None,
        progress: BulkProgress | None,
        cancel: CancelFlag | None,
    ) -> ExportReport:
        try:
            handle, temporary = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.stem}-", suffix=".part"
            )
        except OSError as exc:
            raise _unwritable(path, exc) from None
        done = False
        try:
            with open(handle, "w", encoding="utf-8-sig", newline="") as writer:
                report = self._export_rows(
                    writer, text, list_name, status, segment, progress, cancel
                )
            if not report.cancelled:
                os.replace(temporary, path)
                done = True
            return report
        except OSError as exc:
            raise _unwritable(path, exc) from None
        finally:
            if not done:
                Path(temporary).unlink(missing_ok=True)

    def _export_rows(  # noqa: PLR0917  (the arguments of `export_csv`)
        self,
        writer: io.TextIOBase | Any,
        text: str,
        list_name: str | None,
        status: str | None,
        segment: Segment | None,
        progress: BulkProgress | None,
        cancel: CancelFlag | None,
    ) -> ExportReport:
        with self._db.read() as session:
            conditions = _contact_filters(session, text, list_name, status, segment)
            total = session.scalar(select(func.count()).select_from(Contact).where(*conditions))
            keys = queries.attribute_keys(session, *conditions)
        columns = (*EXPORT_COLUMNS, *keys)
        rows = csv.writer(writer)
        rows.writerow(columns)
        written = 0
        after: str | None = None
        while True:
            if cancel is not None and cancel.is_set():
                return ExportReport(written, columns, cancelled=True)
            with self._db.read() as session:
                page = _export_page(session, conditions, after)
            if not page:
                break
            rows.writerows(sharing_the_gil(_export_cells(contact, keys) for contact in page))
            written += len(page)
            after = page[-1].email
            if progress is not None:
                progress(written, max(total or 0, written))
        return ExportReport(written, columns)


# --- bulk helpers ------------------------------------------------------------------------

# Which contacts a status change applies to (the rules of `ContactService._set_status`).
_STATUS_CHANGE_FROM: dict[ContactStatus, tuple[ColumnElement[bool], ...]] = {
    ContactStatus.UNSUBSCRIBED: (Contact.status != ContactStatus.UNSUBSCRIBED.value,),
    ContactStatus.SUBSCRIBED: (Contact.status != ContactStatus.SUBSCRIBED.value,),
    ContactStatus.BOUNCED: (Contact.status == ContactStatus.SUBSCRIBED.value,),
}


def _ids_parameter() -> BindParameter[Any]:
    # Bound as one expanding parameter, not literal lists: SQLAlchemy's statement cache
    # would otherwise keep a compiled statement per chunk length and its ids alive.
    return bindparam("ids", expanding=True)


def _ids(ids: Sequence[int]) -> dict[str, list[int]]:
    return {"ids": list(ids)}


def _rows_matched(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


# --- export helpers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ExportedContact:
    email: str
    first_name: str
    last_name: str
    status: str
    attributes: dict[str, Any]
    lists: tuple[str, ...]


def _export_page(
    session: Session, conditions: Sequence[ColumnElement[bool]], after: str | None
) -> list[_ExportedContact]:
    """The next `EXPORT_PAGE` contacts meeting `conditions` (the export's filters, made
    once) after the address `after`, by email."""
    query = select(
        Contact.id,
        Contact.email,
        Contact.first_name,
        Contact.last_name,
        Contact.status,
        Contact.attributes,
    ).where(*conditions)
    if after is not None:
        query = query.where(Contact.email > after)
    found = session.execute(query.order_by(Contact.email).limit(EXPORT_PAGE)).all()
    names: dict[int, list[str]] = {row.id: [] for row in found}
    for chunk in queries.in_chunks(list(names)):
        memberships = session.execute(
            select(list_membership.c.contact_id, ContactList.name)
            .join(ContactList, ContactList.id == list_membership.c.list_id)
            .where(list_membership.c.contact_id.in_(_ids_parameter()))
            .order_by(ContactList.name),
            _ids(chunk),
        )
        for contact_id, name in memberships:
            names[contact_id].append(name)
    return [
        _ExportedContact(
            email=row.email,
            first_name=row.first_name,
            last_name=row.last_name,
            status=str(ContactStatus(row.status).value),
            attributes=row.attributes if isinstance(row.attributes, dict) else {},
            lists=tuple(names[row.id]),
        )
        for row in found
    ]


def _export_cells(contact: _ExportedContact, keys: Sequence[str]) -> list[str]:
    values = [
        contact.email,
        contact.first_name,
        contact.last_name,
        contact.status,
        LIST_SEPARATOR.join(contact.lists),
        *(_cell_text(contact.attributes.get(key)) for key in keys),
    ]
    return [spreadsheet_safe(value) for value in values]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # JSON's spelling, as a template shows it
        return "true" if value else "false"
    return str(value)


def _unwritable(path: Path, error: OSError) -> ValidationError:
    reason = error.strerror or str(error)
    return ValidationError("file", f"“{path.name}” could not be saved in {path.parent}: {reason}.")


# --- import helpers ----------------------------------------------------------------------


@dataclass
class _BatchResult:
    created: int = 0
    updated: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    opted_out: Counter[ContactStatus] = field(default_factory=Counter)
    """Subscribed contacts the status column made unsubscribed or bounced."""
    status_refused: int = 0
    """Rows skipped for their status word (`csv_import.read_status`)."""

    @property
    def rows(self) -> int:
        return self.created + self.updated + len(self.skipped)

    def add(self, batch: _BatchResult) -> None:
        self.created += batch.created
        self.updated += batch.updated
        self.skipped.extend(batch.skipped)
        self.opted_out.update(batch.opted_out)
        self.status_refused += batch.status_refused


class _ImportedRows:
    """The file row each address imported so far came from, to name it on a duplicate.

    A private temporary SQLite database rather than a dict: SQLite keeps a small cache in
    memory and the rest in a temporary file it deletes on close, so the memory an import
    needs stays that of one batch however many rows the file has.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)
        # Nothing here outlives the import: no journal, no waiting for the disk.
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE imported (email TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID"
        )

    def rows_of(self, emails: Sequence[str]) -> dict[str, int]:
        if not emails:
            return {}
        found = self._db.execute(
            "SELECT email, row FROM imported WHERE email IN (SELECT value FROM json_each(?))",
            (json.dumps(list(emails)),),
        )
        return {str(email): int(row) for email, row in found}

    def add(self, rows: Iterable[tuple[str, int]]) -> None:
        # One statement over a JSON array: a third of what executemany's per-row binding costs.
        self._db.execute(
            "INSERT OR IGNORE INTO imported "
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)",
            (json.dumps(list(rows)),),
        )

    def close(self) -> None:
        self._db.close()


def _row_problem(row: CsvRow) -> str:
    if len(row.first_name) > _NAME_MAX:
        return f"The first name is longer than {_NAME_MAX} characters."
    if len(row.last_name) > _NAME_MAX:
        return f"The last name is longer than {_NAME_MAX} characters."
    if not row.email:
        return "The email address is empty."
    return ""


def _stored_attributes(row: CsvRow) -> dict[str, Any]:
    # An empty cell is stored as null so the column stays a known template variable.
    return {key: value or None for key, value in row.attributes.items()}


def _new_contact(address: str, row: CsvRow, now: datetime) -> dict[str, Any]:
    return {
        "email": address,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "attributes": _stored_attributes(row),
        "status": ContactStatus.SUBSCRIBED.value,
        "unsubscribed_at": None,
        "created_at": now,
        "updated_at": now,
    }


def _merged_contact(
    current: tuple[int, str, str, dict[str, Any] | None], row: CsvRow, now: datetime
) -> dict[str, Any] | None:
    """The update for an existing contact, or None when the row changes nothing."""
    contact_id, first_name, last_name, attributes = current
    merged = dict(attributes or {})
    for key, value in row.attributes.items():
        if value:
            merged[key] = value
        else:
            merged.setdefault(key, None)
    first = row.first_name or first_name
    last = row.last_name or last_name
    if (first, last, merged) == (first_name, last_name, attributes or {}):
        return None
    return {
        "id": contact_id,
        "first_name": first,
        "last_name": last,
        "attributes": merged,
        "updated_at": now,
    }


# The import's statements on the SQLite file (`ContactService._write_batch_raw`), with the
# values converted by the columns' own SQLAlchemy types, as the Core path stores them.
_SQLITE = sqlite.dialect()
_SQLITE_TIME: Callable[[datetime], str] = Contact.__table__.c.created_at.type.dialect_impl(
    _SQLITE
).bind_processor(_SQLITE)  # type: ignore[assignment]  # a processor exists for DateTime
_SQLITE_JSON: Callable[[dict[str, Any]], str] = Contact.__table__.c.attributes.type.dialect_impl(
    _SQLITE
).bind_processor(_SQLITE)  # type: ignore[assignment]  # and for JSON
_SQLITE_FIND_CONTACTS = (
    "SELECT id, email, first_name, last_name, attributes FROM contact "
    "WHERE email IN (SELECT value FROM json_each(?))"
)
# One array [email, first name, last name, {attributes}] per new contact, in file order.
_SQLITE_INSERT_CONTACTS = f"""
    INSERT INTO contact (email, first_name, last_name, attributes, status, created_at,
        updated_at)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
        json_extract(value, '$[2]'), json_extract(value, '$[3]'),
        '{ContactStatus.SUBSCRIBED.value}', ?2, ?2
    FROM json_each(?1) ORDER BY key
"""
_SQLITE_UPDATE_CONTACT = (
    "UPDATE contact SET first_name = ?, last_name = ?, attributes = ?, updated_at = ? WHERE id = ?"
)
# A status column's opt-outs (`csv_import.STATUS`): only a subscribed contact changes.
_SQLITE_OPT_OUT = {
    status: (
        f"UPDATE contact SET status = '{status}', {status}_at = ?, status_reason = ?, "
        "updated_at = ? WHERE status = 'subscribed' "
        "AND email IN (SELECT value FROM json_each(?))"
    )
    for status in (ContactStatus.UNSUBSCRIBED, ContactStatus.BOUNCED)
}
_SQLITE_ADD_MEMBERS = (
    "INSERT OR IGNORE INTO list_membership (list_id, contact_id) "
    "SELECT ?, id FROM contact WHERE email IN (SELECT value FROM json_each(?))"
)


#: Why an import made a contact unsubscribed or bounced (the contact's tooltip shows it).
IMPORTED_OPT_OUT = "Marked so by an imported file's status column."


def _first_rows(
    batch: Sequence[CsvRow], result: _BatchResult
) -> tuple[dict[str, CsvRow], dict[str, int], list[tuple[int, str]]]:
    """The batch's rows sorted out: (normalised address → its first row, with a later
    repeat's opt-out taken over; address → the first row whose status was refused; the
    rows skipped with why). Counts the refused statuses into `result`."""
    accepted: dict[str, CsvRow] = {}
    unreadable: dict[str, int] = {}
    skipped: list[tuple[int, str]] = []
    for row in sharing_the_gil(batch):
        reason = row.problem or _row_problem(row)
        address = ""
        if not reason or row.status_refused:
            try:
                address = normalize_email(row.email)
            except ValidationError as exc:
                reason = reason or exc.message
        if reason:
            if row.status_refused and address:
                unreadable.setdefault(address, row.row)
            skipped.append((row.row, reason))
            result.status_refused += row.status_refused
            continue
        first = accepted.get(address)
        if first is None:
            accepted[address] = row
        elif row.opted_out and not first.opted_out:
            accepted[address] = first._replace(opted_out=row.opted_out)
            skipped.append((row.row, _repeat_opting_out(first.row, row.opted_out)))
        else:
            skipped.append((row.row, f"Same email as row {first.row}"))
    return accepted, unreadable, skipped


def _opted_out(
    accepted: Mapping[str, CsvRow], late: Mapping[str, str]
) -> dict[ContactStatus, list[str]]:
    """The batch's addresses whose status column took consent away, by status: its
    accepted rows' and `late` ones (address → status) of contacts an earlier batch made."""
    found: dict[ContactStatus, list[str]] = {}
    for address, row in accepted.items():
        if row.opted_out:
            found.setdefault(ContactStatus(row.opted_out), []).append(address)
    for address, status in late.items():
        found.setdefault(ContactStatus(status), []).append(address)
    return found


def _repeat_opting_out(first_row: int, status: str) -> str:
    return (
        f"Same email as row {first_row}: the contact is imported once, and this row's "
        f"status ({status}) still applies to it."
    )


def _held_back(refused_row: int) -> str:
    return (
        f"Not imported: row {refused_row} has the same email with a status the app cannot "
        "read (it may mean the person opted out)."
    )


def _sqlite_list_id(raw: sqlite3.Connection, name: str, stamp: str) -> int:
    """`ContactService._list_id` on the raw connection: the list's id (found ignoring case,
    as `queries.named_ids` does), created if missing."""
    exact = raw.execute("SELECT id FROM contact_list WHERE name = ?", (name,)).fetchone()
    if exact is not None:
        return int(exact[0])
    rows = raw.execute("SELECT id, name FROM contact_list ORDER BY id").fetchall()
    found = find_named(((int(row[0]), str(row[1])) for row in rows), name)
    if found is not None:
        return found
    cursor = raw.execute(
        "INSERT INTO contact_list (name, description, created_at) VALUES (?, '', ?)",
        (name, stamp),
    )
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


# --- queries and views -------------------------------------------------------------------


def _load_contact(session: Session, contact_id: int) -> Contact:
    return queries.load(session, Contact, contact_id, "Contact")


def refuse_while_in_use(field: str, name: str, users: Sequence[str]) -> None:
    """Raise ValidationError(`field`) naming the campaigns `users` that send to `name` (a
    list or a saved segment): deleting it would shrink their audience behind the
    marketer's back. Nothing when no campaign uses it."""
    if not users:
        return
    noun, which = ("campaign", "that campaign")
    if len(users) > 1:
        noun, which = ("campaigns", "those campaigns")
    raise ValidationError(
        field,
        f"“{name}” is the audience of {noun} {_and_list(users)}. Remove it from {which} first.",
    )


def _load_list(session: Session, list_id: int) -> ContactList:
    return queries.load(session, ContactList, list_id, "Contact list")


def _campaigns_using(session: Session, list_id: int) -> tuple[str, ...]:
    """The names of the campaigns (archived ones too) whose audience includes the list."""
    return tuple(
        session.scalars(
            select(Campaign.name)
            .join(campaign_audience, campaign_audience.c.campaign_id == Campaign.id)
            .where(campaign_audience.c.list_id == list_id)
            .order_by(Campaign.name)
        )
    )


def _as_spelled(session: Session, name: str) -> str:
    """`name` as the list it names spells it ("vip" → "VIP"), or `name` itself when no list
    is called that yet."""
    list_id = queries.named_ids(session, ContactList, [name]).get(name)
    return name if list_id is None else session.get_one(ContactList, list_id).name


def _list_id_named(session: Session, name: str) -> int:
    list_id = queries.named_ids(session, ContactList, [name]).get(name)
    if list_id is None:
        raise ValidationError("list_name", f"There is no contact list called “{name}”.")
    return list_id


def _existing_among(session: Session, contact_ids: Sequence[int]) -> int:
    """How many of `contact_ids` (at most `IN_LIMIT`) are still contacts."""
    query = select(func.count()).select_from(Contact).where(Contact.id.in_(_ids_parameter()))
    return session.scalar(query, _ids(contact_ids)) or 0


def _members_among(session: Session, list_id: int, contact_ids: Sequence[int]) -> int:
    """How many of `contact_ids` are members of the list."""
    members = 0
    for chunk in queries.in_chunks(contact_ids):
        query = select(func.count()).where(
            list_membership.c.list_id == list_id, list_membership.c.contact_id.in_(chunk)
        )
        members += session.scalar(query) or 0
    return members


def _contact_views(session: Session, contacts: Sequence[Contact]) -> list[ContactView]:
    names: dict[int, list[str]] = {contact.id: [] for contact in contacts}
    for chunk in queries.in_chunks(list(names)):
        rows = session.execute(
            select(list_membership.c.contact_id, ContactList.name)
            .join(ContactList, ContactList.id == list_membership.c.list_id)
            .where(list_membership.c.contact_id.in_(chunk))
            .order_by(ContactList.name)
        )
        for contact_id, name in rows:
            names[contact_id].append(name)
    return [
        ContactView(
            id=contact.id,
            email=contact.email,
            first_name=contact.first_name,
            last_name=contact.last_name,
            attributes=dict(contact.attributes or {}),
            status=contact.status,
            unsubscribed_at=contact.unsubscribed_at,
            lists=tuple(names[contact.id]),
            created_at=contact.created_at,
            updated_at=contact.updated_at,
            status_reason=contact.status_reason,
            bounced_at=contact.bounced_at,
        )
        for contact in contacts
    ]


def _list_views(session: Session, list_id: int | None = None) -> list[ContactListView]:
    query = (
        select(
            ContactList.id,
            ContactList.name,
            ContactList.description,
            func.count(Contact.id),
            func.count(Contact.id).filter(Contact.status == ContactStatus.SUBSCRIBED.value),
        )
        .outerjoin(list_membership, list_membership.c.list_id == ContactList.id)
        .outerjoin(Contact, Contact.id == list_membership.c.contact_id)
        .group_by(ContactList.id)
    )
    if list_id is not None:
        query = query.where(ContactList.id == list_id)
    views = [
        ContactListView(
            id=item_id,
            name=name,
            description=description,
            member_count=members,
            subscribed_count=subscribed,
        )
        for item_id, name, description, members, subscribed in session.execute(query)
    ]
    return sorted(views, key=lambda view: (view.name.casefold(), view.name))


#: Contacts walked in email order, from where a page starts, before a search asks the
#: full-text index (`_page_near_the_start`).
NEAR_THE_START = 1000


def _page_near_the_start(  # noqa: PLR0917  (search's filters and start, passed on)
    session: Session,
    text: str,
    list_name: str | None,
    status: str | None,
    segment: Segment | None,
    after_email: str | None,
    limit: int,
) -> list[Contact] | None:
    """The page, if the first `NEAR_THE_START` contacts from where it starts (in email
    order) hold `limit` matches; None otherwise (the caller asks the index).

    A text that nearly everyone contains ("example.com") costs the SQLite trigram index
    the most: each of its trigrams lists every contact, and the page must sort them all
    by email (5.4 s at a million; docs/performance.md, issue 16). Walking the email index
    and testing each contact stops after a page's worth. The answer is the same: those
    contacts are the first in email order, so the first `limit` matches among them are
    the first `limit` of all. Only for ASCII text, where LIKE and the trigram index fold
    case alike; on PostgreSQL the planner already chooses between the trigram index and
    a walk of the email index.
    """
    needle = (text or "").strip()
    if not needle.isascii() or not queries.text_uses_search_index(session, needle):
        return None
    window = select(Contact.id).order_by(Contact.email).limit(NEAR_THE_START)
    if after_email is not None:
        window = window.where(Contact.email > after_email)
    conditions = _contact_filters(session, "", list_name, status, segment)
    matching = contains_ignoring_case(
        [Contact.email.expression, queries.contact_name_text()], needle
    )
    found = session.scalars(
        select(Contact)
        .where(Contact.id.in_(window), matching, *conditions)
        .order_by(Contact.email)
        .limit(limit)
    ).all()
    return list(found) if len(found) == limit else None


def _contact_filters(
    session: Session,
    text: str,
    list_name: str | None,
    status: str | None,
    segment: Segment | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if segment is not None:
        conditions.append(segment_sql(segment))
    if status is not None:
        conditions.append(Contact.status == _status(status))
    if list_name is not None:
        # An unknown list shows no contacts: no list has id 0.
        list_id = queries.named_ids(session, ContactList, [list_name]).get(list_name, 0)
        conditions.append(
            exists().where(
                list_membership.c.list_id == list_id,
                list_membership.c.contact_id == Contact.id,
            )
        )
    needle = (text or "").strip()
    if needle:
        conditions.append(queries.contact_text_filter(session, needle))
    return conditions


# --- validation --------------------------------------------------------------------------


def _status(value: str) -> str:
    try:
        return ContactStatus(value).value
    except ValueError:
        raise ValidationError(
            "status",
            f"“{value}” is not a contact status: choose subscribed, unsubscribed or bounced.",
        ) from None


def _person_name(value: object, field_name: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(field_name, "Names must be text.")
    text = value.strip()
    if len(text) > _NAME_MAX:
        raise ValidationError(field_name, f"Keep names under {_NAME_MAX} characters.")
    return text


def _list_name(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field_name, "Give the contact list a name.")
    text = value.strip()
    if len(text) > _NAME_MAX:
        raise ValidationError(field_name, f"Keep list names under {_NAME_MAX} characters.")
    return text


def _list_names(values: Iterable[str], field_name: str) -> list[str]:
    if isinstance(values, str):
        values = (values,)
    # "VIP" and "vip" are one list (docs/design.md §21): the first spelling is kept.
    chosen: dict[str, str] = {}
    for value in values:
        name = _list_name(value, field_name)
        chosen.setdefault(name_key(name), name)
    return list(chosen.values())


def _chosen_ids(contact_ids: Iterable[int], message: str) -> list[int]:
    ids = list(dict.fromkeys(contact_ids))
    if not ids:
        raise ValidationError("contacts", message)
    if not all(isinstance(contact_id, int) for contact_id in ids):
        raise ValueError(f"contact ids must be integers, got {ids[:5]!r}")
    return ids


def _description(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("description", "The description must be text.")
    return value.strip()


def _clean_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(attributes, Mapping):
        raise ValidationError("attributes", "Attributes must be names with values.")
    cleaned: dict[str, Any] = {}
    for key, value in attributes.items():
        check_attribute_key(key, "attributes")
        if not isinstance(value, _ATTRIBUTE_VALUE_TYPES):
            raise ValidationError(
                "attributes", f"The attribute “{key}” must be text, a number or empty."
            )
        cleaned[key] = value.strip() if isinstance(value, str) else value
    return cleaned


def _refuse_taken_list_name(session: Session, name: str, *, other_than: int | None = None) -> None:
    """ValidationError("name") when another list has `name`, ignoring case (docs/design.md
    §21); the message names that list as it is spelled."""
    taken = queries.name_taken(session, ContactList, name, other_than=other_than)
    if taken is not None:
        raise ValidationError("name", f"A list named “{taken}” already exists.")


def _and_list(names: Sequence[str]) -> str:
    quoted = [f"“{name}”" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
