"""Turn the bytes of real-world mail into text: charset labels, RFC 2047 words, raw 8-bit.

Mail in the wild lies about its charset. The rules here, in order:

* a label is mapped to the codec that is a superset of what senders mean by it
  (GB2312 and GBK mail is really GB18030, Big5 is really CP950, ISO-8859-1 is
  really Windows-1252 — the WHATWG Encoding Standard documents the same habits);
* when the labelled codec fails, or there is no usable label, UTF-8 is tried,
  then the other charsets the message declares (``hint``); a short sample then
  tries Windows-1252 or GB18030, whichever its script suggests, since a
  statistical detector guesses exotic code pages on a few bytes; then charset
  detection (charset-normalizer), then Latin-1, which never fails;
* every fallback is reported as a short string so the caller can list it —
  :func:`is_warning` tells a complete reading (a note) from a lossy one (a
  defect) — decoding itself never raises.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Iterable
from functools import lru_cache

from mailgate.core import jis

jis.register()  # ISO-2022-JP with Windows' extensions (core/jis.py)

# Labels that name a subset of a codec mail software really uses. Each maps to
# codecs tried strictly in order before the generic fallbacks.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "cp936": ("gb18030",),
    "euc_cn": ("gb18030",),
    "x_gbk": ("gb18030",),
    "x_euc_cn": ("gb18030",),
    "csgb2312": ("gb18030",),
    "chinese": ("gb18030",),
    "gb_2312_80": ("gb18030",),
    "big5": ("cp950", "big5hkscs"),
    "big5_hkscs": ("big5hkscs", "cp950"),
    "x_x_big5": ("cp950", "big5hkscs"),
    "cn_big5": ("cp950", "big5hkscs"),
    "csbig5": ("cp950", "big5hkscs"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932", "shift_jis_2004"),
    "x_sjis": ("cp932", "shift_jis_2004"),
    "windows_31j": ("cp932",),
    "euc_jp": ("euc_jp", "euc_jis_2004"),
    "iso_2022_jp": ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_ext", jis.NAME),
    "euc_kr": ("cp949",),
    "ks_c_5601_1987": ("cp949",),
    "ks_c_5601": ("cp949",),
    "ksc5601": ("cp949",),
    "windows_949": ("cp949",),
    "iso_8859_1": ("cp1252", "latin_1"),
    "latin1": ("cp1252", "latin_1"),
    "latin_1": ("cp1252", "latin_1"),
    "iso_8859_8_i": ("iso8859_8",),
    "iso_8859_6_i": ("iso8859_6",),
    "windows_874": ("cp874",),
    "tis_620": ("cp874", "tis_620"),
    "x_mac_roman": ("mac_roman",),
    "unicode_1_1_utf_7": ("utf_7",),
    "utf8": ("utf_8",),
}

# Labels that say "I don't know": treated like no label at all.
_NO_LABEL = frozenset(
    {"", "unknown_8bit", "x_unknown", "unknown", "x_user_defined", "default", "8bit", "charset"}
)
# Labels meaning US-ASCII: 8-bit bytes under them are a sender bug; guess instead.
_ASCII = frozenset({"us_ascii", "ascii", "ansi_x3.4_1968", "iso646_us", "us", "7bit"})
# Python codecs that are text codecs by name but no charset a mail could mean.
_REFUSED = frozenset(
    {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)
_LABEL_JUNK = re.compile(r"[\s\"'<>;]+")
_NOT_ASCII_COMPATIBLE = re.compile(r"2022|utf.?(7|16|32)|^hz")


@lru_cache(maxsize=256)
def codecs_for(label: str | None) -> tuple[str, ...] | None:
    """Codecs to try for a charset label; ``()`` for US-ASCII, ``None`` for no usable label.

    Raises nothing: an unknown label is ``None`` like a missing one.
    """
    if label is None:
        return None
    key = _LABEL_JUNK.sub("", label).lower().replace("-", "_")
    # RFC 2231 §5 allows a language suffix on the charset of an encoded word.
    key = key.partition("*")[0]
    if key in _NO_LABEL:
        return None
    if key in _ASCII:
        return ()
    if key in _SUPERSETS:
        return _SUPERSETS[key]
    try:
        info = codecs.lookup(key)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return (info.name,)


def is_known_label(label: str | None) -> bool:
    """True when the label names a charset we can decode with (or US-ASCII)."""
    return codecs_for(label) is not None


def detect(data: bytes) -> str | None:
    """Best guess of the codec of unlabelled 8-bit bytes, or ``None`` when nothing fits."""
    from charset_normalizer import from_bytes  # heavy import, only for the rare unlabelled case

    best = from_bytes(data[:65536]).best()
    return None if best is None else str(best.encoding)


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


#: Up to this many bytes, a sample is too short for statistical detection.
SHORT_SAMPLE = 200
_HIGH_PAIR = re.compile(rb"[\x80-\xff]{2}")
_LOSSY = ("; decoded as latin-1", "; undecodable bytes replaced")


def is_warning(problem: str) -> bool:
    """True when ``problem`` only notes how text was read: every byte decoded strictly.

    The rest (bytes replaced, the Latin-1 last resort) are defects: text may be wrong.
    """
    return ("; decoded as " in problem or "; detected " in problem) and not problem.endswith(_LOSSY)


def script_codecs(data: bytes) -> tuple[str, str]:
    """Windows-1252 and GB18030, in the order the bytes suggest.

    Latin text has single 8-bit letters between ASCII ones ("Stra\\xdfe"); Chinese
    (GBK/GB18030) is made of pairs of 8-bit bytes.
    """
    high = sum(1 for b in data if b >= 0x80)
    paired = 2 * len(_HIGH_PAIR.findall(data))
    return ("gb18030", "cp1252") if paired * 2 > high else ("cp1252", "gb18030")


def _hints(hint: str | Iterable[str] | None) -> list[str]:
    if hint is None:
        return []
    return [hint] if isinstance(hint, str) else [h for h in hint if h]


def guess(data: bytes, hint: str | Iterable[str] | None = None) -> str | None:
    """The codec to read raw 8-bit ``data`` with: UTF-8, a hint, the script's, or detected."""
    for codec in ("utf_8", *_hints(hint)):
        if _try(data, codec) is not None:
            return codec
    if len(data) <= SHORT_SAMPLE:
        for codec in script_codecs(data):
            if _try(data, codec) is not None:
                return codec
    return detect(data)


