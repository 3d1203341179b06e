"""Streaming CSV reading for contact imports: encoding, delimiter, column mapping, rows.

No database here: `ContactCsv` hands out cleaned rows in batches; `ContactService` writes them.

Decisions, recorded here because the design leaves them open:

- The file is never read whole. Encoding detection streams over it once in binary chunks
  (UTF-8 validated by an incremental decoder; a UTF-8 BOM means ``utf-8-sig``; a UTF-16 BOM,
  as Excel's "Unicode text" writes, means ``utf-16``; otherwise ``cp1252``, or ``latin-1``
  when the file holds bytes cp1252 leaves undefined), then rows are parsed in a second pass.
- The delimiter (comma, semicolon or tab) is sniffed from the start of the file; when the
  sniffer cannot tell, the candidate seen most often in the header line wins, else comma.
  A first line ``sep=;`` (any single character after ``sep=``, as files made for Excel
  carry) names the delimiter instead and is skipped, as Excel does: it is not data and not
  a numbered row (Excel does not show it), so the header after it is still row 1.
- Row numbers are the ones a spreadsheet shows: the header is row 1 (or a later row when
  blank lines come first), the first data row is row 2, blank lines count as rows (they
  are rows in a spreadsheet too) but are otherwise ignored, and a quoted cell spanning
  several lines is still one row.
- Headers map case-, space-, underscore- and hyphen-insensitively to the contact's email,
  first name and last name; every other column becomes an attribute whose key is the
  header in lower snake_case ASCII ("Company Name" → ``company_name``, "Société" →
  ``societe``). A header that cannot become a template variable (no letters, starts with a
  digit, names a built-in variable such as ``full_name``, or is a template keyword) is
  ignored, and `ColumnPlan.ignored` says why so the import dialog can show it.
- An explicit mapping (header → ``email`` | ``first_name`` | ``last_name`` | ``ignore`` |
  ``attr:<key>``) wins for the headers it names; the others are mapped automatically.
  When two columns would fill the same target automatically, the first keeps it; when an
  explicit mapping does that, it is a `ValidationError`. A repeated header is ignored.
- A "status" column (what the app's own export writes) maps to `STATUS`, which only ever
  takes consent away: a row saying "unsubscribed" or "bounced" — or another tool's word for
  it (`STATUS_WORDS`: "opted out", "cleaned", "complained", … in any case, spacing or
  hyphenation) — makes its contact so (new or existing); "subscribed" or an empty cell
  changes nothing, so a file never re-subscribes anyone (consent is not re-given by a
  file). A word meaning "never opted in" ("pending", "transactional") or a word the app
  does not know ("yes", "maybe") refuses the row, with a reason naming the word: imported
  as subscribed, it could be mailed against the wish the other tool recorded
  (docs/design.md §17). `check_status` reads a whole file's status column the same way, so
  the import dialog shows what it will do before the import runs.
- The "lists" column is left out by the automatic mapping, with the reason: the contacts go
  to the list chosen for the import. An explicit mapping can still take it as an attribute.
- A cell starting with an apostrophe followed by = + - @ tab or CR loses the apostrophe:
  it is the quote that keeps a spreadsheet from running the cell as a formula, which the
  export adds (`runs.spreadsheet_safe`) and spreadsheets do not show.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, NamedTuple, TypeVar

from campaign_desktop.domain.errors import ValidationError

CsvSource = str | os.PathLike[str] | BinaryIO
"""A path, or an open binary file object that can seek (the caller keeps it open)."""

#: A pure-Python loop on a worker thread (reading or checking rows) calls `time.sleep(0)`
#: once this many seconds have passed since its last one. Without it the worker keeps the
#: GIL for 90-130 ms at a time while the GUI thread waits for it (whatever the switch
#: interval): the window stalls. A sleep(0) releases the GIL at once. By time, not by row
#: count (every 200 rows before issue 16): on a loaded machine each sleep(0) can give the
#: CPU away for milliseconds, which at a million rows cost more than the import's own work.
YIELD_EVERY_SECONDS = 0.005
_CLOCK_EVERY_ROWS = 32  # reading the clock costs ~50 ns; every row would still show

_T = TypeVar("_T")


def sharing_the_gil(items: Iterable[_T]) -> Iterator[_T]:
    """`items`, with a `time.sleep(0)` every `YIELD_EVERY_SECONDS`: wrap the rows of a
    pure-Python loop that runs on a worker thread, so the GUI thread gets the GIL."""
    clock = time.perf_counter
    next_yield = clock() + YIELD_EVERY_SECONDS
    for number, item in enumerate(items, 1):
        if number % _CLOCK_EVERY_ROWS == 0 and clock() >= next_yield:
            time.sleep(0)
            next_yield = clock() + YIELD_EVERY_SECONDS
        yield item


EMAIL = "email"
FIRST_NAME = "first_name"
LAST_NAME = "last_name"
STATUS = "status"
IGNORE = "ignore"
ATTRIBUTE_PREFIX = "attr:"
FIELDS = (EMAIL, FIRST_NAME, LAST_NAME, STATUS)
#: The statuses a `STATUS` column can give (it never re-subscribes anyone).
OPTED_OUT = frozenset({"unsubscribed", "bounced"})
#: What a status word means that is neither a contact status nor unknown: the person never
#: opted in to marketing email, so the row is refused (docs/design.md §17).
NOT_OPTED_IN = "not opted in"
#: The words a `STATUS` cell may hold, by meaning, as the app's export and other tools
#: (Mailchimp, Brevo, Klaviyo, …) write them. Read ignoring case, spaces, hyphens and
#: underscores ("Opt-Out", "opted_out" and "OPTED OUT" are one word). "subscribed" words
#: change nothing; an empty cell neither. Sources and reasons: docs/design.md §17.
STATUS_WORDS: Mapping[str, tuple[str, ...]] = {
    "subscribed": ("subscribed", "active", "opted in", "opt-in"),
    "unsubscribed": (
        "unsubscribed",
        "unsubscribe",
        "unsub",
        "opted out",
        "opt-out",
        "optout",
        "complained",
        "complaint",
        "spam",
        "spam complaint",
        "abuse",
        "blocklisted",
        "blacklisted",
        "suppressed",
    ),
    "bounced": ("bounced", "bounce", "hard bounce", "hard bounced", "cleaned", "held"),
    NOT_OPTED_IN: (
        "pending",
        "transactional",
        "non-subscribed",
        "not subscribed",
        "never subscribed",
    ),
}
#: The accepted words, as a refused row's reason lists them.
ACCEPTED_STATUSES = (
    "subscribed, unsubscribed, bounced, or an empty cell (also understood: "
    + ", ".join(
        word
        for meaning in ("unsubscribed", "bounced", "subscribed")
        for word in STATUS_WORDS[meaning][1:]
    )
    + ")"
)
_STATUS_VALUE_SHOWN = 40  # characters of an unknown status a reason quotes
_CANCEL_EVERY_ROWS = 2048  # how often `check_status` looks at its cancel flag
#: How many different refused words `check_status` names.
REFUSED_WORDS_KEPT = 20

# Small enough that a detection pass keeps little in memory, big enough to be quick.
_DETECT_CHUNK = 64 * 1024
_SNIFF_BYTES = 32 * 1024
# csv.Sniffer's regular expressions get slow on long samples; a few lines decide it.
_SNIFF_LINES = 30
_DELIMITERS = ",;\t"
_UNDEFINED_IN_CP1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
# Excel's delimiter line; quoted, or followed by empty cells, when a spreadsheet saved it.
_SEP_LINE = re.compile(r'"?sep=([^\r\n"])"?(?:\1)*[ \t]*', re.IGNORECASE)
_LINE_END = re.compile(r"\r\n|\r|\n")

_HEADER_NOISE = re.compile(r"[\s_\-]+")
_FIELD_ALIASES = {
    "status": STATUS,
    # Other tools' names for the same column (a try-out's "Subscription status" became a
    # custom field, and its opt-outs were imported as subscribed contacts).
    "subscriptionstatus": STATUS,
    "emailsubscriptionstatus": STATUS,
    "emailstatus": STATUS,
    "contactstatus": STATUS,
    "memberstatus": STATUS,
    "marketingstatus": STATUS,
    "emailmarketingstatus": STATUS,
    "optinstatus": STATUS,
    "consentstatus": STATUS,
    "email": EMAIL,
    "emailaddress": EMAIL,
    "mail": EMAIL,
    "firstname": FIRST_NAME,
    "givenname": FIRST_NAME,
    "first": FIRST_NAME,
    "lastname": LAST_NAME,
    "surname": LAST_NAME,
    "familyname": LAST_NAME,
    "last": LAST_NAME,
}
_STATUS_MEANINGS = {
    _HEADER_NOISE.sub("", word.casefold()): meaning
    for meaning, words in STATUS_WORDS.items()
    for word in words
}
_NOT_KEY_CHARS = re.compile(r"[^0-9a-z]+")
_KEY = re.compile(r"[a-z][a-z0-9_]*")
# Names Jinja reads as constants or operators ({{ true }}, {{ not }}) or binds itself.
_TEMPLATE_WORDS = frozenset({"true", "false", "none", "not", "self"})
# The export's columns that are no contact field an import fills (see the module docstring).
_NOT_IMPORTED = {
    "lists": "The contacts go into the list chosen for this import.",
}
# What `runs.spreadsheet_safe` quotes with an apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --- attribute keys ----------------------------------------------------------------------


def normalize_attribute_key(text: str) -> str:
    """`text` as a lower snake_case ASCII name ("Company Name" → "company_name").

    The result may still be unusable (empty, starting with a digit): see `attribute_key_problem`.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_KEY_CHARS.sub("_", ascii_text.lower()).strip("_")


