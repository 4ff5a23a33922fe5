"""Mail provider presets: where their servers are, and what to say when their login fails.

An administrator picks "QQ Mail" instead of typing ``smtp.qq.com``, 465 and implicit
TLS; and when the login is refused, the preset's hint says what that provider
actually wants (163 and QQ want the client *authorisation code*, not the password
people type into the web mail; Gmail wants an app password or OAuth). Pure data.

The host names and ports are the ones each provider publishes in its client
set-up help; a preset only fills what the administrator left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Server:
    host: str
    port: int
    security: str  # none | starttls | tls


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    label: str
    smtp: Server
    imap: Server | None
    pop3: Server | None
    #: Shown when AUTH fails: what this provider wants as the password.
    auth_hint: str
    #: What the username is (the whole address, the local part, an API user…).
    username: str = "the whole address"

    def public(self) -> dict[str, Any]:
        def server(s: Server | None) -> dict[str, Any] | None:
            return None if s is None else {"host": s.host, "port": s.port, "security": s.security}

        return {
            "name": self.name,
            "label": self.label,
            "smtp": server(self.smtp),
            "imap": server(self.imap),
            "pop3": server(self.pop3),
            "username": self.username,
            "auth_hint": self.auth_hint,
        }


def _p(
    name: str,
    label: str,
    smtp: tuple[str, int, str],
    imap: str | None,
    pop3: str | None,
    hint: str,
    username: str = "the whole address",
) -> Preset:
    return Preset(
        name,
        label,
        Server(*smtp),
        Server(imap, 993, "tls") if imap else None,
        Server(pop3, 995, "tls") if pop3 else None,
        hint,
        username,
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _p(
            "gmail",
            "Gmail / Google Workspace",
            ("smtp.gmail.com", 465, "tls"),
            "imap.gmail.com",
            "pop.gmail.com",
            "Gmail refuses the account password from mail clients: turn on 2-Step "
            "Verification and use an app password, or connect the account with OAuth.",
        ),
        _p(
            "microsoft365",
            "Microsoft 365 / Exchange Online",
            ("smtp.office365.com", 587, "starttls"),
            "outlook.office365.com",
            "outlook.office365.com",
            "Microsoft 365 turns basic SMTP AUTH off by default: enable Authenticated SMTP "
            "for this mailbox in the admin center, or connect the account with OAuth.",
        ),
        _p(
            "outlook",
            "Outlook.com / Hotmail",
            ("smtp-mail.outlook.com", 587, "starttls"),
            "outlook.office365.com",
            "outlook.office365.com",
            "Outlook.com no longer accepts the account password from mail clients: "
            "connect the account with OAuth.",
        ),
        _p(
            "exmail",
            "Tencent Exmail (腾讯企业邮)",
            ("smtp.exmail.qq.com", 465, "tls"),
            "imap.exmail.qq.com",
            "pop.exmail.qq.com",
            "With secure login (安全登录) on, Tencent Exmail wants a client-specific password "
            "(客户端专用密码) generated in its settings, not the login password.",
        ),
        _p(
            "qq",
            "QQ Mail (QQ邮箱)",
            ("smtp.qq.com", 465, "tls"),
            "imap.qq.com",
            "pop.qq.com",
            "QQ Mail wants the authorisation code (授权码) from Settings → Account → "
            "POP3/IMAP/SMTP service, not the QQ password; turn the service on there first.",
        ),
        _p(
            "163",
            "NetEase 163 Mail (网易163邮箱)",
            ("smtp.163.com", 465, "tls"),
            "imap.163.com",
            "pop.163.com",
            "163 Mail wants the client authorisation code (客户端授权密码) from Settings → "
            "POP3/SMTP/IMAP, not the login password; turn the service on there first.",
            "the whole address (older set-ups: the part before @)",
        ),
        _p(
            "126",
            "NetEase 126 Mail (网易126邮箱)",
            ("smtp.126.com", 465, "tls"),
            "imap.126.com",
            "pop.126.com",
            "126 Mail wants the client authorisation code (客户端授权密码) from Settings → "
            "POP3/SMTP/IMAP, not the login password; turn the service on there first.",
            "the whole address (older set-ups: the part before @)",
        ),
        _p(
            "aliyun",
            "Alibaba Mail (阿里企业邮箱)",
            ("smtp.qiye.aliyun.com", 465, "tls"),
            "imap.qiye.aliyun.com",
            "pop.qiye.aliyun.com",
            "Alibaba Mail: allow POP/SMTP/IMAP for the account in its settings; with "
            "two-factor login on, use a third-party client password (三方客户端安全密码).",
        ),
        _p(
            "zoho",
            "Zoho Mail",
            ("smtp.zoho.com", 465, "tls"),
            "imap.zoho.com",
            "pop.zoho.com",
            "Zoho with two-factor authentication wants an application-specific password; "
            "organisation accounts may need smtppro.zoho.com instead.",
        ),
        _p(
            "mailgun",
            "Mailgun SMTP",
            ("smtp.mailgun.org", 587, "starttls"),
            None,
            None,
            "Mailgun SMTP logs in with the domain's SMTP credentials (Sending → Domain "
            "settings → SMTP credentials), not the API key; EU domains use smtp.eu.mailgun.org.",
            "the SMTP login, e.g. postmaster@your-domain",
        ),
        _p(
            "sendcloud",
            "SendCloud SMTP",
            ("smtp.sendcloud.net", 465, "tls"),
            None,
            None,
            "SendCloud SMTP logs in with an API_USER and its API_KEY (Settings → API_USER), "
            "and the From domain must be a domain verified for that API_USER.",
            "the API_USER",
        ),
    )
}


def get(name: object) -> Preset | None:
    return PRESETS.get(name) if isinstance(name, str) else None
