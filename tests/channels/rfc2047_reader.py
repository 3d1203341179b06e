"""A strict RFC 2047 reader for the header tests: it refuses what a lenient one forgives.

`email.policy.default` decodes a broken encoded-word, a word run into its neighbour or a
cut UTF-8 sequence without complaint (or with a defect nobody reads); this reader fails
the test instead. It reads only the forms this app writes: unstructured text (Subject)
and one ``phrase <addr-spec>`` or bare addr-spec (From, To, Reply-To).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import regex

#: RFC 2047 §2: charset and encoding, then encoded text without "?" or white space.
ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
#: RFC 2047 §5(3): what a Q-encoded word may hold besides "=XX" and "_" (phrase rules).
_Q_LITERAL = re.compile(r"[A-Za-z0-9!*+\-/]")
_Q_TOKEN = re.compile(r"=[0-9A-F]{2}|_|[A-Za-z0-9!*+\-/]")


@dataclass(frozen=True)
class Reading:
    """What a strict reader made of a header value."""

    text: str
    runs: tuple[tuple[str, ...], ...]
    """The decoded text of each encoded-word, grouped by runs of adjacent encoded-words."""


def header_lines(data: bytes, name: str) -> list[str]:
    """The lines of the first header `name` in a message's bytes, as written."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    found: list[str] = []
    for line in head.split("\r\n"):
        if found and line[:1] in {" ", "\t"}:
            found.append(line)
        elif found:
            break
        elif line.lower().startswith(name.lower() + ":"):
            found.append(line)
    assert found, f"no {name} header"
    return found


def check_lines(lines: list[str]) -> None:
    """RFC 5322 §2.1.1 and §3.2.2: lines within 78 characters, no line of white space only."""
    for line in lines:
        assert len(line) <= 78, f"line of {len(line)} characters: {line!r}"
        assert line.strip(), "a folded line with only white space"
    for line in lines[1:]:
        assert line.startswith(" "), "a continuation line must start with white space"


def decode_word(word: str) -> str:
    """One encoded-word's text; fails unless it is complete, ≤ 75 characters, whole UTF-8."""
    match = ENCODED_WORD.fullmatch(word)
    assert match is not None, f"not a complete encoded-word: {word!r}"
    assert len(word) <= 75, f"encoded-word of {len(word)} characters (RFC 2047 §2)"
    charset, encoding, payload = match.groups()
    assert charset.lower() == "utf-8"
    if encoding in "Bb":
        data = base64.b64decode(payload, validate=True)
    else:
        tokens = _Q_TOKEN.findall(payload)
        assert "".join(tokens) == payload, f"Q text outside RFC 2047 §5(3): {payload!r}"
        data = b"".join(
            b" "
            if token == "_"
            else bytes.fromhex(token[1:])
            if token.startswith("=")
            else token.encode("ascii")
            for token in tokens
        )
    # Strict: a multi-byte character cut between two encoded-words fails here (§5).
    return data.decode("utf-8")


def read_words(value: str) -> Reading:
    """RFC 2047 §6.2 reading of words separated by spaces: white space between two
    encoded-words is dropped, white space next to plain text is kept as written."""
    parts: list[str] = []
    runs: list[list[str]] = []
    previous_encoded = False
    for space, word in re.findall(r"( *)([^ ]+)", value):
        if word.startswith("=?") and word.endswith("?="):
            decoded = decode_word(word)
            if previous_encoded:
                runs[-1].append(decoded)
            else:
                parts.append(space)
                runs.append([decoded])
            parts.append(decoded)
            previous_encoded = True
        else:
            assert "=?" not in word, f"half an encoded-word, or one run into text: {word!r}"
            assert word.isascii() and word.isprintable()
            parts += [space, word]
            previous_encoded = False
    return Reading("".join(parts), tuple(tuple(run) for run in runs))


def _unfold(lines: list[str]) -> str:
    check_lines(lines)
    value = "".join(lines).split(":", 1)[1]
    assert value == "" or value.startswith(" ")
    return value[1:]


def read_unstructured(data: bytes, name: str = "Subject") -> Reading:
    """The text of an unstructured header, read strictly."""
    return read_words(_unfold(header_lines(data, name)))


def read_mailbox(data: bytes, name: str) -> tuple[Reading, str]:
    """(display name, addr-spec) of a one-address header, read strictly."""
    value = _unfold(header_lines(data, name))
    if not value.endswith(">"):
        return Reading("", ()), value
    phrase, _, spec = value[:-1].rpartition(" <")
    if phrase.startswith('"'):
        assert phrase.endswith('"')
        return Reading(re.sub(r"\\(.)", r"\1", phrase[1:-1]), ()), spec
    return read_words(phrase), spec


def assert_graphemes_whole(reading: Reading, longest_cluster_bytes: int = 42) -> None:
    """No encoded-word boundary inside a grapheme cluster, unless the cluster is longer than
    one encoded-word can hold (then it is cut between code points, which §5 allows)."""
    for run in reading.runs:
        text = "".join(run)
        clusters = {match.start(): match.group() for match in regex.finditer(r"\X", text)}
        boundaries = set(clusters) | {len(text)}
        offset = 0
        for piece in run[:-1]:
            offset += len(piece)
            if offset in boundaries:
                continue
            cluster = clusters[max(start for start in clusters if start < offset)]
            assert len(cluster.encode("utf-8")) > longest_cluster_bytes, (
                f"encoded-word boundary inside the grapheme {cluster!r}"
            )