def decode_bytes(
    data: bytes, label: str | None, *, hint: str | Iterable[str] | None = None
) -> tuple[str, str]:
    """Decode ``data`` labelled ``label``; return the text and what went wrong ("" if nothing).

    ``hint`` is a codec, or several, to try before guessing when the label fails or
    is missing (for raw 8-bit headers: the charsets the message declares elsewhere).
    """
    if data.isascii():
        tried = codecs_for(label)
        # 7-bit codecs (ISO-2022-*, UTF-7, HZ) and UTF-16/32 give other text for ASCII bytes.
        if tried and _NOT_ASCII_COMPATIBLE.search(tried[0]):
            for codec in tried:  # e.g. ISO-2022-JP's supersets, in order
                text = _try(data, codec)
                if text is not None:
                    return text.removeprefix("\ufeff"), ""
        return data.decode("ascii"), ""
    codec_list = codecs_for(label)
    if codec_list:
        for codec in codec_list:
            text = _try(data, codec)
            if text is not None:
                return text.removeprefix("\ufeff"), ""
    if codec_list is None and label is not None and label.strip():
        problem = f"unknown charset {label.strip()!r}"
    elif codec_list:
        problem = f"bytes invalid in charset {label!r}"
    else:
        problem = "8-bit bytes without a charset"
    fallbacks = ["utf_8", *_hints(hint)]
    if len(data) <= SHORT_SAMPLE:
        fallbacks.extend(script_codecs(data))
    for fallback in dict.fromkeys(fallbacks):
        attempt = _try(data, fallback)
        if attempt is not None:
            return attempt.removeprefix("\ufeff"), f"{problem}; decoded as {fallback}"
    detected = detect(data)
    if detected:
        text = _try(data, detected)
        if text is not None:
            return text, f"{problem}; detected {detected}"
    if codec_list:
        # Keep the label's reading of the good bytes rather than none at all.
        return data.decode(codec_list[0], "replace"), f"{problem}; undecodable bytes replaced"
    return data.decode("latin_1"), f"{problem}; decoded as latin-1"