def attribute_key_problem(key: str) -> str | None:
    """Why `key` cannot name a contact attribute (in plain words), or None when it can.

    Attributes are template variables (``{{ key }}``), so the key must read as one there.
    """
    if not key:
        return "it needs at least one letter a-z."
    if not key[0].isascii() or not key[0].isalpha():
        return "it must start with a letter a-z."
    if not _KEY.fullmatch(key):
        return "use only lower-case letters a-z, digits and “_”."
    # Here, not at the top: domain.templates brings Jinja2, which the first paint (and an
    # import, which asks this once per column) need not load with this module (issue 16).
    from campaign_desktop.domain.templates import BUILTIN_VARIABLES  # noqa: PLC0415

    if key in BUILTIN_VARIABLES:
        return f"{{{{ {key} }}}} is a built-in template variable."
    if key in _TEMPLATE_WORDS:
        return f"templates read “{key}” as a keyword."
    return None


def check_attribute_key(key: object, field: str = "attributes") -> str:
    """Return `key` if it can name a contact attribute, else raise ValidationError(field)."""
    if not isinstance(key, str):
        raise ValidationError(field, "Attribute names must be text.")
    problem = attribute_key_problem(key)
    if problem is not None:
        raise ValidationError(field, f"“{key}” cannot be an attribute name: {problem}")
    return key


