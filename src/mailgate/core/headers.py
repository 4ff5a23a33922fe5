"""Header safety and header encoding: injection refusal, RFC 2047 encoded words, folding.

Everything a caller puts in a header passes :func:`check_header` first, so no value can
smuggle a CR or LF (a second header, or the end of the header section) into the message.
The encoding helpers write header text by hand instead of through ``email.header.Header``:
they are several times faster and never split a multi-byte character (see compose.py).
"""

from __future__ import annotations

import base64
import re

from mailgate.errors import HeaderInjection, InvalidInput

# RFC 5322 §2.2: a field name is one or more printable US-ASCII characters except ":".
_FTEXT = re.compile(r"[!-9;-~]+\Z")
# RFC 5322 §2.1.1 asks lines to stay within 78 characters; a name that long cannot be folded.
MAX_NAME = 76
LINE = 76  # RFC 2047 §2 limits lines carrying encoded words to 76 characters.
_WORD = 75  # RFC 2047 §2: an encoded word is at most 75 characters.
_B_PREFIX = "=?utf-8?b?"
_Q_PREFIX = "=?utf-8?q?"
_OVERHEAD = len(_B_PREFIX) + 2  # prefix and the closing "?="

# Headers mailgate writes itself, with the API field a caller sets instead.
_OWNED = {
    "from": "from",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "sender": "the transport's sender policy",
    "reply-to": "reply_to",
    "subject": "subject",
    "date": "nothing: mailgate sets the Date",
    "message-id": "message_id",
    "in-reply-to": "in_reply_to",
    "references": "references",
    "mime-version": "text, html and attachments",
    "return-path": "the transport's bounce address",
    "received": "nothing: only relays add Received",
    "dkim-signature": "the sending domain's DKIM key",
    "authentication-results": "nothing: only receivers add it",
    "received-spf": "nothing: only receivers add it",
}
_OWNED_PREFIXES = {
    "content-": "text, html and attachments",
    "resent-": "nothing: mailgate does not resend (RFC 5322 §3.6.6)",
    "arc-": "nothing: only relays add ARC headers (RFC 8617)",
}


def check_header(name: str, value: str, *, field: str) -> None:
    """Refuse a header name outside RFC 5322 ftext or a value with CR, LF or NUL."""
    if not _FTEXT.match(name):
        raise HeaderInjection(
            f"header name {name!r} is invalid: use printable ASCII without spaces or ':'"
            " (RFC 5322 §2.2)",
            field=field,
        )
    if len(name) > MAX_NAME:
        raise HeaderInjection(f"header name is longer than {MAX_NAME} characters", field=field)
    # A bare CR or LF would end the field early and start a new one (RFC 5322 §2.2,
    # §2.2.3); NUL is forbidden anywhere in a message (RFC 5322 §3.5, RFC 5321 §4.1.1.4).
    for bad, label in (("\r", "carriage return"), ("\n", "line feed"), ("\0", "NUL")):
        if bad in value:
            raise HeaderInjection(f"{name} contains a {label}", field=field)


