"""Signatures at the end of a reply: what is cut, and what is never cut.

Three shapes, tried in this order on the reply's lines:

1. RFC 3676 §4.3's "-- " line starts the signature wherever it is (the first
   one); "--" (clients that trim trailing blanks) and QQ Mail's rule of 18
   dashes only in the last ten lines.
2. The fixed footer a mobile or app client appends ("Sent from my iPhone",
   "Envoyé de mon iPhone", "Von meinem Mobilgerät gesendet", "Gesendet von Outlook
   für Android", "從我的 iPhone 傳送", "发自我的iPhone", "Sent with Airmail", …).
   It must be the whole line (a link HTML-to-text wrote after a word, "Proton Mail
   (https://proton.me/)", does not count), and near the end: among the last five non-blank
   lines, with at most three after it (a disclaimer, a link). A sentence that
   starts the same way ("Sent from my iPhone the photo was blurry") is content.
3. A valediction ("Best regards,", "Mit freundlichen Grüßen", "此致", also two at
   once: "Mit freundlichen Grüßen / Kind regards") followed by a block of two to
   twelve short lines of which one is contact-like (a phone number, URL, address,
   job title or company; two when the block is longer than eight lines): the
   Outlook/Foxmail habit of a signature without "-- ". A confidentiality notice
   at the block's end may be one long line. The valediction stays (both lines of
   "此致 / 敬礼"), the block goes. A name alone ("Thanks,\\nFrank") is kept: it
   may be all the reply there is.
"""

from __future__ import annotations

import re

__all__ = ["strip_signature"]

_TAIL = r"\s*(?:<[^<>]{0,200}>|\[[^\[\]]{0,200}\]|\([^()]{0,200}\))?\s*[.!。]?$"
_W = r"[^\s:：]{1,30}"  # one word of a device or app name
_WORDS = rf"{_W}(?:\s{_W}){{0,4}}"  # a device or app name of up to five words
# One alternative per language or client; each must be the whole line.
_FOOTERS = (
    rf"Sent from my {_W}(?:\s{_W}){{0,3}}",
    # "…, please excuse any typos" / "Please excuse brevity" after the device.
    rf"Sent from my {_W}(?:\s{_W}){{0,2}}[,.;]?\s(?:please\s)?(?:excuse|forgive|pardon)\s"
    r"(?:any\s|the\s|my\s)?(?:typos|brevity|spelling|errors|mistakes|autocorrect)"
    r"(?:\s(?:and|&)\s(?:typos|brevity|spelling|errors|mistakes))?",
    rf"Sent (?:from|with|using|via) (?:the )?{_WORDS}",
    # BlackBerry and AOL write longer lines: "Sent from my BlackBerry® wireless device",
    # "… smartphone on the Verizon Wireless 4G LTE network", "the all new AOL app for iOS".
    r"Sent from my (?:Verizon(?: Wireless)? )?BlackBerry(?:®|\s\d+)?(?: [^\s,.]{1,15}){0,10}",
    # US carriers' Samsung footers: "Sent via the Samsung Galaxy S23, an AT&T 5G smartphone".
    r"Sent (?:from|via) (?:my |the )?(?:(?:Sprint|Verizon|T-Mobile|AT&T),? )?Samsung(?: Galaxy)?"
    r"(?: [^\s,]{1,12}){0,3}(?:, an? [\w&\- ]{1,40}smartphone)?",
    rf"Sent from the all new AOL app for {_W}|Sent from AOL Mobile Mail",
    rf"Get Outlook (?:for|on) {_W}(?:\s{_W})?",
    r"Sent from Mail\s?<[^<>]{0,200}>\s?for Windows(?: 1[01])?",  # the link is mid-line
    rf"Envoyé (?:de|depuis|à partir de|avec) (?:mon |ma |l'application |l'appli )?{_WORDS}",
    rf"(?:Obtenir|Télécharger) Outlook pour {_W}",
    rf"Von meine[mr] {_W}(?:\s{_W}){{0,3}} gesendet",
    rf"Gesendet (?:von|mit|vom|aus) (?:meine[mr] |der )?{_WORDS}",
    rf"Outlook für {_W} (?:beziehen|herunterladen)",
    rf"Enviado (?:desde|do|da|de|con|com) (?:mi |meu |minha |o |a )?{_WORDS}",
    rf"(?:Obtener Outlook para|Obter o Outlook para|Baixe o Outlook para) {_W}",
    rf"Inviato (?:da|dal|dalla|con) (?:mio |mia |il |l')?{_WORDS}|Scarica Outlook per {_W}",
    rf"(?:Verzonden|Verstuurd) (?:vanaf|van|met|via) (?:mijn )?{_WORDS}",
    rf"Outlook voor {_W} downloaden",
    rf"(?:Skickat från|Sendt fra) (?:min |mitt )?{_WORDS}",
    rf"Lähetetty (?:iPhonesta|iPadista|Androidista|{_W}:n? kautta|{_W}(?:\s{_W}){{0,3}}sta)",
    rf"(?:Wysłane|Wysłano) z (?:mojego |mojej )?{_WORDS}|Odesláno z {_WORDS}",
    rf"Отправлено (?:с|из|со) (?:моего |мобильной )?{_WORDS}|Надіслано з {_WORDS}",
    rf"Enviat des del (?:meu )?{_WORDS}|Αποστολή από {_WORDS}|Trimis de pe {_WORDS}",
    rf"{_W}(?:\s{_W})?から送信|{_W}(?:\s{_W})?에서 보냄|{_W}'?(?:dan|den|tan|ten) gönderildi",
    r"发自我的\s?\S{1,20}|发自\s?(?:网易邮箱大师|网易邮箱|QQ邮箱|QQ|企业微信|钉钉|Outlook)\S{0,20}",
    r"来自网易邮箱大师|来自我的\s?\S{1,20}|从我的\s?\S{1,20}\s?发送|從我的\s?\S{1,20}\s?傳送",
    r"寄件自我的\s?\S{1,20}|使用\s?\S{1,20}\s?(?:发送|傳送)",
)
_FOOTER_RE = re.compile(rf"^(?:{'|'.join(_FOOTERS)}){_TAIL}", re.I)
# A cheap test before the regex: a footer's first word, or its ending.
_FOOTER_FIRST = frozenset(
    {
        "sent", "get", "envoyé", "obtenir", "télécharger", "von", "gesendet", "outlook", "enviado",
        "obtener", "obter", "baixe", "inviato", "scarica", "verzonden", "verstuurd", "skickat",
        "sendt", "lähetetty", "wysłane", "wysłano", "odesláno", "отправлено", "надіслано",
        "enviat", "αποστολή", "trimis",
    }
)  # fmt: skip
_FOOTER_START = ("发自", "来自", "从我的", "從我的", "寄件自", "使用")
_FOOTER_END = ("から送信", "에서 보냄", "gönderildi")