# --- column mapping ----------------------------------------------------------------------


def describe_target(target: str) -> str:
    """A target in plain words, e.g. "the email address" or "the attribute “company”"."""
    if target == EMAIL:
        return "the email address"
    if target == FIRST_NAME:
        return "the first name"
    if target == LAST_NAME:
        return "the last name"
    if target == STATUS:
        return "the status"
    if target.startswith(ATTRIBUTE_PREFIX):
        return f"the attribute “{target.removeprefix(ATTRIBUTE_PREFIX)}”"
    return "nothing"


def auto_target(header: str) -> tuple[str, str]:
    """The target a header maps to by itself, and why it is ignored ("" when it is not)."""
    field = _FIELD_ALIASES.get(_HEADER_NOISE.sub("", header.casefold()))
    if field is not None:
        return field, ""
    not_imported = _NOT_IMPORTED.get(_HEADER_NOISE.sub("", header.casefold()))
    if not_imported is not None:
        return IGNORE, not_imported
    if not header.strip():
        return IGNORE, "The column has no name."
    key = normalize_attribute_key(header)
    problem = attribute_key_problem(key)
    if problem is not None:
        return IGNORE, f"It cannot become a template variable: {problem}"
    return ATTRIBUTE_PREFIX + key, ""


def _check_target(header: str, target: object) -> str:
    if not isinstance(target, str):
        raise ValidationError("mapping", f"Choose what the column “{header}” holds.")
    if target in (*FIELDS, IGNORE):
        return target
    if target.startswith(ATTRIBUTE_PREFIX):
        check_attribute_key(target.removeprefix(ATTRIBUTE_PREFIX), "mapping")
        return target
    raise ValidationError(
        "mapping",
        f"“{target}” is not something the column “{header}” can be imported as. Choose "
        "email, first_name, last_name, status, ignore or attr:<name>.",
    )