def caller_headers(headers: dict[str, str], *, field: str = "headers") -> dict[str, str]:
    """Validate a caller's extra headers; refuse those mailgate writes itself."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        where = f"{field}.{name}"
        if not isinstance(value, str):
            raise InvalidInput(f"header {name!r} must be a string", field=where)
        check_header(name, value, field=where)
        key = name.lower()
        instead = _OWNED.get(key)
        if instead is None:
            instead = next((v for p, v in _OWNED_PREFIXES.items() if key.startswith(p)), None)
        if instead is not None:
            raise InvalidInput(
                f"mailgate writes the {name} header itself; set {instead} instead",
                field=where,
            )
        if key in seen:
            raise InvalidInput(f"header {name} is given twice", field=where)
        seen.add(key)
        out[name] = value
    return out


# RFC 2047 §5(3): in a phrase only letters, digits and "!*+-/" stay bare; space is "_".
_Q_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/"
_Q_TABLE = [chr(b) if b in _Q_SAFE else f"={b:02X}" for b in range(256)]
_Q_TABLE[0x20] = "_"
_Q_COST = [len(t) for t in _Q_TABLE]


def _q_word(chunk: bytes) -> str:
    return _Q_PREFIX + "".join([_Q_TABLE[b] for b in chunk]) + "?="


def _b_word(chunk: bytes) -> str:
    return _B_PREFIX + base64.b64encode(chunk).decode("ascii") + "?="


def _char_start(raw: bytes, cut: int) -> int:
    # Step back over UTF-8 continuation bytes (10xxxxxx, RFC 3629 §3) so that a cut
    # never falls inside a character.
    while cut < len(raw) and raw[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut


def encode_words(text: str, first: int = _WORD) -> list[str]:
    """Encode ``text`` as UTF-8 encoded words (RFC 2047), B or Q, whichever is shorter.

    Each word is at most 75 characters (the first at most ``first``) and holds whole
    characters only, so every word decodes on its own (RFC 2047 §5: "each encoded-word
    MUST represent an integral number of characters"). Whitespace between adjacent
    encoded words is ignored when decoding (RFC 2047 §6.2), so the split is lossless.
    """
    raw = text.encode("utf-8")
    size = len(raw)
    q_len = 3 * size - 2 * (size - len(raw.translate(None, _Q_SAFE + b" ")))
    b_len = 4 * ((size + 2) // 3)
    budget = max(first, _OVERHEAD + 12) - _OVERHEAD
    use_q = q_len <= b_len
    if (q_len if use_q else b_len) <= budget:
        return [_q_word(raw) if use_q else _b_word(raw)]
    words: list[str] = []
    start = 0
    while start < size:
        if use_q:
            cut, used = start, 0
            while cut < size and used + _Q_COST[raw[cut]] <= budget:
                used += _Q_COST[raw[cut]]
                cut += 1
        else:
            cut = start + budget // 4 * 3
        cut = _char_start(raw, min(cut, size))
        if cut <= start:  # cannot happen with budget >= 12, but never loop forever
            cut = start + 1
            while cut < size and raw[cut] & 0xC0 == 0x80:
                cut += 1
        words.append(_q_word(raw[start:cut]) if use_q else _b_word(raw[start:cut]))
        start, budget = cut, _WORD - _OVERHEAD
    return words


def fold(name: str, tokens: list[str]) -> str:
    """Join ``tokens`` with single spaces into one field, folding before a token that
    would pass 76 characters (RFC 5322 §2.2.3: folding inserts CRLF before whitespace)."""
    lines: list[str] = []
    line = name + ":"
    for tok in tokens:
        # An empty token is a second space in a row: folding there would change the text.
        if tok and len(line) + 1 + len(tok) > LINE and line != name + ":":
            lines.append(line)
            line = " " + tok
        else:
            line = line + " " + tok
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _plain_ok(value: str) -> bool:
    # Written as is only when the text survives unfolding unchanged: printable ASCII,
    # single spaces, nothing that a reader would take for an encoded word (RFC 2047 §6.1).
    return (
        value.isascii()
        and value.isprintable()
        and "  " not in value
        and value == value.strip()
        and "=?" not in value
        and all(len(w) <= 900 for w in value.split(" "))
    )


def free_text(name: str, value: str) -> str:
    """A caller's header: kept as written when it is printable ASCII, else RFC 2047-encoded.

    Unlike :func:`unstructured` an ``=?`` is left alone: the caller may have encoded
    the value already, and structured values (List-Unsubscribe URLs) must stay verbatim.
    """
    text = value.replace("\t", " ")
    if text.isascii() and text.isprintable() and all(len(w) <= 900 for w in text.split(" ")):
        return fold(name, value.split(" "))
    return fold(name, encode_words(value, LINE - len(name) - 2))


def unstructured(name: str, value: str) -> str:
    """A complete unstructured field (RFC 5322 §3.2.5), RFC 2047-encoded when needed."""
    if not value:
        return name + ":\r\n"
    if _plain_ok(value):
        return fold(name, value.split(" "))
    return fold(name, encode_words(value, LINE - len(name) - 2))
