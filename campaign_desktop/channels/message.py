"""Campaign emails as bytes: `build_message` (the email package) and `MessageTemplate`.

`MessageTemplate` is made once per run; its `render` writes each message's bytes directly
(the same message `build_message` gives, much faster) for `SmtpConnection.send_bytes`.
Bad addresses and header values raise `ValidationError`; nothing here touches the network.

Decisions on the header format (issue 12), taken here because the standard library's
folder gets them wrong (Python 3.11's `email.policy.SMTP` runs encoded-words together
and leaves `=?utf-8?q?…` fragments on long non-ASCII subjects):

- Subject and display names are written by this module's own folder
  (`fold_unstructured`, `fold_addresses`), for both paths. Non-ASCII words become RFC 2047
  encoded-words: each one complete and at most 75 characters (§2), holding whole UTF-8
  characters (§5) and, where one fits, whole grapheme clusters (an emoji with its ZWJ
  sequence, a letter with its accents), separated from each other and from plain words by
  folding white space; lines stay within 78 characters (RFC 5322 §2.1.1). Each word is
  Q- or B-encoded, whichever is shorter, in the set of characters RFC 2047 §5(3) allows
  in a phrase, so the same words are valid in a Subject and in a display name.
- Text that merely looks like an encoded-word (``=?utf-8?q?…?=``) is encoded too, so a
  reader shows it literally instead of decoding it. Leading and trailing spaces are
  dropped (readers strip them); spaces inside are kept exactly.
- Control characters (C0 and C1, DEL, tab, line and paragraph separators) are refused in
  every header value with a ValidationError naming the field (`check_header_text`);
  campaigns refuse them at save, and this module refuses them again as the last line.
- International domains go out as their IDNA A-label (RFC 5890/5891, UTS #46 mapping)
  in the envelope and in the headers, so ``anna@bücher.example`` needs no SMTPUTF8; only
  a non-ASCII local part makes a message international (RFC 6531), and then the
  addresses are raw UTF-8 while Subject and names stay encoded-words.
- A display name that needs more than one encoded-word is cut at a space where it can be,
  the space starting the next word: RFC 2047 §6.2 readers (mail clients) show it exactly;
  Python's own phrase parser keeps the folding space between two encoded-words, so it
  shows a doubled space there (not mid-word, as its own folder would cause).
"""

from __future__ import annotations

import base64
import binascii
import copy
import random
import re
import sys
import time
import unicodedata
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import quoprimime
from email.errors import HeaderParseError
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Any

import idna
import regex

from campaign_desktop.domain.emails import normalize_email
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.templates import unsubscribe_link, unsubscribe_mailto_url
from campaign_desktop.domain.tokens import TOKEN_HEADER

# --- what a header value may hold -------------------------------------------------------

_FIELD_WORDS = {
    "subject": "The subject",
    "from_name": "The sender name",
    "from_email": "The sender address",
    "reply_to": "The reply-to address",
    "to": "The recipient address",
    "to_name": "The recipient's name",
    "list_unsubscribe_mailto": "The unsubscribe address",
    "unsubscribe_page_url": "The unsubscribe page address",
    "verp_address": "The bounce address",
}
# Cc: C0, DEL and C1 controls (tab included); Zl/Zp: U+2028/U+2029, line breaks to many
# readers; Cs: lone surrogates, which cannot be written as UTF-8.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
_PLAIN_TEXT = re.compile(r"[ -~]*")  # printable ASCII and space: the usual case, checked fast


def header_text_problem(value: str) -> str | None:
    """Why `value` cannot go into an email header, in plain words, or None when it can.

    Refused: line breaks (a header is one line; RFC 5322 §2.2), and every other control
    character — C0 and C1 controls, DEL, tab, U+2028/U+2029 — which some readers show as
    garbage and others take as the end of the header. Format characters such as the
    zero-width joiner of an emoji sequence or a right-to-left mark are allowed.
    """
    if _PLAIN_TEXT.fullmatch(value):
        return None
    for char in value:
        if char in "\r\n":
            return "must fit on one line: remove the line break."
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            what = (
                "a tab" if char == "\t" else f"an invisible control character (U+{ord(char):04X})"
            )
            return (
                f"contains {what}, which email cannot carry. Delete it and type that part "
                "again; it often comes along when text is copied from another program."
            )
    return None