@dataclass(frozen=True)
class ColumnPlan:
    """What each column of the file becomes: one target per column, in column order."""

    headers: tuple[str, ...]
    targets: tuple[str, ...]
    ignored: tuple[tuple[str, str], ...]
    """(header, reason) for each column ignored without being told to."""

    @property
    def mapping(self) -> dict[str, str]:
        """Header → target, for the first column of each name (what `mapping=` accepts)."""
        result: dict[str, str] = {}
        for header, target in zip(self.headers, self.targets, strict=True):
            result.setdefault(header, target)
        return result

    def index_of(self, target: str) -> int | None:
        return self.targets.index(target) if target in self.targets else None

    @property
    def attribute_columns(self) -> tuple[tuple[int, str], ...]:
        """(column index, attribute key) for every column imported as an attribute."""
        return tuple(
            (index, target.removeprefix(ATTRIBUTE_PREFIX))
            for index, target in enumerate(self.targets)
            if target.startswith(ATTRIBUTE_PREFIX)
        )


def plan_columns(headers: Sequence[str], mapping: Mapping[str, str] | None = None) -> ColumnPlan:
    """Map every column: `mapping` first (validated), then the automatic rules."""
    overrides = dict(mapping or {})
    for header in overrides:
        if header not in headers:
            raise ValidationError("mapping", f"The file has no column “{header}”.")
    targets: list[str | None] = [None] * len(headers)
    reasons: dict[int, str] = {}
    owner: dict[str, str] = {}  # target → the header that has it
    first_seen: set[str] = set()
    for index, header in enumerate(headers):
        if header in first_seen:
            targets[index] = IGNORE
            reasons[index] = "Another column has the same name."
            continue
        first_seen.add(header)
        if header not in overrides:
            continue
        target = _check_target(header, overrides[header])
        if target != IGNORE and target in owner:
            raise ValidationError(
                "mapping",
                f"The columns “{owner[target]}” and “{header}” are both mapped to "
                f"{describe_target(target)}. Choose one.",
            )
        owner[target] = header
        targets[index] = target
    for index, header in enumerate(headers):
        if targets[index] is not None:
            continue
        target, reason = auto_target(header)
        if target != IGNORE and target in owner:
            reason = f"“{owner[target]}” is already imported as {describe_target(target)}."
            target = IGNORE
        elif target != IGNORE:
            owner[target] = header
        targets[index] = target
        if reason:
            reasons[index] = reason
    return ColumnPlan(
        headers=tuple(headers),
        targets=tuple(target or IGNORE for target in targets),
        ignored=tuple((headers[index], reason) for index, reason in sorted(reasons.items())),
    )


