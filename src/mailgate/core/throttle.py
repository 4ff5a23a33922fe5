"""Is an SMTP reply a receiving domain asking us to slow down? A pure classifier.

A throttling reply is not about the message or the recipient: retrying it at full
speed makes the receiver's opinion of the sending IP worse. The worker backs off
the whole destination domain instead (``queue/throttling.py``). What the large
receivers actually answer, as documented or widely reported by senders:

* **Gmail** ``421-4.7.28`` (unusual rate of unsolicited mail from your IP or
  domain), ``421-4.7.0 Try again later``, ``450-4.2.1`` (the user is receiving
  mail at a rate that prevents additional messages).
* **Outlook.com / Microsoft 365** ``451 4.7.500 Server busy. Please try again
  later`` and the rest of ``4.7.500``-``4.7.699`` (IP rate limits, reputation).
* **Yahoo / AOL** ``421 4.7.0 [TSS04]`` and ``[TS01]``/``[TS02]`` (temporarily
  deferred for volume or complaints); ``[TS03]`` says retrying will not succeed
  soon: the longest backoff.
* **QQ** answers *5xx* for its frequency limits (``550 Ip frequency limited``,
  ``550 Domain frequency limited``, ``550 Sender frequency limited``,
  ``550 Connection frequency limited``): the limit lifts after minutes to a day,
  so these are throttles, not permanent failures. ``550 Mail content denied`` is
  a content rejection and stays permanent.
* **NetEase (163.com, 126.com)** ``421 HL:IFC`` (too much mail in a short time),
  ``421 HL:ICC`` (too many concurrent connections), ``450/451 MI:DMC`` and
  ``450 RP:DRC`` (too much per connection), ``451 MI:SFQ`` (sender over its
  15-minute quota), ``451 RP:QRC`` (recipient quota).
* Any other ``421`` (service closing, try later) and generic 45x texts that say
  "rate", "too many", "try again later" or "throttl".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: How hard to back off: ``slow`` is minutes, ``block`` is hours (the receiver said
#: retrying soon will not work).
Severity = str


@dataclass(frozen=True, slots=True)
class Throttle:
    """A throttling reply: who said it, how hard to back off, and why (for the attempt)."""

    provider: str
    severity: Severity
    reason: str


_GREYLIST = re.compile(r"grey-?list|gray-?list", re.IGNORECASE)
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

#: (provider, severity, pattern on the reply text), first match wins.
_TEXTS: tuple[tuple[str, Severity, re.Pattern[str]], ...] = tuple(
    (provider, severity, re.compile(pattern, re.IGNORECASE))
    for provider, severity, pattern in (
        ("yahoo", "block", r"\[TS03\]"),
        ("yahoo", "slow", r"\[(TS01|TS02|TSS0\d)\]"),
        ("qq", "slow", r"\b(ip|domain|sender|connection) frequency limited\b"),
        ("netease", "slow", r"\b(HL:(IFC|ICC|REP|MEP)|MI:(DMC|SFQ|CCL)|RP:(DRC|QRC|CCL))\b"),
        ("gmail", "slow", r"\b4\.7\.28\b"),
        ("gmail", "slow", r"\b4\.2\.1\b.*\brate\b"),
    )
)


_GENERIC = re.compile(
    r"\b(rate[- ]?limit\w*|throttl\w*|too many (connections|messages|mails)"
    r"|frequency limit\w*|sending rate|try again later|server busy)\b",
    re.IGNORECASE,
)


def classify(code: int | None, enhanced: str | None, text: str | None) -> Throttle | None:
    """The throttle a reply means, or None when it is an ordinary success or failure.

    ``code`` is the SMTP reply code, ``enhanced`` the RFC 3463 status when the
    transport parsed one, ``text`` the reply text (the enhanced status is also
    looked for inside it).
    """
    text = text or ""
    if code is None or code < 400 or code >= 600:
        return None
    enhanced = enhanced or _first_enhanced(text)
    if _GREYLIST.search(text):
        return None  # greylisting wants one ordinary retry, not a slower domain
    probe = f"{enhanced} {text}" if enhanced else text  # "4.7.28" may come apart from the text
    for provider, severity, pattern in _TEXTS:
        if pattern.search(probe):
            if code >= 500 and provider not in ("qq",):
                return None  # a permanent reply that merely mentions a rate: not ours to retry
            return Throttle(provider, severity, _reason(code, enhanced, text))
    if code >= 500:
        return None
    if enhanced and _outlook_rate(enhanced):
        return Throttle("outlook", "slow", _reason(code, enhanced, text))
    if code == 421 or _GENERIC.search(
        text
    ):  # "service not available, closing transmission channel"
        return Throttle("generic", "slow", _reason(code, enhanced, text))
    return None


def _first_enhanced(text: str) -> str | None:
    m = _ENHANCED.search(text)
    return m.group(0) if m else None


def _outlook_rate(enhanced: str) -> bool:
    """Microsoft's 4.7.500-4.7.699: server busy, IP rate and reputation limits."""
    m = _ENHANCED.fullmatch(enhanced)
    return bool(m and m.group(1) == "4" and m.group(2) == "7" and 500 <= int(m.group(3)) <= 699)


def _reason(code: int, enhanced: str | None, text: str) -> str:
    head = f"{code} {enhanced}" if enhanced and enhanced not in text else str(code)
    return f"throttled by the receiving domain: {head} {text}".strip()[:500]


def backoff_seconds(strikes: int, severity: Severity, *, base: float, cap: float) -> float:
    """How long to leave a throttling domain alone: doubling per strike, capped.

    ``block`` (Yahoo TS03) starts 16 times higher: the receiver said retrying soon
    is pointless.
    """
    start = base * (16 if severity == "block" else 1)
    return float(min(cap, start * 2.0 ** max(0, strikes - 1)))


def cut_concurrency(current: int | None, default: int) -> int:
    """Halve the messages per claim to a throttling domain, never below one."""
    return max(1, (current if current is not None else default) // 2)