def check_header_text(field: str, value: str) -> str:
    """Return `value` if it can go into an email header, else raise ValidationError(field).

    The message starts with the field in words ("The subject …", "The sender name …");
    see `header_text_problem` for what is refused. Campaigns call this when they are saved,
    message building again before anything is sent.
    """
    problem = header_text_problem(value)
    if problem is not None:
        raise ValidationError(field, f"{_FIELD_WORDS.get(field, 'This text')} {problem}")
    return value


# --- RFC 2047 encoded-words and folding -----------------------------------------------

_LINE_MAX = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters
_EW_MAX = 75  # RFC 2047 §2: an encoded-word is at most 75 characters
_EW_OVERHEAD = len("=?utf-8?q??=")
# RFC 2047 §5(3): the only characters a Q-encoded word may keep as they are in a phrase;
# using this set everywhere makes one encoded-word valid in a Subject and a display name.
_Q_LITERAL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_COST = tuple(1 if byte in _Q_LITERAL or byte == 0x20 else 3 for byte in range(256))
_Q_TEXT = tuple(
    chr(byte) if byte in _Q_LITERAL else "_" if byte == 0x20 else f"={byte:02X}"
    for byte in range(256)
)
# The longest piece kept whole: a grapheme cluster up to this many UTF-8 bytes (B-encoded
# it fits a word on any first header line, "Reply-To: " included); a longer cluster
# (stacked combining marks) is cut between code points, which RFC 2047 allows.
_UNIT_MAX_BYTES = 42
_GRAPHEME = regex.compile(r"\X")
# A display name written as it is: atoms (RFC 5322 §3.2.3) separated by single spaces.
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
# A Subject written as it is: printable ASCII words separated by single spaces.
_PLAIN_WORDS = re.compile(r"[!-~]+(?: [!-~]+)*")


def _b_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


class _EncodedRun:
    """Text to write as encoded-words, handed out one word at a time by `take`.

    Cut between grapheme clusters (between code points inside a cluster too long for one
    word), never inside a UTF-8 sequence (RFC 2047 §5: every encoded-word holds whole
    characters). Each word is Q- or B-encoded, whichever is shorter (§4).
    """

    def __init__(self, text: str) -> None:
        units: list[bytes] = []
        for cluster in _GRAPHEME.findall(text):
            data = cluster.encode("utf-8")
            if len(data) <= _UNIT_MAX_BYTES:
                units.append(data)
            else:
                units.extend(char.encode("utf-8") for char in cluster)
        self._units = units
        self._next = 0

    @property
    def done(self) -> bool:
        return self._next >= len(self._units)

    def take(self, room: int, *, phrase: bool = False, force: bool = False) -> str | None:
        """The next encoded-word, at most `room` (and 75) characters, or None.

        None when nothing fits, and, unless `force`, when the rest of the text does not fit
        but would fit whole in a word on a new line (wrap rather than cut it in two).
        In a `phrase`, a word that does not reach the end ends before a space (the space
        starts the next word); unless `force`, None when it holds no such space.
        """
        limit = min(room, _EW_MAX) - _EW_OVERHEAD
        units, start = self._units, self._next
        end, size, q_size = start, 0, 0
        while end < len(units):
            unit = units[end]
            unit_q = sum(_Q_COST[byte] for byte in unit)
            if min(q_size + unit_q, _b_length(size + len(unit))) > limit:
                break
            size, q_size, end = size + len(unit), q_size + unit_q, end + 1
        if end == start:
            return None
        if end < len(units):
            if not force and self._rest_fits_one_word():
                return None
            if phrase:
                spaces = [i for i in range(start + 1, end + 1) if units[i].startswith(b" ")]
                if spaces:
                    end = spaces[-1]
                elif not force:
                    return None
        data = b"".join(units[start:end])
        self._next = end
        q_text = "".join(_Q_TEXT[byte] for byte in data)
        if len(q_text) <= _b_length(len(data)):
            return f"=?utf-8?q?{q_text}?="
        return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="

    def _rest_fits_one_word(self) -> bool:
        rest = b"".join(self._units[self._next :])
        q_size = sum(_Q_COST[byte] for byte in rest)
        return min(q_size, _b_length(len(rest))) <= _EW_MAX - _EW_OVERHEAD


# (white space before, text, whether the text is written as encoded-words)
_Token = tuple[str, str, bool]


