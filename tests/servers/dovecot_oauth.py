"""``oauth_mail``: Dovecot signing in by OAuth2 only, plus Postfix submission through it.

The Gmail / Microsoft 365 stand-in for docs/oauth.md's set-up, module-scoped:

* the local authorization server (:mod:`tests.servers.oauth`);
* a private Dovecot, configured like :mod:`tests.servers.dovecot`'s (its helpers are
  reused, its fixture is untouched) but with the ``oauth2`` passdb: it offers
  ``AUTH=XOAUTH2``/``OAUTHBEARER`` and validates each token by RFC 7662
  introspection (``introspection_mode = post``) against the authorization server;
* when running as root, a private Postfix (:mod:`tests.servers.postfix`'s
  configuration) whose submission port authenticates through that Dovecot's SASL
  socket, so ``AUTH XOAUTH2`` on submission is checked by the same introspection.
"""

from __future__ import annotations

import os
import pwd
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers.dovecot import DOVECOT, Dovecot, start_dovecot
from tests.servers.httpdouble import serve
from tests.servers.oauth import OAuthServer

if TYPE_CHECKING:
    from tests.servers.tls import TlsCert

USER = "odoo@example.test"


@dataclass
class OAuthMail:
    oauth: OAuthServer
    dovecot: Dovecot
    #: Postfix submission (STARTTLS) port, or None when not root.
    submission_port: int | None


def _oauth_config(base: str, users: Path, oauth_conf: Path) -> str:
    """The plain fixture's configuration with OAuth2 sign-in instead of passwords."""
    passwd_passdb = f"""passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}"""
    assert passwd_passdb in base, "tests/servers/dovecot.py changed its passdb block"
    text = base.replace(
        passwd_passdb, f"passdb {{\n  driver = oauth2\n  args = {oauth_conf}\n}}"
    )
    return text.replace("auth_mechanisms = plain login", "auth_mechanisms = xoauth2 oauthbearer")


def start(d: Path, tls: TlsCert, oauth: OAuthServer) -> Dovecot:
    """The private Dovecot of dovecot.py, its passdb checking tokens by introspection."""
    oauth_conf = d / "dovecot-oauth2.conf.ext"
    oauth_conf.write_text(
        f"introspection_mode = post\n"
        f"introspection_url = {oauth.url}/introspect\n"
        f"username_attribute = username\n"
        f"active_attribute = active\n"
        f"active_value = true\n"
        f"force_introspection = yes\n"
    )
    return start_dovecot(
        d,
        tls,
        user=USER,
        password="",  # the userdb still knows the mailbox; the passdb is OAuth2 only
        customise=lambda base, users: _oauth_config(base, users, oauth_conf),
    )


def _start_postfix(d: Path, dovecot: Dovecot) -> tuple[int, Path]:
    from tests.servers.postfix import _MASTER_CF, POSTFIX, _main_cf, _run
    from tests.servers.smtpsink import free_port, wait_for_port

    os.chmod(d, 0o755)
    config_dir, queue_dir = d / "conf", d / "queue"
    for sub in ("conf", "queue", "data", "log"):
        (d / sub).mkdir()
    postfix_user = pwd.getpwnam("postfix")
    os.chown(d / "data", postfix_user.pw_uid, postfix_user.pw_gid)
    port, smtps_port, strict_port = free_port(), free_port(), free_port()
    (config_dir / "main.cf").write_text(_main_cf(d, port, dovecot, {}))
    (config_dir / "master.cf").write_text(
        _MASTER_CF.format(port=port, smtps_port=smtps_port, strict_port=strict_port)
    )
    old = time.time() - 60  # master waits for configuration files modified just now
    for name in ("main.cf", "master.cf"):
        os.utime(config_dir / name, (old, old))
    started = _run(POSTFIX, "-c", str(config_dir), "start")
    if started.returncode != 0:
        log = (d / "log" / "maillog").read_text() if (d / "log" / "maillog").exists() else ""
        raise RuntimeError(f"postfix start failed: {started.stdout}{started.stderr}{log}")
    wait_for_port(port)
    return port, queue_dir


@pytest.fixture(scope="module")
def oauth_mail(tls_cert: TlsCert) -> Iterator[OAuthMail]:
    if not os.path.exists(DOVECOT):
        pytest.skip("Dovecot is not installed")
    from tests.servers.postfix import POSTFIX, _stop
    from tests.servers.smtpsink import stop_process_group

    oauth = OAuthServer(username=USER)
    with serve(oauth.app()) as url, tempfile.TemporaryDirectory(prefix="mailgate-oauth-") as tmp:
        oauth.url = url
        d = Path(tmp)
        os.chmod(d, 0o755)  # the mail user and postfix traverse it
        (d / "dovecot").mkdir()
        dovecot = start(d / "dovecot", tls_cert, oauth)
        queue_dir: Path | None = None
        try:
            port = None
            if os.geteuid() == 0 and os.path.exists(POSTFIX):
                (d / "postfix").mkdir()
                port, queue_dir = _start_postfix(d / "postfix", dovecot)
            yield OAuthMail(oauth, dovecot, port)
        finally:
            if queue_dir is not None:
                _stop(queue_dir)
            stop_process_group(dovecot.proc, signal.SIGKILL)