def _may_be_footer(line: str) -> bool:
    return (
        line.split(None, 1)[0].lower() in _FOOTER_FIRST
        or line.startswith(_FOOTER_START)
        or any(end in line for end in _FOOTER_END)
    )


_VALEDICTION_RE = re.compile(
    r"^(?:(?:best|kind|warm|warmest|many|with best|with kind)?\s?(?:regards|wishes)"
    r"|best|cheers|thanks|thank you|many thanks|thanks (?:and|&) regards|sincerely"
    r"|yours (?:sincerely|faithfully|truly)|respectfully|br|rgds|tia"
    r"|thanks (?:in advance|again|so much|a lot)|thank you (?:very much|so much|again)"
    r"|all the best|take care|greetings|kindest regards|best wishes|yours"
    r"|mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|viele grüße"
    r"|beste grüße|liebe grüße|grüße|gruß|mfg|lg|vg|mit besten grüßen|herzliche grüße"
    r"|schöne grüße|danke|vielen dank|besten dank"
    r"|cordialement|bien cordialement|bien à vous|salutations|sincères salutations"
    r"|merci|merci beaucoup|bonne journée|bien amicalement"
    r"|saludos|saludos cordiales|un saludo|atentamente|atenciosamente|abraços|cumprimentos"
    r"|gracias|muchas gracias|un abrazo|obrigad[oa]|muito obrigad[oa]"
    r"|cordiali saluti|distinti saluti|saluti|grazie|grazie mille"
    r"|met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|groeten|groet"
    r"|med vänliga hälsningar|vänliga hälsningar|hälsningar|mvh|med venlig hilsen"
    r"|venlig hilsen|med vennlig hilsen|vennlig hilsen|ystävällisin terveisin|terveisin"
    r"|pozdrawiam|z poważaniem|dziękuję|с уважением|с наилучшими пожеланиями|спасибо"
    r"|tack|kiitos|takk|tak|s pozdravem|üdvözlettel|saygılarımla"
    r"|此致\s*敬礼|此致|敬礼|祝好|谢谢|多谢|感谢|顺祝商祺|祝商祺|商祺|顺颂商祺|顺颂时祺|祝工作顺利"
    r"|敬上|謝謝|順頌時祺|祝順利"
    r"|よろしくお願いします|よろしくお願いいたします|宜しくお願い致します|감사합니다)"
    r"[\s,.!，。！、]*$",
    re.I,
)
_CONTACT_RE = re.compile(
    r"(?:\+?\d[\d ().\-/]{6,}\d)|https?://|\bwww\.|@[\w-]+\.|\b(?:tel|phone|mobile|mob|cell|fax"
    r"|direct|office|skype|wechat|e-?mail)\b\s*[:.]|^[TMFEWP]\s?[:.]\s|\|"
    r"|\b(?:manager|director|engineer|officer|ceo|cto|cfo|coo|founder|president|head of"
    r"|support|sales|marketing|consultant|specialist|assistant|coordinator|administrator"
    r"|team|department|ltd|inc|gmbh|llc|corp|co\.|s\.a\.|sarl|b\.v\.|ag|oy|ab|plc)\b"
    r"|电话|手机|传真|地址|邮箱|网址|經理|经理|总监|主管|工程师|有限公司|公司|集团|部$",
    re.I,
)