def _fold(name: str, tokens: Iterable[_Token], *, phrase: bool = False) -> str:
    """`name: tokens` as header lines (CRLF-ended), folded before white space.

    A plain token is never cut; an encoded run fills each line with as much as fits.
    Consecutive encoded-words are separated by one space, which RFC 2047 §6.2 readers
    ignore; the white space before a token is kept, so that between an encoded-word and a
    plain word it stays exactly as written.
    """
    lines: list[str] = []
    line = name + ":"
    placed = False  # a token on this line yet (nothing may fold right after "Name:")
    for before, text, encode in tokens:
        space = before
        if not encode:
            if placed and len(line) + len(space) + len(text) > _LINE_MAX:
                lines.append(line)
                line = ""
            line += space + text
            placed = True
            continue
        run = _EncodedRun(text)
        while not run.done:
            room = _LINE_MAX - len(line) - len(space)
            word = run.take(room, phrase=phrase, force=not placed)
            if word is None:
                lines.append(line)
                line = ""
                # A fresh line takes a word of any length up to 75 (and `force` means one
                # piece always fits: see _UNIT_MAX_BYTES).
                word = run.take(max(_LINE_MAX - len(space), _EW_MAX), phrase=phrase, force=True)
                assert word is not None
            line += space + word
            placed = True
            space = " "
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _unstructured_tokens(name: str, value: str) -> list[_Token]:
    """Words of `value` with the spaces before them; runs of words to encode joined.

    A word is encoded when it is not printable ASCII, when it looks like the start of an
    encoded-word ("=?"), or when it is too long to fit on a line at all.
    """
    longest_plain = _LINE_MAX - len(name) - 2
    tokens: list[_Token] = []
    for match in re.finditer(r"( *)([^ ]+)", value.strip(" ")):
        space, word = match.group(1) or " ", match.group(2)
        encode = (
            not word.isascii()
            or not word.isprintable()
            or "=?" in word
            or len(word) > longest_plain
        )
        if encode and tokens and tokens[-1][2]:
            # The space between two encoded words belongs inside the encoding: between
            # encoded-words white space is ignored.
            previous_space, previous, _ = tokens[-1]
            tokens[-1] = (previous_space, previous + space + word, True)
        else:
            tokens.append((space, word, encode))
    return tokens


def fold_unstructured(name: str, value: str) -> str:
    """The header `name: value` as CRLF-ended lines, for an unstructured header (Subject).

    `value` is literal text (checked with `check_header_text` first): plain words stay as
    they are, everything else becomes RFC 2047 encoded-words (§2, §5), each at most 75
    characters; lines stay within 78 (RFC 5322 §2.1.1). Leading and trailing spaces are
    dropped. A strict reader decodes the result to exactly the stripped `value`.
    """
    text = value.strip(" ")
    if len(text) <= _LINE_MAX - len(name) - 2 and _PLAIN_WORDS.fullmatch(text) and "=?" not in text:
        return f"{name}: {text}\r\n"
    if not text:
        return f"{name}:\r\n"
    return _fold(name, _unstructured_tokens(name, text))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _phrase_tokens(display_name: str, longest_plain: int) -> list[_Token]:
    """A display name as RFC 5322 atoms, one quoted-string, or encoded-words (a phrase)."""
    name = display_name.strip(" ")
    if not name:
        return []
    if "=?" not in name and _ATOM_PHRASE.fullmatch(name):
        words = name.split(" ")
        if max(len(word) for word in words) <= longest_plain:
            return [(" ", word, False) for word in words]
    if "=?" not in name and _PLAIN_TEXT.fullmatch(name):
        quoted = _quoted(name)
        if len(quoted) <= longest_plain:
            return [(" ", quoted, False)]
    return [(" ", name, True)]


def fold_addresses(name: str, addresses: Sequence[Address]) -> str:
    """The address header `name: Name <user@domain>, …` as CRLF-ended lines.

    Display names are atoms, a quoted-string or RFC 2047 encoded-words (§5(3)); addresses
    are written as given (`Address.addr_spec`, domains already IDNA A-labels), never cut.
    """
    longest_plain = _LINE_MAX - len(name) - 2
    tokens: list[_Token] = []
    for index, address in enumerate(addresses):
        comma = "," if index < len(addresses) - 1 else ""
        phrase = _phrase_tokens(address.display_name, longest_plain)
        tokens += phrase
        spec = address.addr_spec
        tokens.append((" ", f"<{spec}>{comma}" if phrase else spec + comma, False))
    return _fold(name, tokens, phrase=True)