# --- RFC 2047 encoded words -------------------------------------------------

# Encoded text may not hold "?" (RFC 2047 §2), so "[^?]*" finds the end of a word
# even when broken mailers put spaces inside it or no space between words.
ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([QqBb])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r?\n|\r")


def unfold(value: str) -> str:
    """Undo header folding (RFC 5322 §2.2.3): drop the CRLF, keep the whitespace."""
    if "\n" in value or "\r" in value:
        return _FOLD.sub("", value)
    return value


def _word_bytes(encoding: str, text: str) -> bytes:
    # Raw 8-bit bytes inside a word (kept as surrogates by the parser) are the word's
    # own bytes, in its declared charset: not allowed by RFC 2047 §5, but sent.
    raw = text.encode("utf-8", "surrogateescape")
    if encoding in "Bb":
        raw = raw.strip().rstrip(b"=")
        if len(raw) % 4 == 1:  # one stray character cannot encode anything
            raw = raw[:-1]
        return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
    # RFC 2047 §4.2: "_" is a space in the Q encoding.
    return binascii.a2b_qp(raw, header=True)


def decode_words(
    value: str, problems: list[str] | None = None, *, hint: str | Iterable[str] | None = None
) -> str:
    """Decode RFC 2047 encoded words in ``value``.

    Adjacent words in the same charset are joined as bytes before decoding, since
    senders split a multi-byte character across two words; whitespace between
    two encoded words is dropped (RFC 2047 §6.2).

    ``value`` may be the raw header read with surrogateescape: 8-bit bytes inside a
    word are decoded with the word's charset, those outside as :func:`raw_to_text`
    does (with ``hint``).
    """
    if "=?" not in value:
        return _raw_piece(value, problems, hint)
    pieces: list[tuple[bytes | str, str | None]] = []  # (bytes, charset) or (text, None)
    pos = 0
    for match in ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        pos = match.end()
        if between and not (between.isspace() and pieces and pieces[-1][1] is not None):
            pieces.append((between, None))
        charset = match.group(1)
        try:
            data = _word_bytes(match.group(2), match.group(3))
        except (binascii.Error, ValueError):
            if problems is not None:
                problems.append(f"undecodable encoded word {match.group(0)[:40]!r}")
            pieces.append((match.group(0), None))
            continue
        last = pieces[-1] if pieces else None
        if last is not None and last[1] is not None and last[1].lower() == charset.lower():
            assert isinstance(last[0], bytes)
            pieces[-1] = (last[0] + data, charset)
        else:
            pieces.append((data, charset))
    if not pieces:
        return _raw_piece(value, problems, hint)
    tail = value[pos:]
    if tail:
        pieces.append((tail, None))
    out: list[str] = []
    for piece, charset in pieces:
        if isinstance(piece, str):
            out.append(_raw_piece(piece, problems, hint))
            continue
        text, problem = decode_bytes(piece, charset)
        if problem and problems is not None:
            problems.append(f"encoded word: {problem}")
        out.append(text)
    return "".join(out)


def _raw_piece(value: str, problems: list[str] | None, hint: str | Iterable[str] | None) -> str:
    if value.isascii():
        return value
    text, problem = raw_to_text(value, hint=hint)
    if problem and problems is not None:
        problems.append(problem)
    return text


def raw_to_text(value: str, *, hint: str | Iterable[str] | None = None) -> tuple[str, str]:
    """Turn a header value read with surrogateescape into text; also what went wrong.

    ``email`` keeps raw 8-bit header bytes as lone surrogates; RFC 6532 allows
    UTF-8 there, older senders put their local charset (GBK, KOI8-R) in bare.
    """
    if value.isascii():
        return value, ""
    raw = value.encode("utf-8", "surrogateescape")
    text = _try(raw, "utf_8")
    if text is not None:
        return text, ""
    text, problem = decode_bytes(raw, "us-ascii", hint=hint)
    return text, ("raw 8-bit header: " + problem) if problem else ""