def strip_signature(lines: list[str]) -> list[str]:
    """``lines`` without the trailing signature (and without trailing blank lines)."""
    end = _trim(lines, len(lines))
    for i in range(end):
        if lines[i] == "-- ":  # RFC 3676 §4.3: the signature starts at the first one
            end = _trim(lines, i)
            break
    # Until nothing changes: a cut can bare another signature line (a footer above
    # a signature), and the result must be stable when fed back. Each round looks
    # at the last few lines of lines[:end] only, and copies nothing.
    while True:
        before = end
        end = _cut_after_valediction(lines, _cut_footer(lines, _cut_trailing_dashes(lines, end)))
        if end == before:
            return lines[:end]


# "--" alone (a client trimmed the space), and QQ Mail's rule of 18 dashes over its
# signature (its HTML signature block, rendered as text).
_TRAILING_RULES = frozenset({"--", "-" * 18})


def _cut_trailing_dashes(lines: list[str], end: int) -> int:
    """A signature rule without the space starts a signature in the last ten lines."""
    for i in range(max(0, end - 10), end):
        if lines[i].strip() in _TRAILING_RULES:
            return _trim(lines, i)
    return end


def _trim(lines: list[str], end: int) -> int:
    """``end`` moved back over blank lines."""
    while end and not lines[end - 1].strip():
        end -= 1
    return end


def _nonblank_from_end(lines: list[str], end: int, count: int) -> list[int]:
    found: list[int] = []
    for i in range(end - 1, -1, -1):
        if lines[i].strip():
            found.append(i)
            if len(found) == count:
                break
    return found


def _cut_footer(lines: list[str], end: int) -> int:
    candidates = _nonblank_from_end(lines, end, 5)
    for rank in range(min(len(candidates) - 1, 3), -1, -1):  # earliest first, ≤ 3 after it
        i = candidates[rank]
        line = lines[i].strip()
        if len(line) > 120 or not _may_be_footer(line):
            continue
        if _FOOTER_RE.match(line) or _FOOTER_RE.match(_LINK_RE.sub("", line)):
            return _trim(lines, i)
    return end


# A link as HTML-to-text writes it after its text ("Proton Mail (https://proton.me/)").
_LINK_RE = re.compile(r"\s?[(<]https?://[^()<>\s]{1,200}[)>]")


# A confidentiality footer below a signature block may be one long line.
_DISCLAIMER_RE = re.compile(
    r"confidential|privileged|intended (?:solely |only )?for|disclaimer|vertraulich"
    r"|confidentiel|confidencial|riservat|保密|机密|免责|機密",
    re.I,
)


def _is_valediction(line: str) -> bool:
    """ "Best regards,", also two languages at once: "Mit freundlichen Grüßen / Kind regards"."""
    if len(line) > 80:
        return False
    if len(line) <= 40 and _VALEDICTION_RE.match(line):
        return True
    parts = re.split(r"\s[/|]\s", line)
    return len(parts) > 1 and all(_VALEDICTION_RE.match(p.strip()) for p in parts)


def _cut_after_valediction(lines: list[str], end: int) -> int:
    candidates = _nonblank_from_end(lines, end, 14)
    for rank in range(len(candidates) - 1, 1, -1):  # earliest first, 2+ lines after it
        i = candidates[rank]
        line = lines[i].strip()
        if not _is_valediction(line):
            continue
        block = [lines[j].strip() for j in candidates[:rank]]
        if len(block) > 12 or any(
            (len(b) > 80 and not _DISCLAIMER_RE.search(b)) or b.endswith(("?", "？")) for b in block
        ):
            continue
        contacts = sum(1 for b in block if _CONTACT_RE.search(b))
        # A long block (an address, several numbers) needs more than one contact line.
        if contacts >= (2 if len(block) > 8 else 1):
            # A valediction on two lines ("此致" / "敬礼", "Thanks and" …) stays whole.
            while rank > 1 and _is_valediction(lines[candidates[rank - 1]].strip()):
                rank -= 1
            return candidates[rank] + 1
    return end