# --- building a message with the email package ----------------------------------------


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, but each header class is made once per name.

    `HeaderRegistry` builds a new class with `type()` for every header of every message,
    a large share of what building a message costs.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._classes.clear()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(key)
        return cls


_UNSTRUCTURED_HEADERS = frozenset({"subject"})
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender"})


class _WirePolicy(EmailPolicy):
    """`email.policy.SMTP`, but Subject and address headers folded by this module.

    A string stored as Subject is literal text: the email package would decode an
    encoded-word look-alike in it. This policy is for writing messages, never for parsing.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if name.lower() in _UNSTRUCTURED_HEADERS and isinstance(value, str):
            # Stored as its encoded form, which the header parses back to exactly `value`.
            folded = fold_unstructured(name, value)
            value = folded[len(name) + 1 :].replace("\r\n", "").strip(" ")
        return super().header_store_parse(name, value)

    def _fold_ours(self, name: str, value: Any) -> str | None:
        key = name.lower()
        if key == "list-unsubscribe" and isinstance(value, BaseHeader):
            return fold_url_list(name, str(value).split(", "))
        if key in _UNSTRUCTURED_HEADERS and isinstance(value, BaseHeader):
            return fold_unstructured(name, str(value))
        addresses = getattr(value, "addresses", None)
        if key in _ADDRESS_HEADERS and addresses is not None:
            return fold_addresses(name, addresses)
        return None

    def fold(self, name: str, value: Any) -> str:
        folded = self._fold_ours(name, value)
        return super().fold(name, value) if folded is None else folded

    def fold_binary(self, name: str, value: Any) -> bytes:
        folded = self._fold_ours(name, value)
        if folded is None:
            return super().fold_binary(name, value)
        return folded.encode("utf-8" if self.utf8 else "ascii")


# CRLF line ends as the wire wants them; 7bit so that every body part is quoted-printable
# or base64 and the message never depends on the server offering 8BITMIME.
_MESSAGE_POLICY = _WirePolicy(linesep="\r\n", cte_type="7bit", header_factory=_HeaderClasses())
_SMTPUTF8_POLICY = _MESSAGE_POLICY.clone(utf8=True)


def a_label_domain(domain: str, field: str = "email") -> str:
    """`domain` as its IDNA A-label (``bücher.example`` → ``xn--bcher-kva.example``).

    RFC 5890/5891 with the UTS #46 mapping (as browsers and email_validator use); an ASCII
    domain comes back unchanged. Raises ValidationError(field) when it cannot be written.
    """
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValidationError(
            field, f"The domain “{domain}” is not a valid international domain name: {exc}"
        ) from None


def _address(field_name: str, display_name: str, addr_spec: str, name_field: str) -> Address:
    check_header_text(name_field, display_name)
    addr_spec = check_header_text(field_name, addr_spec).strip()
    if not addr_spec.isascii():
        # The email package refuses to parse a non-ASCII address, so check it the way
        # contacts are checked and build the Address from its parts.
        local, _, domain = normalize_email(addr_spec, field_name).rpartition("@")
    else:
        try:
            parsed = Address(addr_spec=addr_spec)
        except (ValueError, IndexError, HeaderParseError):
            raise ValidationError(
                field_name, f"“{addr_spec}” is not a valid email address."
            ) from None
        local, domain = parsed.username, parsed.domain
    return Address(
        display_name=display_name.strip(" "),
        username=local,
        domain=a_label_domain(domain, field_name),
    )


def _message_id_domain(domain: str) -> str:
    try:
        return a_label_domain(domain)
    except ValidationError:
        return "campaign-desktop.invalid"


def build_message(
    *,
    from_email: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    list_unsubscribe_mailto: str | None = None,
    message_id_domain: str | None = None,
    to_name: str = "",
    token: str = "",
    unsubscribe_page_url: str = "",
) -> EmailMessage:
    """One campaign email: text, plus an HTML alternative when `html` is given.

    `list_unsubscribe_mailto` is an address or a ``mailto:`` URL (List-Unsubscribe header).
    `token` (the delivery's, docs/design.md §11) goes into the mailto subject and the
    `X-Campaign-Desktop-Token` header; `unsubscribe_page_url` (https, with ``{token}``) adds
    the RFC 8058 one-click URL and `List-Unsubscribe-Post`.
    The Message-ID uses `message_id_domain`, by default the sender's domain (never the
    machine's name: no DNS look-up per message). Domains are stored as IDNA A-labels;
    serialised with `flatten`, headers are folded as the module docstring says.
    Raises ValidationError (naming the field) for a bad address or a header value with a
    line break or another control character (`check_header_text`).
    """
    sender = _address("from_email", from_name, from_email, "from_name")
    msg = EmailMessage(policy=_MESSAGE_POLICY)
    msg["From"] = sender
    msg["To"] = _address("to", to_name, to, "to_name")
    if reply_to:
        msg["Reply-To"] = _address("reply_to", "", reply_to, "reply_to")
    msg["Subject"] = check_header_text("subject", subject)
    msg["Date"] = datetime.now(UTC)  # a datetime is taken as is; a string would be re-parsed
    msg["Message-ID"] = make_msgid(domain=_message_id_domain(message_id_domain or sender.domain))
    unsubscribe = UnsubscribeHeaders(list_unsubscribe_mailto, unsubscribe_page_url)
    if unsubscribe.enabled:
        msg["List-Unsubscribe"] = ", ".join(unsubscribe.urls(token))
        if unsubscribe.one_click:
            msg["List-Unsubscribe-Post"] = ONE_CLICK
    if token:
        msg[TOKEN_HEADER] = token
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
        # add_alternative copies MIME-Version into the part; it belongs on the top only.
        *_, html_part = msg.iter_parts()
        del html_part["MIME-Version"]
    return msg


ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058 §3.1


def fold_url_list(name: str, urls: Sequence[str]) -> str:
    """A List-Unsubscribe line (RFC 2369): ``<url>, <url>`` on one line when it fits in 78
    characters, else one URL per line (a URL is never broken). Ends with CRLF."""
    line = f"{name}: {', '.join(urls)}"
    if len(line) <= _LINE_MAX or len(urls) == 1:
        return line + "\r\n"
    return f"{name}: " + ",\r\n ".join(urls) + "\r\n"


class UnsubscribeHeaders:
    """List-Unsubscribe for each delivery, checked once per run (docs/design.md §11).

    `address_or_url` is the address that takes unsubscribe requests, or a ready ``mailto:``
    URL (used as given, without a token); `page_url` an https URL with ``{token}`` for
    RFC 8058 one-click (then List-Unsubscribe-Post is added). Raises ValidationError.
    """

    def __init__(self, address_or_url: str | None, page_url: str = "") -> None:
        self.enabled = bool(address_or_url) or bool(page_url)
        self._fixed = ""
        self._address = ""
        if address_or_url:
            url = _unsubscribe_url(address_or_url)
            if address_or_url.strip().lower().startswith("mailto:"):
                self._fixed = url
            else:
                self._address = url[len("mailto:") : url.index("?")]
                self._address = urllib.parse.unquote(self._address)
        self._page = check_header_text("unsubscribe_page_url", page_url).strip()
        if self._page and not (
            self._page.lower().startswith("https://") and "{token}" in self._page
        ):
            raise ValidationError(
                "unsubscribe_page_url",
                "The unsubscribe page must be an https:// address with {token} in it.",
            )
        self.one_click = bool(self._page)
        # A lone mailto: URL is one line whatever the token (a URL is never folded), so its
        # bytes around the token are made once (the per-message path; docs/performance.md).
        self._mailto_only: tuple[bytes, bytes] | None = None
        if self._address and not self._page:
            before = f"List-Unsubscribe: <{unsubscribe_mailto_url(self._address, 'TOKEN')}"
            if before.isascii():
                self._mailto_only = (before[: -len("TOKEN")].encode("ascii"), b">\r\n")
        self._no_token = b""
        if self.enabled:
            self._no_token = fold_url_list("List-Unsubscribe", self.urls("")).encode("ascii")
            if self.one_click:
                self._no_token += f"List-Unsubscribe-Post: {ONE_CLICK}\r\n".encode("ascii")

    def urls(self, token: str) -> list[str]:
        """The ``<url>`` items of the header for `token` (one-click first, RFC 8058 §3.1)."""
        items = []
        if self._page:
            items.append(f"<{unsubscribe_link('', token, self._page)}>")
        if self._fixed:
            items.append(f"<{self._fixed}>")
        elif self._address:
            items.append(f"<{unsubscribe_mailto_url(self._address, token)}>")
        return items

    def lines(self, token: str) -> bytes:
        """The header lines (List-Unsubscribe, List-Unsubscribe-Post) as wire bytes."""
        if not self.enabled:
            return b""
        if not token:
            return self._no_token
        if self._mailto_only is not None:  # the usual case: one URL, the token spliced in
            quoted = urllib.parse.quote(token, safe="").encode("ascii")
            return self._mailto_only[0] + quoted + self._mailto_only[1]
        lines = fold_url_list("List-Unsubscribe", self.urls(token)).encode("ascii")
        if self.one_click:
            lines += f"List-Unsubscribe-Post: {ONE_CLICK}\r\n".encode("ascii")
        return lines


def _unsubscribe_url(address_or_url: str) -> str:
    """A ``mailto:`` URL as given, or one made for an address (its domain an A-label)."""
    field = "list_unsubscribe_mailto"
    url = check_header_text(field, address_or_url).strip()
    if url.lower().startswith("mailto:"):
        return url
    local, at, domain = url.rpartition("@")
    return unsubscribe_mailto_url(f"{local}{at}{a_label_domain(domain, field)}" if at else url)


# --- message template: the sending engine's fast path -------------------------------------

# A recipient address that `Address` takes and folds exactly as written: ASCII dot-atoms only
# (no "=" or "?": an atom starting "=?" would be read as an encoded word).
_SIMPLE_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
_MAX_LINE = _LINE_MAX  # also the body's line length (quoted-printable, base64)
_CRLF = b"\r\n"
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))  # as email.generator makes them


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message ready for `SmtpConnection.send_bytes`.

    `data` is the whole message as the wire wants it (CRLF line ends, not dot-stuffed);
    for an international (non-ASCII) envelope it is the SMTPUTF8 form.
    """

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    data: bytes


def _header(name: str, value: object) -> BaseHeader:
    """The header object `msg[name] = value` stores."""
    stored = _MESSAGE_POLICY.header_store_parse(name, value)[1]
    assert isinstance(stored, BaseHeader)
    return stored


def _folded(header: BaseHeader) -> bytes:
    """The header's line(s) exactly as the generator writes them."""
    return _MESSAGE_POLICY.fold_binary(header.name, header)


def _header_addresses(header: BaseHeader) -> list[str]:
    """The addr-specs of an address header, from its Address objects (never re-parsed)."""
    addresses: Sequence[Address] = getattr(header, "addresses", ())
    return [address.addr_spec for address in addresses if address.username or address.domain]


def _text_part(text: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, payload with LF line ends) for UTF-8 `text`.

    The same choice and encoding as `EmailMessage.set_content(text)` under the 7bit policy:
    7bit when ASCII with short lines, else quoted-printable or base64, whichever is shorter
    on the first ten lines.
    """
    lines = text.encode("utf-8").splitlines()
    if max(map(len, lines), default=0) <= _MAX_LINE:
        normal = b"\n".join(lines) + b"\n"
        if normal.isascii():
            return "7bit", normal.decode("ascii")
    sniff = b"\r\n".join(lines[:10]) + b"\r\n"
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), _MAX_LINE)
    if len(sniff_qp) > len(binascii.b2a_base64(sniff)):
        embedded = b"\r\n".join(lines) + b"\r\n"
        step = _MAX_LINE // 4 * 3
        return "base64", "".join(
            binascii.b2a_base64(embedded[i : i + step]).decode("ascii")
            for i in range(0, len(embedded), step)
        )
    if len(lines) <= 10:
        return "quoted-printable", sniff_qp
    normal = b"\n".join(lines) + b"\n"
    return "quoted-printable", quoprimime.body_encode(normal.decode("latin-1"), _MAX_LINE)


def _mime_part(subtype: str, text: str) -> bytes:
    cte, payload = _text_part(text)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n\r\n" + payload.replace("\n", "\r\n")
    ).encode("ascii")


def _boundary(*parts: bytes) -> bytes:
    """A multipart boundary as email.generator makes them, found in none of the parts."""
    while True:
        number = random.randrange(sys.maxsize)  # noqa: S311 — a boundary is not a secret
        token = f"{'=' * 15}{number:0{_BOUNDARY_WIDTH}d}==".encode()
        if not any(b"--" + token in part for part in parts):
            return token


def _date_line(cached: list[tuple[int, bytes]]) -> bytes:
    """The ``Date:`` header line for now, made once per second (`cached` holds the last
    one): the header has whole seconds, so every message of a second has the same line,
    what ``format_datetime(datetime.now(UTC))`` gives in that second."""
    second = int(time.time())  # the clock `datetime.now` reads
    last_second, line = cached[-1]
    if second != last_second:
        stamp = format_datetime(datetime.fromtimestamp(second, UTC)).encode("ascii")
        line = b"Date: " + stamp + _CRLF
        cached[-1] = (second, line)  # one item replaced whole: safe across threads
    return line


class MessageTemplate:
    """What every message of a run shares, worked out once; `render` makes each message.

    The sender, Reply-To and List-Unsubscribe are checked and folded once. `render` then
    writes each message's bytes directly: the same message `build_message` with the same
    arguments gives, without building the email package's objects for every recipient
    (Subject and addresses use the same folder, `fold_unstructured` / `fold_addresses`).
    A message with a non-ASCII local part (SMTPUTF8) takes `build_message` whole.
    Bad values raise the same ValidationError as `build_message` (the fixed ones here).
    """

    def __init__(
        self,
        *,
        from_email: str,
        from_name: str,
        reply_to: str | None = None,
        list_unsubscribe_mailto: str | None = None,
        message_id_domain: str | None = None,
        unsubscribe_page_url: str = "",
        verp_address: str = "",
    ) -> None:
        self._from_email, self._from_name = from_email, from_name
        self._reply_to_address = reply_to
        self._unsubscribe_address = list_unsubscribe_mailto
        self._unsubscribe_page = unsubscribe_page_url
        self._message_id_domain = message_id_domain
        # VERP (docs/design.md §11): the envelope sender local+TOKEN@domain, so a bounce is
        # addressed to its delivery even when it quotes nothing of the message.
        self._verp: tuple[str, str] | None = None
        if verp_address:
            verp = _address("verp_address", "", verp_address, "verp_address")
            self._verp = (verp.username, verp.domain)
        address = _address("from_email", from_name, from_email, "from_name")
        self.sender = address.addr_spec
        self._from = fold_addresses("From", [address]).encode("utf-8")
        self._reply_to = b""
        if reply_to:
            reply_address = _address("reply_to", "", reply_to, "reply_to")
            self._reply_to = fold_addresses("Reply-To", [reply_address]).encode("utf-8")
        self._unsubscribe = UnsubscribeHeaders(list_unsubscribe_mailto, unsubscribe_page_url)
        self._id_domain = _message_id_domain(message_id_domain or address.domain)
        # Only a non-ASCII local part needs SMTPUTF8: domains are A-labels by now.
        self._international = not (self._from + self._reply_to).isascii()
        self._date: list[tuple[int, bytes]] = [(-1, b"")]  # `_date_line`'s last line

    def render(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        to_name: str = "",
        token: str = "",
    ) -> OutgoingMessage:
        """The message to `to` (see the class docstring); `token` is the delivery's.

        Raises ValidationError for a bad address or a header value with a line break or
        another control character, as `build_message` does.
        """
        message = self._render(
            to=to, subject=subject, text=text, html=html, to_name=to_name, token=token
        )
        if self._verp is not None and token:
            local, domain = self._verp
            return OutgoingMessage(
                f"{local}+{token}@{domain}", message.recipients, message.message_id, message.data
            )
        return message

    def _render(
        self, *, to: str, subject: str, text: str, html: str | None, to_name: str, token: str
    ) -> OutgoingMessage:
        if not to_name and len(to) <= _MAX_LINE - 4 and _SIMPLE_ADDRESS.fullmatch(to):
            to_line = b"To: " + to.encode("ascii") + _CRLF
            recipients: tuple[str, ...] = (to,)
        else:
            address = _address("to", to_name, to, "to_name")
            if not address.addr_spec.isascii():
                return self._general(
                    to=to, to_name=to_name, subject=subject, text=text, html=html, token=token
                )
            to_line = fold_addresses("To", [address]).encode("ascii")
            recipients = (address.addr_spec,)
        if self._international:
            return self._general(
                to=to, to_name=to_name, subject=subject, text=text, html=html, token=token
            )
        check_header_text("subject", subject)
        subject_line = fold_unstructured("Subject", subject).encode("ascii")
        message_id = make_msgid(domain=self._id_domain)
        if len(message_id) <= _MAX_LINE - 12 and message_id.isascii():
            id_line = b"Message-ID: " + message_id.encode("ascii") + _CRLF
        else:
            id_header = _header("Message-ID", message_id)
            id_line, message_id = _folded(id_header), str(id_header)
        head = b"".join(
            (
                self._from,
                to_line,
                self._reply_to,
                subject_line,
                _date_line(self._date),
                id_line,
                self._unsubscribe.lines(token),
                (TOKEN_HEADER + ": " + token + "\r\n").encode("ascii") if token else b"",
            )
        )
        if html:
            plain, rich = _mime_part("plain", text), _mime_part("html", html)
            boundary = _boundary(plain, rich)
            data = b"".join(
                (
                    head,
                    b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="',
                    boundary,
                    b'"\r\n\r\n--',
                    boundary,
                    _CRLF,
                    plain,
                    b"\r\n--",
                    boundary,
                    _CRLF,
                    rich,
                    b"\r\n--",
                    boundary,
                    b"--\r\n",
                )
            )
        else:
            cte, payload = _text_part(text)
            data = b"".join(
                (
                    head,
                    b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: ',
                    cte.encode("ascii"),
                    b"\r\nMIME-Version: 1.0\r\n\r\n",
                    payload.replace("\n", "\r\n").encode("ascii"),
                )
            )
        return OutgoingMessage(self.sender, recipients, message_id, data)

    def _general(
        self, *, to: str, to_name: str, subject: str, text: str, html: str | None, token: str
    ) -> OutgoingMessage:
        msg = build_message(
            from_email=self._from_email,
            from_name=self._from_name,
            to=to,
            to_name=to_name,
            subject=subject,
            text=text,
            html=html,
            reply_to=self._reply_to_address,
            list_unsubscribe_mailto=self._unsubscribe_address,
            message_id_domain=self._message_id_domain,
            token=token,
            unsubscribe_page_url=self._unsubscribe_page,
        )
        sender, recipients, data = flatten(msg)
        return OutgoingMessage(sender, recipients, str(msg["Message-ID"]), data)


def _addresses(msg: EmailMessage, *names: str) -> list[str]:
    found: list[str] = []
    for name in names:
        for value in msg.get_all(name, []):
            if isinstance(value, BaseHeader) and hasattr(value, "addresses"):
                found += _header_addresses(value)
            else:
                found += [addr for _, addr in getaddresses([str(value)]) if addr]
    return found


def is_international(sender: str, recipients: tuple[str, ...]) -> bool:
    """True when an envelope address is not ASCII, so the message needs SMTPUTF8 (RFC 6531).

    With domains written as A-labels, only a non-ASCII local part makes it so.
    """
    return not (sender.isascii() and all(a.isascii() for a in recipients))


def flatten(msg: EmailMessage) -> tuple[str, tuple[str, ...], bytes]:
    """(envelope sender, recipients, wire bytes not yet dot-stuffed) of `msg`.

    Adds a Message-ID when there is none; Bcc headers are left out of the bytes.
    """
    senders = _addresses(msg, "Sender") or _addresses(msg, "From")
    recipients = tuple(dict.fromkeys(_addresses(msg, "To", "Cc", "Bcc")))
    if not senders:
        raise ValidationError("from_email", "The message has no sender address.")
    if not recipients:
        raise ValidationError("to", "The message has no recipient.")
    if "Message-ID" not in msg:
        domain = _message_id_domain(senders[0].rpartition("@")[2] or "localhost")
        msg["Message-ID"] = make_msgid(domain=domain)
    if "Bcc" in msg or "Resent-Bcc" in msg:
        msg = copy.copy(msg)
        del msg["Bcc"], msg["Resent-Bcc"]
    if is_international(senders[0], recipients):
        data = msg.as_bytes(policy=_SMTPUTF8_POLICY)
    elif msg.policy.linesep == "\r\n" and msg.policy.cte_type == "7bit":
        data = msg.as_bytes()
    else:
        data = msg.as_bytes(policy=_MESSAGE_POLICY)
    return senders[0], recipients, data
