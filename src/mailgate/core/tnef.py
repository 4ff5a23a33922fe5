"""The files inside a winmail.dat (application/ms-tnef), Outlook's wrapper for attachments.

Decoding is done by the ``tnefparse`` library (MS-OXTNEF); this module only gives
it a typed, never-surprising face: names are text, data is bytes, and any trouble
in the library is one ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass

TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"  # MS-OXTNEF §2.1.3.1, little-endian 0x223E9F78


@dataclass(frozen=True, slots=True)
class TnefFile:
    """One file found inside a TNEF stream."""

    filename: str
    data: bytes


def _text(value: object) -> str:
    if isinstance(value, bytes):
        # Attachment names are in the stream's OEM code page; UTF-8 or Windows-1252 in practice.
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("cp1252", "replace")
    else:
        text = str(value or "")
    return text.strip("\x00").strip()


def tnef_files(data: bytes) -> list[TnefFile]:
    """The attachments in a TNEF stream, in order; raise ``ValueError`` if it is not one."""
    if not data.startswith(TNEF_SIGNATURE):
        raise ValueError("not a TNEF stream (bad signature)")
    import tnefparse  # only mail from Outlook needs it

    try:
        parsed = tnefparse.TNEF(data, do_checksum=False)
        found = [(_text(a.long_filename()), bytes(a.data or b"")) for a in parsed.attachments]
    except Exception as exc:  # the library raises whatever its struct reads hit
        raise ValueError(f"corrupt TNEF stream: {type(exc).__name__}") from exc
    return [
        TnefFile(name or f"attachment-{i}.bin", blob) for i, (name, blob) in enumerate(found, 1)
    ]
