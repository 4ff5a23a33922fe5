"""SendmailTransport: the private Postfix's sendmail, and fake programs for exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mailgate.outbound.base import CheckResult, DeliveryResult, Envelope
from mailgate.outbound.sendmail import SendmailConfig, SendmailTransport
from tests.servers.postfix import PostfixSubmission

RAW = (
    b"From: app@sender.test\r\nTo: alice@example.test\r\nSubject: via sendmail\r\n"
    b"\r\nHi.\r\n.\r\nend\r\n"
)


def fake_sendmail(directory: Path, body: str) -> Path:
    """Write an executable shell script standing in for sendmail."""
    path = directory / "sendmail"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def deliver(t: SendmailTransport, envelope: Envelope, raw: bytes = RAW) -> DeliveryResult:
    return asyncio.run(t.deliver(envelope, raw))


def check(t: SendmailTransport) -> CheckResult:
    return asyncio.run(t.check())


@pytest.mark.root
def test_postfix_sendmail_delivers_into_the_maildir(postfix_submission: PostfixSubmission) -> None:
    """The private Postfix's sendmail (-C its config) delivers; the Maildir has the message."""
    pf = postfix_submission
    t = SendmailTransport(SendmailConfig(args=pf.sendmail_args))
    result = deliver(t, Envelope("app@sender.test", (pf.dovecot.user,)))

    assert [(r.accepted, r.code) for r in result.recipients] == [(True, 0)]
    (stored,) = pf.dovecot.messages(expect=1)
    assert b"Subject: via sendmail" in stored
    assert b"\n.\n" in stored.replace(b"\r\n", b"\n")  # -i: a lone dot is message text
    assert "from=<app@sender.test>" in pf.log()


def test_arguments_and_stdin(tmp_path: Path) -> None:
    """The program gets -i -f SENDER, the extra args, --, the recipients, and the raw bytes."""
    record = tmp_path / "record.json"
    script = fake_sendmail(
        tmp_path,
        f'python3 -c \'import json,sys; json.dump({{"argv": sys.argv[1:], '
        f'"stdin": sys.stdin.buffer.read().decode()}}, open("{record}", "w"))\' "$@"\n',
    )
    t = SendmailTransport(SendmailConfig(path=str(script), args=["-C", "/etc/other"]))
    result = deliver(t, Envelope("bounce@sender.test", ("a@x.test", "-oi@x.test")))

    assert all(r.accepted for r in result.recipients)
    seen = json.loads(record.read_text())
    assert seen["argv"] == [
        "-i",
        "-f",
        "bounce@sender.test",
        "-C",
        "/etc/other",
        "--",
        "a@x.test",
        "-oi@x.test",
    ]
    assert seen["stdin"].encode() == RAW


def test_tempfail_is_transient(tmp_path: Path) -> None:
    """Exit 75 (EX_TEMPFAIL) is transient, with the program's error output as text."""
    script = fake_sendmail(tmp_path, 'cat >/dev/null; echo "queue file write error" >&2; exit 75\n')
    t = SendmailTransport(SendmailConfig(path=str(script)))
    (r,) = deliver(t, Envelope("a@s.test", ("r@x.test",))).recipients
    assert (r.accepted, r.code, r.permanent, r.text) == (False, 75, False, "queue file write error")


def test_other_exit_codes_are_permanent(tmp_path: Path) -> None:
    """Any other non-zero exit (here EX_NOUSER, 67) is permanent for every recipient."""
    script = fake_sendmail(tmp_path, 'cat >/dev/null; echo "r@x.test: unknown user" >&2; exit 67\n')
    t = SendmailTransport(SendmailConfig(path=str(script)))
    result = deliver(t, Envelope("a@s.test", ("r@x.test", "q@x.test")))
    assert [(r.accepted, r.code, r.permanent) for r in result.recipients] == [
        (False, 67, True),
        (False, 67, True),
    ]
    assert result.recipients[0].text == "r@x.test: unknown user"


def test_silent_failure_names_the_exit_code(tmp_path: Path) -> None:
    """A failing program with no error output still gets a readable text."""
    script = fake_sendmail(tmp_path, "cat >/dev/null; exit 1\n")
    t = SendmailTransport(SendmailConfig(path=str(script)))
    (r,) = deliver(t, Envelope("a@s.test", ("r@x.test",))).recipients
    assert r.text == f"{script} exited 1"


def test_timeout_is_transient(tmp_path: Path) -> None:
    """A program that never finishes is killed and the delivery deferred."""
    script = fake_sendmail(tmp_path, "exec sleep 600\n")
    t = SendmailTransport(SendmailConfig(path=str(script), timeout=0.2))
    (r,) = deliver(t, Envelope("a@s.test", ("r@x.test",))).recipients
    assert (r.accepted, r.permanent) == (False, False)
    assert "did not finish" in r.text


def test_missing_program_is_transient(tmp_path: Path) -> None:
    """A missing program defers delivery (an administrator can install it)."""
    t = SendmailTransport(SendmailConfig(path=str(tmp_path / "nope")))
    (r,) = deliver(t, Envelope("a@s.test", ("r@x.test",))).recipients
    assert (r.accepted, r.permanent) == (False, False)
    assert r.text.startswith(f"cannot run {tmp_path / 'nope'}")


def test_check(tmp_path: Path) -> None:
    """check() tells whether the program exists and is executable."""
    missing = tmp_path / "missing"
    plain = tmp_path / "plain"
    plain.write_text("not a program")
    script = fake_sendmail(tmp_path, "exit 0\n")

    assert check(SendmailTransport(SendmailConfig(path=str(script)))) == CheckResult(
        True, "connect success"
    )
    assert check(SendmailTransport(SendmailConfig(path=str(missing)))) == CheckResult(
        False, f"{missing} does not exist", "config"
    )
    assert check(SendmailTransport(SendmailConfig(path=str(plain)))) == CheckResult(
        False, f"{plain} is not executable", "config"
    )
