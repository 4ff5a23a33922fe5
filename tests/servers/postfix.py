"""``postfix_submission``: a private Postfix (root only) in front of the private Dovecot.

``postfix -c DIR start`` with its own configuration, queue, data and log
directories, listening only on 127.0.0.1:

* a submission port (free port) that requires STARTTLS (``tls_cert``) and SASL
  authentication through the Dovecot auth socket before it relays anything, and
  an implicit-TLS port (``smtps_port``, RFC 8314 "submissions") with the same rules;
* local delivery for ``example.test``: Postfix's ``virtual`` agent writes into the
  Dovecot user's Maildir, so a test reads the message back with
  :meth:`Dovecot.messages` (or over IMAP/POP3);
* every other destination goes to the ``error`` transport: nothing ever leaves.

Its ``sendmail`` works with ``-C <config_dir>`` and delivers the same way.
Postfix refuses to run as a normal user: the fixture skips then.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.dovecot import Dovecot

POSTFIX = "/usr/sbin/postfix"
DOMAIN = "example.test"


@dataclass
class PostfixSubmission:
    """A running private Postfix: where to submit, and how to run its sendmail."""

    host: str
    port: int
    smtps_port: int
    #: Submission that refuses a MAIL FROM other than the login, as QQ, 163 and Exchange
    #: Online do ("553 ... not owned by user"): the case sender policies exist for.
    strict_port: int
    config_dir: Path
    queue_dir: Path
    log_file: Path
    dovecot: Dovecot
    domain: str = DOMAIN

    @property
    def sendmail_args(self) -> list[str]:
        """Extra sendmail arguments selecting this instance."""
        return ["-C", str(self.config_dir)]

    def log(self) -> str:
        """The instance's mail log so far (for failure messages)."""
        return self.log_file.read_text() if self.log_file.exists() else ""


def _main_cf(d: Path, port: int, dovecot: Dovecot, routes: dict[str, int]) -> str:
    tls = dovecot.tls
    mailbox = dovecot.maildir.relative_to(dovecot.maildir.parent.parent)
    # Domains relayed to a loopback port (mailgate's listener), everything else refused.
    relay = " ".join(f"{dom}=smtp:[127.0.0.1]:{p}" for dom, p in routes.items())
    relay_domains = " ".join(routes)
    transport_maps = f"inline:{{ {relay} }}" if routes else ""
    return f"""\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination =
mynetworks = 127.0.0.1/32
alias_maps =
alias_database =
biff = no
smtpd_peername_lookup = no
maillog_file = {d}/log/maillog
maillog_file_prefixes = {d}/log
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {dovecot.maildir.parent.parent}
virtual_mailbox_maps = inline:{{ {dovecot.user}={mailbox}/ }}
virtual_uid_maps = static:{dovecot.uid}
virtual_gid_maps = static:{dovecot.gid}
virtual_minimum_uid = 1
relay_domains = {relay_domains}
transport_maps = {transport_maps}
default_transport = error:outside delivery is disabled in tests
relay_transport = error:outside delivery is disabled in tests
smtpd_tls_cert_file = {tls.cert_file}
smtpd_tls_key_file = {tls.key_file}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {dovecot.auth_socket}
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
strict_login_maps = inline:{{ {dovecot.user}={dovecot.user} }}
"""


# Every service with chroot off (fifth column "n").
_MASTER_CF = """\
{port} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
{smtps_port} inet n - n - - smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
{strict_port} inet n - n - - smtpd
  -o syslog_name=postfix/strict
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sender_login_maps=$strict_login_maps
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def _stop(queue_dir: Path) -> None:
    """Kill the master's process group (it runs its own session, holding every child).

    A graceful ``postfix stop`` takes about a second; a test instance has nothing to save.
    """
    try:
        pid = int((queue_dir / "pid" / "master.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    # The master is not our child: wait until it is gone or a zombie for init to reap.
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (OSError, IndexError):
            return
        time.sleep(0.01)


@pytest.fixture
def postfix_routes() -> dict[str, int]:
    """Domains the private Postfix relays to a loopback port; override it in a test module."""
    return {}


@pytest.fixture
def postfix_submission(
    dovecot: Dovecot, postfix_routes: dict[str, int]
) -> Iterator[PostfixSubmission]:
    """A private Postfix: STARTTLS + SASL submission on a free port, delivery to Dovecot."""
    if os.geteuid() != 0:
        pytest.skip("a private Postfix needs root (postfix refuses to run as a normal user)")
    if not os.path.exists(POSTFIX):
        pytest.skip("Postfix is not installed")
    from tests.servers.smtpsink import free_port, wait_for_port  # loaded after this plugin

    with tempfile.TemporaryDirectory(prefix="mailgate-postfix-") as tmp:
        d = Path(tmp)
        os.chmod(d, 0o755)  # a 0700 directory breaks master.lock and the postfix user
        config_dir, queue_dir = d / "conf", d / "queue"
        for sub in ("conf", "queue", "data", "log"):
            (d / sub).mkdir()
        postfix_user = pwd.getpwnam("postfix")
        os.chown(d / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        port, smtps_port, strict_port = free_port(), free_port(), free_port()
        (config_dir / "main.cf").write_text(_main_cf(d, port, dovecot, postfix_routes))
        (config_dir / "master.cf").write_text(
            _MASTER_CF.format(port=port, smtps_port=smtps_port, strict_port=strict_port)
        )
        # master waits ~2 s for configuration files modified in the last seconds.
        old = time.time() - 60
        for name in ("main.cf", "master.cf"):
            os.utime(config_dir / name, (old, old))
        server = PostfixSubmission(
            host="127.0.0.1",
            port=port,
            smtps_port=smtps_port,
            strict_port=strict_port,
            config_dir=config_dir,
            queue_dir=queue_dir,
            log_file=d / "log" / "maillog",
            dovecot=dovecot,
        )
        try:
            check = _run(POSTFIX, "-c", str(config_dir), "check")
            start = _run(POSTFIX, "-c", str(config_dir), "start")
            if start.returncode != 0:
                raise RuntimeError(
                    f"postfix start failed: {check.stderr}{start.stderr}{server.log()}"
                )
            wait_for_port(port)
            wait_for_port(smtps_port)
            wait_for_port(strict_port)
            yield server
        finally:
            _stop(queue_dir)
