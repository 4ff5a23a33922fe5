"""ISO-2022-JP as Windows writes it (Microsoft's CP50220): the NEC and IBM extensions.

Outlook and other Windows mail clients label Japanese mail ISO-2022-JP but put
in it the characters of code page 932 that JIS X 0208 lacks: circled numbers
("①"), Roman numerals ("Ⅳ"), "㈱" (NEC row 13), NEC-selected and IBM kanji
(rows 89–92, 115–119). Python's ``iso2022_jp*`` codecs refuse them, and a
7-bit text that fails to decode would otherwise be shown with its escape
sequences. This codec reads each two-byte JIS character as the Shift_JIS pair
it stands for and decodes that with cp932, which has them all; JIS X 0201
katakana (``ESC ( I``) is read the same way. JIS X 0212 (``ESC $ ( D``) has no
cp932 form and is refused, so ``iso2022_jp_2`` keeps answering for it.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

__all__ = ["NAME", "decode", "register"]

NAME = "x_iso2022_jp_ms"

_ESCAPES = {
    b"$@": "jis",
    b"$B": "jis",
    b"$(B": "jis",
    b"$(Q": "jis",  # JIS X 0213 plane 1: its JIS X 0208 part reads the same
    b"$(D": "jisx0212",
    b"(B": "ascii",
    b"(J": "ascii",  # JIS X 0201 Roman: ASCII but for "¥" and "‾", as Windows reads it
    b"(H": "ascii",
    b"(I": "kana",
}
_ESC = re.compile(rb"\x1b(\$@|\$B|\$\(B|\$\(Q|\$\(D|\(B|\(J|\(H|\(I)")


def _fail(data: bytes, start: int, end: int, reason: str) -> UnicodeDecodeError:
    return UnicodeDecodeError(NAME, data, start, end, reason)


def _jis_pair(j1: int, j2: int) -> bytes:
    """The Shift_JIS bytes of the JIS row/cell pair (j1, j2), both in 0x21–0x7E."""
    s1 = ((j1 - 0x21) >> 1) + 0x81
    if s1 > 0x9F:
        s1 += 0x40
    s2 = j2 + (0x1F if j2 < 0x60 else 0x20) if j1 & 1 else j2 + 0x7E
    return bytes((s1, s2))


def _chunk(data: bytes, start: int, end: int, mode: str) -> str:
    chunk = data[start:end]
    if mode == "ascii":
        if not chunk.isascii() or b"\x1b" in chunk:
            raise _fail(data, start, end, "8-bit byte or unknown escape in ASCII mode")
        return chunk.decode("ascii")
    if mode == "kana":
        if any(not 0x21 <= b <= 0x5F for b in chunk if b not in b"\r\n"):
            raise _fail(data, start, end, "byte outside JIS X 0201 katakana")
        return bytes(b + 0x80 if b not in b"\r\n" else b for b in chunk).decode("cp932")
    if mode != "jis":
        raise _fail(data, start, end, "JIS X 0212 has no cp932 form")
    out: list[str] = []
    sjis = bytearray()
    i = start
    while i < end:
        b = data[i]
        if b in b"\r\n":  # a line end left in two-byte mode (a sender bug): keep it
            out.append(bytes(sjis).decode("cp932"))
            sjis.clear()
            out.append(chr(b))
            i += 1
            continue
        if i + 1 >= end or not (0x21 <= b <= 0x7E and 0x21 <= data[i + 1] <= 0x7E):
            raise _fail(data, i, min(i + 2, end), "invalid JIS X 0208 pair")
        sjis += _jis_pair(b, data[i + 1])
        i += 2
    try:
        out.append(bytes(sjis).decode("cp932"))
    except UnicodeDecodeError as exc:
        raise _fail(data, start, end, f"no cp932 character: {exc.reason}") from None
    return "".join(out)


def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
    """Decode ISO-2022-JP with Microsoft's extensions; raises UnicodeDecodeError."""
    out: list[str] = []
    mode, pos = "ascii", 0
    for m in _ESC.finditer(data):
        out.append(_chunk(data, pos, m.start(), mode))
        mode, pos = _ESCAPES[m.group(1)], m.end()
    out.append(_chunk(data, pos, len(data), mode))
    return "".join(out), len(data)


def _search(name: str) -> codecs.CodecInfo | None:
    if name.replace("-", "_") != NAME:
        return None
    base = codecs.lookup("iso2022_jp")
    return codecs.CodecInfo(name=NAME, encode=base.encode, decode=_codec_decode)


def _codec_decode(data: Any, errors: str = "strict", /) -> tuple[str, int]:
    """``decode`` with the signature ``codecs`` expects (any buffer, positional)."""
    return decode(bytes(data), errors)


_registered = False


def register() -> None:
    """Make ``NAME`` known to ``bytes.decode`` (once per process)."""
    global _registered
    if not _registered:
        codecs.register(_search)
        _registered = True