# --- encoding and delimiter --------------------------------------------------------------


def detect_encoding(stream: BinaryIO) -> str:
    """The encoding of the rest of `stream`, read in chunks; the position is restored.

    UTF-8 when every byte decodes as UTF-8 (``utf-8-sig`` with a BOM), ``utf-16`` with a
    UTF-16 BOM, else cp1252 (what Excel writes on Western Windows), else latin-1, which
    decodes any byte, when the file holds bytes cp1252 leaves undefined.
    """
    start = stream.tell()
    decoder = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = True
    is_cp1252 = True
    has_bom = False
    first = True
    try:
        while chunk := stream.read(_DETECT_CHUNK):
            if first:
                if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    return "utf-16"
                has_bom = chunk.startswith(codecs.BOM_UTF8)
                first = False
            # Bytes 0x81… are also UTF-8 continuation bytes: note them on every chunk, in
            # case the UTF-8 check fails only further on.
            if is_cp1252 and _UNDEFINED_IN_CP1252.search(chunk):
                is_cp1252 = False
            if is_utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    is_utf8 = False
            if not is_utf8 and not is_cp1252:
                break
        if is_utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                is_utf8 = False
    finally:
        stream.seek(start)
    if is_utf8:
        return "utf-8-sig" if has_bom else "utf-8"
    return "cp1252" if is_cp1252 else "latin-1"


