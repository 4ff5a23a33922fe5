"""Reading a recipient list as a stream: CSV or JSON Lines, in flat memory.

The body arrives in chunks and leaves in batches of rows; nothing holds the whole
list. CSV has a header row with an ``email`` column, every other column is a
variable. Its encoding is UTF-8 (a byte-order mark is skipped) or, when the first
chunk is not UTF-8, GB18030 — what Excel writes on a Chinese Windows.
JSON Lines: one object per line, ``{"email": ..., "variables": {...}}`` or flat
``{"email": ..., "name": ...}``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mailgate.errors import InvalidInput

CSV = "text/csv"
NDJSON = "application/x-ndjson"
#: Rows per batch handed to the store (one transaction each).
BATCH = 5000
#: Invalid rows listed in the report (all are counted).
MAX_LISTED = 1000
_SNIFF = 64 * 1024

# A practical check for a bulk list (the full RFC 5321 parser costs 20 µs a row): one
# @, no spaces or specials in the local part, a dotted domain of letters, digits, hyphens.
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\\\"]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")


@dataclass(slots=True)
class Row:
    line: int
    email: str
    variables: dict[str, Any]


@dataclass(slots=True)
class Invalid:
    row: int
    reason: str


@dataclass(slots=True)
class Rejects:
    """Rows refused while reading: counted, the first ones listed."""

    count: int = 0
    listed: list[Invalid] = field(default_factory=list)

    def add(self, row: int, reason: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(Invalid(row, reason))


def check_email(value: str) -> str | None:
    """The lower-cased address, or None when it is not one."""
    value = value.strip()
    if len(value) > 318 or not _EMAIL.fullmatch(value):
        return None
    return value.lower()


class _Chunks(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (for TextIOWrapper and csv)."""

    def __init__(self, first: bytes, rest: Iterator[bytes]) -> None:
        self._buf = first
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._rest)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _head(chunks: Iterator[bytes]) -> bytes:
    """The first ~64 KB, for sniffing the encoding."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _SNIFF:
            break
    return head


def detect_encoding(head: bytes) -> str:
    """utf-8-sig for a BOM or valid UTF-8 (allowing a character cut at the end), else gb18030."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"


def read(
    content_type: str, chunks: Iterable[bytes], rejects: Rejects
) -> Iterator[list[Row]]:
    """Batches of valid rows; refused rows go to ``rejects``; a broken header raises."""
    kind = content_type.split(";", 1)[0].strip().lower()
    it = iter(chunks)
    if kind == CSV:
        return _csv(it, rejects)
    if kind in (NDJSON, "application/jsonl", "application/json-lines"):
        return _ndjson(it, rejects)
    raise InvalidInput(
        f"send the list as {CSV} or {NDJSON}, not {content_type or 'no content type'}",
        field="content-type",
    )


def _text(chunks: Iterator[bytes]) -> io.TextIOWrapper:
    head = _head(chunks)
    encoding = detect_encoding(head)
    return io.TextIOWrapper(
        io.BufferedReader(_Chunks(head, chunks), 1 << 16), encoding=encoding, newline=""
    )


def _csv(chunks: Iterator[bytes], rejects: Rejects) -> Iterator[list[Row]]:
    text = _text(chunks)
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if not header:
            raise InvalidInput("the CSV is empty: it needs a header row with email", field="body")
        names = [h.strip() for h in header]
        lowered = [n.lower() for n in names]
        if "email" not in lowered:
            raise InvalidInput(
                f"the CSV header has no email column (it has: {', '.join(names)})", field="header"
            )
        if len(set(lowered)) != len(lowered) or "" in lowered:
            raise InvalidInput("CSV header columns must be named and distinct", field="header")
        at = lowered.index("email")
        width = len(names)
        others = [(n, i) for i, n in enumerate(names) if i != at]
        batch: list[Row] = []
        try:
            for values in reader:
                line = reader.line_num
                if not values:
                    continue
                if len(values) != width:
                    rejects.add(line, f"{len(values)} columns; the header has {width}")
                    continue
                email = check_email(values[at])
                if email is None:
                    rejects.add(line, f"not an email address: {values[at][:100]!r}")
                    continue
                batch.append(Row(line, email, {n: values[i] for n, i in others}))
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
        except UnicodeDecodeError as e:
            raise InvalidInput(
                f"the CSV is not UTF-8 or GB18030 throughout (after line {reader.line_num}): {e}",
                field="body",
            ) from None
        except csv.Error as e:
            raise InvalidInput(f"CSV line {reader.line_num}: {e}", field="body") from None
        if batch:
            yield batch
    finally:
        text.detach()


def _ndjson(chunks: Iterator[bytes], rejects: Rejects) -> Iterator[list[Row]]:
    text = _text(chunks)
    batch: list[Row] = []
    try:
        for line, raw in enumerate(text, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError as e:
                rejects.add(line, f"not JSON: {e}")
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("email"), str):
                rejects.add(line, "each line is an object with an email string")
                continue
            email = check_email(obj["email"])
            if email is None:
                rejects.add(line, f"not an email address: {obj['email'][:100]!r}")
                continue
            variables = obj.get("variables")
            if not isinstance(variables, dict):
                variables = {k: v for k, v in obj.items() if k != "email"}
            batch.append(Row(line, email, variables))
            if len(batch) >= BATCH:
                yield batch
                batch = []
    except UnicodeDecodeError as e:
        what = f"the list is not UTF-8 or GB18030 throughout: {e}"
        raise InvalidInput(what, field="body") from None
    finally:
        text.detach()
    if batch:
        yield batch
