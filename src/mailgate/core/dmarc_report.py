"""DMARC aggregate reports (RFC 7489 §7.2, Appendix C): the attachment a receiver mails
once a day about a domain's mail, read into a summary. Pure.

Receivers send one XML document per report, most often zipped (Google, Yahoo,
Microsoft) or gzipped (Mail.ru, many Postfix-based reporters), sometimes bare.
Every report arrives from the internet, so the reader is defensive: it refuses XML
with a document type declaration (no entity tricks: reports never declare one),
stops decompressing past :data:`MAX_XML` bytes (a zip bomb costs nothing), reads
only the first XML member of an archive, and keeps at most :data:`MAX_ROWS` rows.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from mailgate.core.message import Attachment

MAX_XML = 20 * 1024 * 1024  # the largest reports (big senders, a day) are a few MB
MAX_ROWS = 1000

_ZIP = {"application/zip", "application/x-zip-compressed", "application/x-zip"}
_GZIP = {"application/gzip", "application/x-gzip", "application/gzip-compressed"}
_XML = {"text/xml", "application/xml"}


class ReportError(ValueError):
    """The attachment is not a readable aggregate report; the message says why."""


@dataclass(slots=True)
class AggregateReport:
    org_name: str
    report_id: str
    begin: datetime
    end: datetime
    domain: str
    policy: str
    #: One per source: ``{"source_ip", "count", "disposition", "dkim", "spf",
    #: "header_from"}``, with ``dkim``/``spf`` the aligned DMARC results.
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(r["count"] for r in self.rows)

    @property
    def passed(self) -> int:
        """Messages that passed DMARC: aligned DKIM or aligned SPF."""
        return sum(r["count"] for r in self.rows if "pass" in (r["dkim"], r["spf"]))


def reports_in(attachments: list[Attachment]) -> tuple[list[AggregateReport], list[str]]:
    """The aggregate reports among ``attachments``, and why any candidate was refused."""
    found: list[AggregateReport] = []
    problems: list[str] = []
    for att in attachments:
        kind = _kind(att)
        if kind is None:
            continue
        try:
            found.append(parse_xml(_unpack(kind, att.data)))
        except ReportError as exc:
            problems.append(f"{att.filename or att.content_type}: {exc}")
    return found, problems


def _kind(att: Attachment) -> str | None:
    ctype = att.content_type.lower()
    name = (att.filename or "").lower()
    if ctype in _ZIP or name.endswith(".zip"):
        return "zip"
    if ctype in _GZIP or name.endswith((".gz", ".gzip")):
        return "gzip"
    if ctype in _XML or name.endswith(".xml"):
        return "xml"
    return None


def _unpack(kind: str, data: bytes) -> bytes:
    if kind == "xml":
        if len(data) > MAX_XML:
            raise ReportError(f"larger than {MAX_XML} bytes")
        return data
    if kind == "gzip":
        # Decompress in bounded steps: the declared size of a gzip stream is not to be trusted.
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(data, MAX_XML + 1)
        except zlib.error as exc:
            raise ReportError(f"not a readable gzip file ({exc})") from None
        if len(out) > MAX_XML:
            raise ReportError(f"expands past {MAX_XML} bytes")
        return out
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        member = next((i for i in archive.infolist() if i.filename.lower().endswith(".xml")), None)
        if member is None:
            raise ReportError("the zip file holds no .xml report")
        with archive.open(member) as fh:
            out = fh.read(MAX_XML + 1)
    except (zipfile.BadZipFile, zlib.error, gzip.BadGzipFile, NotImplementedError, OSError) as exc:
        raise ReportError(f"not a readable zip file ({exc})") from None
    if len(out) > MAX_XML:
        raise ReportError(f"expands past {MAX_XML} bytes")
    return out


def parse_xml(data: bytes) -> AggregateReport:
    """One ``<feedback>`` document, read into an :class:`AggregateReport`."""
    if b"<!doctype" in data.lower():
        raise ReportError("a document type declaration is not allowed in a DMARC report")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ReportError(f"not well-formed XML ({exc})") from None
    if _local(root.tag) != "feedback":
        raise ReportError(f"the root element is <{_local(root.tag)}>, not <feedback>")
    meta = _child(root, "report_metadata")
    published = _child(root, "policy_published")
    org = _text(meta, "org_name")
    report_id = _text(meta, "report_id")
    domain = _text(published, "domain").lower().rstrip(".")
    if not (org and report_id and domain):
        raise ReportError("org_name, report_id and policy_published/domain are required")
    dates = _child(meta, "date_range")
    begin, end = _epoch(_text(dates, "begin")), _epoch(_text(dates, "end"))
    report = AggregateReport(org[:255], report_id[:255], begin, end, domain, "")
    report.policy = _text(published, "p").lower()[:16]
    for rec in _children(root, "record")[:MAX_ROWS]:
        row, identifiers = _child(rec, "row"), _child(rec, "identifiers")
        evaluated = _child(row, "policy_evaluated")
        try:
            count = max(0, int(_text(row, "count") or "0"))
        except ValueError:
            raise ReportError("a record's count is not a number") from None
        report.rows.append(
            {
                "source_ip": _text(row, "source_ip")[:45],
                "count": count,
                "disposition": _text(evaluated, "disposition").lower()[:16],
                "dkim": _text(evaluated, "dkim").lower()[:16],
                "spf": _text(evaluated, "spf").lower()[:16],
                "header_from": _text(identifiers, "header_from").lower()[:253],
            }
        )
    return report


def _local(tag: str) -> str:
    # RFC 7489's later revision adds a namespace; reporters use both forms.
    return tag.rpartition("}")[2]


def _children(node: ElementTree.Element | None, name: str) -> list[ElementTree.Element]:
    return [] if node is None else [c for c in node if _local(c.tag) == name]


def _child(node: ElementTree.Element | None, name: str) -> ElementTree.Element | None:
    found = _children(node, name)
    return found[0] if found else None


def _text(node: ElementTree.Element | None, name: str) -> str:
    child = _child(node, name)
    return (child.text or "").strip() if child is not None else ""


def _epoch(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        raise ReportError(f"date_range holds {value!r}, not seconds since 1970") from None