def sniff_delimiter(sample: str) -> str:
    """Comma, semicolon or tab, as the first lines of the file in `sample` suggest."""
    header_line = next((line for line in sample.splitlines() if line.strip()), "")
    counts = {candidate: header_line.count(candidate) for candidate in _DELIMITERS}
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ""
    # The sniffer can be fooled by punctuation inside cells; the header line rarely is.
    if delimiter and (counts[delimiter] or not any(counts.values())):
        return delimiter
    best = max(_DELIMITERS, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


def declared_delimiter(first_line: str) -> str | None:
    """The delimiter a ``sep=;`` line (Excel's convention) declares, or None for any
    other line. `first_line` is the file's first line, decoded, line end included or not."""
    match = _SEP_LINE.fullmatch(first_line.rstrip("\r\n"))
    return match.group(1) if match else None


def _sniff_sample(stream: BinaryIO, encoding: str) -> str:
    start = stream.tell()
    raw = stream.read(_SNIFF_BYTES)
    at_end = not stream.read(1)
    stream.seek(start)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(raw, final=at_end)
    lines = text.splitlines(keepends=True)
    if not at_end and len(lines) > 1:
        lines.pop()  # probably cut in the middle
    return "".join(lines[:_SNIFF_LINES])


# --- reading -----------------------------------------------------------------------------


class CsvRow(NamedTuple):
    """One non-blank data row, cells stripped; `problem` is set when it could not be parsed.

    A named tuple, not a frozen dataclass: made once per row of a million-row file, and a
    frozen dataclass's `__init__` costs twice as much (issue 16)."""

    row: int
    """The row number a spreadsheet shows (the header is row 1)."""
    email: str
    first_name: str
    last_name: str
    attributes: dict[str, str]
    problem: str = ""
    opted_out: str = ""
    """ "unsubscribed" or "bounced" when the row's status column says so (`OPTED_OUT`), else
    "": a status column only ever takes consent away."""
    status_refused: bool = False
    """True when `problem` is the status column's: a word that is no consent to mail."""


@dataclass(frozen=True)
class CsvPreview:
    """The start of a file as the import dialog shows it, with the automatic mapping."""

    encoding: str
    delimiter: str
    headers: tuple[str, ...]
    sample_rows: tuple[tuple[str, ...], ...]
    """The first data rows, each padded or cut to the number of headers."""
    mapping: dict[str, str]
    """Header → email | first_name | last_name | ignore | attr:<key>."""
    ignored: tuple[tuple[str, str], ...]
    """(header, reason) for the columns the automatic mapping leaves out."""


def _display_name(source: CsvSource) -> str:
    if isinstance(source, str | os.PathLike):
        return Path(source).name
    return str(getattr(source, "name", "the file"))


class ContactCsv:
    """A CSV file of contacts opened for reading: encoding, delimiter and header known.

    Use as a context manager. Opening reads the header and validates `mapping`; rows then
    stream out of `rows()` / `batches()`, never more than the current batch in memory.
    A file object passed in stays open; a path is opened and closed here.
    """

    def __init__(
        self,
        source: CsvSource,
        mapping: Mapping[str, str] | None = None,
        *,
        require_email: bool = True,
    ) -> None:
        self._owned = isinstance(source, str | os.PathLike)
        self._text: io.TextIOWrapper | None = None
        if isinstance(source, str | os.PathLike):
            try:
                self._binary: BinaryIO = open(source, "rb")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise ValidationError(
                    "file", f"“{_display_name(source)}” could not be opened: {exc.strerror}."
                ) from None
        else:
            self._binary = source
        try:
            self._start = self._binary.tell()
            self.size = self._binary.seek(0, io.SEEK_END) - self._start
            self._binary.seek(self._start)
            self.encoding = detect_encoding(self._binary)
            sample = _sniff_sample(self._binary, self.encoding)
            declared = declared_delimiter(_LINE_END.split(sample, maxsplit=1)[0])
            self.delimiter = declared or sniff_delimiter(sample)
            self._text = io.TextIOWrapper(self._binary, encoding=self.encoding, newline="")
            if declared:
                self._text.readline()  # the sep= line: neither data nor a numbered row
            self._records = csv.reader(self._text, delimiter=self.delimiter)
            self._row = 0
            self._peeked: CsvRow | None = None
            try:
                header = self._next_cells()
            except csv.Error as exc:
                raise ValidationError(
                    "file", f"The header row (row {self._row}) could not be read: {exc}."
                ) from None
            if header is None:
                raise ValidationError("file", "The file is empty.")
            self.header_row = self._row
            self.plan = plan_columns([cell.strip() for cell in header], mapping)
            if require_email and self.plan.index_of(EMAIL) is None:
                columns = ", ".join(f"“{name}”" for name in self.plan.headers) or "none"
                raise ValidationError(
                    "file",
                    f"No email column found. The columns are: {columns}. Choose which "
                    "column holds the email addresses.",
                )
        except BaseException:
            self.close()
            raise
        # A column the file lacks reads the cell `_to_row` puts after the last header ("").
        self._columns = absent = len(self.plan.headers)

        def index(target: str) -> int:
            found = self.plan.index_of(target)
            return absent if found is None else found

        self._email = index(EMAIL)
        self._first = index(FIRST_NAME)
        self._last = index(LAST_NAME)
        self._status = index(STATUS)
        self._attributes = self.plan.attribute_columns

    def __enter__(self) -> ContactCsv:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._text is not None and not self._owned:
            self._text.detach()  # the caller's file object stays open
        elif self._text is not None:
            self._text.close()
        elif self._owned:
            self._binary.close()
        self._text = None

    @property
    def headers(self) -> tuple[str, ...]:
        return self.plan.headers

    @property
    def fraction_read(self) -> float:
        """How much of the file has been read, from 0.0 to 1.0 (by bytes)."""
        if self.size <= 0:
            return 1.0
        return min(1.0, max(0.0, (self._binary.tell() - self._start) / self.size))

    def has_rows(self) -> bool:
        """True when a non-blank data row follows (it is kept for `rows()`)."""
        if self._peeked is None:
            self._peeked = self._next_row()
        return self._peeked is not None

    def rows(self) -> Iterator[CsvRow]:
        """The non-blank data rows, in file order."""
        while True:
            row = self._peeked if self._peeked is not None else self._next_row()
            self._peeked = None
            if row is None:
                return
            yield row

    def batches(self, size: int) -> Iterator[list[CsvRow]]:
        """`rows()` in lists of at most `size`; each list is read only when asked for."""
        batch: list[CsvRow] = []
        for row in sharing_the_gil(self.rows()):
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def sample(self, rows: int) -> tuple[tuple[str, ...], ...]:
        """The next `rows` non-blank data rows as raw cells, fitted to the header width."""
        width = len(self.plan.headers)
        found: list[tuple[str, ...]] = []
        while len(found) < rows:
            try:
                cells = self._next_cells()
            except csv.Error:
                continue  # the import reports it with its row number; a preview skips it
            if cells is None:
                break
            found.append(tuple((cells + [""] * width)[:width]))
        return tuple(found)

    def status_cells(self) -> Iterator[tuple[int, str]]:
        """(row number, status cell) for each remaining non-blank data row, as `rows()`
        would read it; unreadable rows are left out (the import reports them)."""
        while True:
            try:
                cells = self._next_cells()
            except csv.Error:
                continue
            if cells is None:
                return
            # As `_to_row`: a short row's missing cells and a column the file lacks are "".
            within = self._status < min(len(cells), self._columns)
            yield self._row, cells[self._status] if within else ""

    def _next_cells(self) -> list[str] | None:
        """The next non-blank record's cells, or None at the end; counts rows as it goes."""
        while True:
            self._row += 1
            try:
                cells = next(self._records)
            except StopIteration:
                self._row -= 1
                return None
            if "".join(cells).strip():  # some cell is not blank; a fifth of any(…)'s cost
                return cells

    def _next_row(self) -> CsvRow | None:
        try:
            cells = self._next_cells()
        except csv.Error as exc:
            # The reader starts afresh on the next record, so one bad row costs one row.
            return CsvRow(self._row, "", "", "", {}, f"This row could not be read: {exc}.")
        return None if cells is None else self._to_row(cells)

    def _to_row(self, cells: list[str]) -> CsvRow:
        # Once per row of a million-row file: fitted to the header's width (a short row's
        # missing cells are empty, cells past the last header are not read), then one empty
        # cell for the columns the file lacks; indexed directly.
        if len(cells) != self._columns:
            cells = (cells + [""] * self._columns)[: self._columns]
        cells.append("")
        return CsvRow(
            self._row,
            _cell(cells[self._email]),
            _cell(cells[self._first]),
            _cell(cells[self._last]),
            {key: _cell(cells[index]) for index, key in self._attributes},
            *read_status(cells[self._status]),
        )


@functools.lru_cache(maxsize=256)  # a column holds a few words, read once per row
def read_status(cell: str) -> tuple[str, str, bool]:
    """What a status cell does to its row: ``(problem, opted_out, status_refused)``.

    `opted_out` is "unsubscribed" or "bounced" when the cell takes consent away (any word
    of `STATUS_WORDS` for it), else "". A word meaning "not opted in" or one the app does
    not know refuses the row: `problem` says why, naming the word and `ACCEPTED_STATUSES`,
    and `status_refused` is True. An empty cell or a "subscribed" word gives ("", "", False).
    """
    text = cell.strip()
    if not text:
        return "", "", False
    meaning = _STATUS_MEANINGS.get(_HEADER_NOISE.sub("", text.casefold()))
    if meaning in OPTED_OUT:
        assert meaning is not None
        return "", meaning, False
    if meaning == "subscribed":
        return "", "", False
    shown = text if len(text) <= _STATUS_VALUE_SHOWN else text[:_STATUS_VALUE_SHOWN] + "…"
    if meaning == NOT_OPTED_IN:
        return (
            f"The status “{shown}” means the person has not opted in to marketing email, "
            "so the row was not imported (the app would mail them). Change it to "
            "“subscribed” once they have confirmed, or to “unsubscribed” to keep them "
            "without mailing them.",
            "",
            True,
        )
    return (
        f"The status “{shown}” is not a word the app knows, so the row was not imported "
        "(it may mean the person opted out). Use "
        f"{ACCEPTED_STATUSES}.",
        "",
        True,
    )


def _cell(text: str) -> str:
    """A cell's text, trimmed, without the apostrophe the app's own export puts before a
    formula character (docs/design.md §17: the export re-imports to the same values)."""
    text = text.strip()
    if text[:1] == "'" and text[1:2].startswith(_FORMULA_STARTS):
        return text[1:]
    return text


def preview(source: CsvSource, rows: int = 5) -> CsvPreview:
    """Encoding, delimiter, headers, the first `rows` data rows and the automatic mapping.

    A file without an email column previews fine (the dialog lets the user pick one);
    an empty file is a ValidationError.
    """
    with ContactCsv(source, require_email=False) as reader:
        return CsvPreview(
            encoding=reader.encoding,
            delimiter=reader.delimiter,
            headers=reader.headers,
            sample_rows=reader.sample(max(0, rows)),
            mapping=reader.plan.mapping,
            ignored=reader.plan.ignored,
        )


class RefusedStatus(NamedTuple):
    """One status word a file's column holds that refuses its rows (`read_status`)."""

    value: str
    """The cell's text, trimmed."""
    rows: int
    """How many rows hold it."""
    first_row: int
    """The first of them, numbered as a spreadsheet shows it."""


@dataclass(frozen=True)
class StatusCheck:
    """What a file's status column will do on import, read before the import runs."""

    header: str
    """The column read as the status."""
    unsubscribed: int = 0
    """Rows whose status makes a subscribed contact unsubscribed."""
    bounced: int = 0
    """Rows whose status makes a subscribed contact bounced."""
    refused: tuple[RefusedStatus, ...] = ()
    """Each word that refuses its rows, in the order the file first holds them (the first
    `REFUSED_WORDS_KEPT` different words: a column of free text is not a status)."""
    refused_rows: int = 0
    """Rows the status column refuses, whatever their word."""
    cancelled: bool = False
    """True when the check stopped early: the counts cover only the rows read."""


def check_status(
    source: CsvSource, header: str, *, cancelled: Callable[[], bool] | None = None
) -> StatusCheck:
    """Read the column `header` of `source` as the import's status column, every row of it.

    Rows are read exactly as `ContactCsv` reads them for the import (same cells, same
    `read_status`), so the counts are what the import will see in the status column;
    rows the import skips for another reason (a bad address, a repeat) are counted too.
    `cancelled()` is asked every few thousand rows (True stops the check early). Raises
    ValidationError("file") when the file cannot be read, ValidationError("mapping") when
    it has no such column.
    """
    unsubscribed = bounced = refused_rows = 0
    refused: dict[str, RefusedStatus] = {}
    stopped = False
    with ContactCsv(source, {header: STATUS}, require_email=False) as reader:
        for number, (row, cell) in enumerate(sharing_the_gil(reader.status_cells())):
            if number % _CANCEL_EVERY_ROWS == 0 and cancelled is not None and cancelled():
                stopped = True
                break
            _problem, opted_out, status_refused = read_status(cell)
            if opted_out == "unsubscribed":
                unsubscribed += 1
            elif opted_out == "bounced":
                bounced += 1
            elif status_refused:
                refused_rows += 1
                word = cell.strip()
                seen = refused.get(word)
                if seen is not None:
                    refused[word] = seen._replace(rows=seen.rows + 1)
                elif len(refused) < REFUSED_WORDS_KEPT:
                    refused[word] = RefusedStatus(word, 1, row)
    return StatusCheck(
        header, unsubscribed, bounced, tuple(refused.values()), refused_rows, stopped
    )
