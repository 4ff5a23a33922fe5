"""``dovecot``: a private Dovecot with IMAP, POP3 and a SASL socket for Postfix.

Everything lives in a temporary directory: configuration, runtime sockets, logs
and the Maildir of one passwd-file user. IMAP and POP3 listen on free ports on
127.0.0.1 (STARTTLS / STLS with the ``tls_cert`` certificate, plaintext login
allowed for tests); the auth socket is a Unix socket Postfix SASL can use, and
Postfix's ``virtual`` agent can deliver straight into :attr:`Dovecot.maildir`.
The anvil auth penalty is disabled so a deliberate wrong password does not slow
the following logins. As root the mail user is ``nobody``; otherwise the
current user runs everything.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # a runtime import would load tls.py before pytest registers it
    from tests.servers.tls import TlsCert

DOVECOT = "/usr/sbin/dovecot"


@dataclass
class Dovecot:
    """A running private Dovecot and what a test needs to talk to it."""

    host: str
    imap_port: int
    pop3_port: int
    user: str
    password: str
    maildir: Path
    auth_socket: Path
    config_file: Path
    log_file: Path
    tls: TlsCert
    uid: int
    gid: int
    proc: subprocess.Popen[bytes]

    def messages(self, expect: int = 0, limit: float = 10) -> list[bytes]:
        """Raw messages in the inbox (new and cur), oldest first; waits for ``expect``."""
        deadline = time.monotonic() + limit
        while True:
            files = [p for sub in ("new", "cur") for p in (self.maildir / sub).glob("*")]
            if len(files) >= expect or time.monotonic() > deadline:
                files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
                return [p.read_bytes() for p in files]
            time.sleep(0.02)

    def add_message(self, raw: bytes, *, seen: bool = False) -> Path:
        """Drop ``raw`` into the inbox as a new (or, with ``seen``, read) message."""
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.mailgate"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, self.uid, self.gid)
        final = self.maildir / "cur" / f"{name}:2,S" if seen else self.maildir / "new" / name
        tmp.rename(final)
        return final


def _config(d: Path, tls: TlsCert, imap_port: int, pop3_port: int, users: Path) -> str:
    unprivileged = ""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        unprivileged = f"""
default_internal_user = {me}
default_internal_group = {me}
default_login_user = {me}
service imap-login {{
  chroot =
}}
service pop3-login {{
  chroot =
}}
"""
    return f"""
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = imap pop3
ssl = yes
ssl_cert = <{tls.cert_file}
ssl_key = <{tls.key_file}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# Answer a wrong password at once (the default waits 2 s).
auth_failure_delay = 0
mail_location = maildir:~/Maildir
postmaster_address = postmaster@example.test
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
# A failed login would otherwise delay the next ones by seconds.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{unprivileged}
"""


def start_dovecot(
    d: Path,
    tls: TlsCert,
    *,
    user: str,
    password: str,
    customise: Callable[[str, Path], str] | None = None,
) -> Dovecot:
    """Configure and start Dovecot in ``d`` (which must be reachable by the mail user).

    ``customise(config, users_file)`` rewrites the configuration before it starts (the
    OAuth2 passdb of dovecot_oauth.py); an empty ``password`` leaves the userdb without one.
    """
    # Loaded as a plugin before smtpsink: import at call time, not at import time.
    from tests.servers.smtpsink import free_port, stop_process_group, wait_for_port

    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    else:
        uid, gid = os.geteuid(), os.getegid()
    home = d / "home" / user.split("@")[0]
    maildir = home / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for path in (home, maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
        os.chown(path, uid, gid)
    users = d / "users"
    secret = f"{{PLAIN}}{password}" if password else ""
    users.write_text(f"{user}:{secret}:{uid}:{gid}::{home}::\n")
    imap_port, pop3_port = free_port(), free_port()
    config = d / "dovecot.conf"
    text = _config(d, tls, imap_port, pop3_port, users)
    config.write_text(customise(text, users) if customise else text)
    for sub in ("run", "state"):
        (d / sub).mkdir()
    os.chmod(d, 0o755)
    os.chmod(d / "run", 0o755)

    with (d / "dovecot.out").open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(imap_port, proc)
        wait_for_port(pop3_port, proc)
    except RuntimeError as exc:
        stop_process_group(proc)
        log = (d / "dovecot.out").read_text() + _read(d / "dovecot.log")
        raise RuntimeError(f"{exc}\n{log}") from None
    return Dovecot(
        host="127.0.0.1",
        imap_port=imap_port,
        pop3_port=pop3_port,
        user=user,
        password=password,
        maildir=maildir,
        auth_socket=d / "run" / "auth-postfix",
        config_file=config,
        log_file=d / "dovecot.log",
        tls=tls,
        uid=uid,
        gid=gid,
        proc=proc,
    )


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.fixture
def dovecot(tls_cert: TlsCert) -> Iterator[Dovecot]:
    """A fresh private Dovecot (user ``alice@example.test``, password ``alice-pw``)."""
    if not os.path.exists(DOVECOT):
        pytest.skip("Dovecot is not installed")
    # Imported here for the same plugin-order reason as in start_dovecot.
    from tests.servers.smtpsink import stop_process_group

    with tempfile.TemporaryDirectory(prefix="mailgate-dovecot-") as tmp:
        server = start_dovecot(Path(tmp), tls_cert, user="alice@example.test", password="alice-pw")
        try:
            yield server
        finally:
            # A graceful stop waits ~1.5 s for its children; a test instance has nothing
            # unsaved (Maildir writes are complete when a client sees the reply).
            stop_process_group(server.proc, signal.SIGKILL)
