"""The group commit waits for sessions that are reading a message, and for nothing else."""

from __future__ import annotations

import asyncio

from mailgate.inbound.groupcommit import GroupCommitter
from mailgate.inbound.pipeline import Incoming
from mailgate.runtime import Mailgate
from mailgate.services import tenancy
from mailgate.store.db import transaction

LONG = 60.0  # max_delay: a group that waited for it would fail the test's own bound


def _workspace(app: Mailgate) -> str:
    with transaction(app.sessions) as session:
        return tenancy.create_workspace(session, "acme").id


def test_a_group_commits_at_once_when_no_session_is_reading(mailgate_app: Mailgate) -> None:
    """Before: every group paused ``max_delay`` first, even with nobody left to join it."""
    ws = _workspace(mailgate_app)

    async def run() -> int:
        committer = GroupCommitter(mailgate_app, max_delay=LONG)
        await committer.start()
        try:
            unit = [Incoming(ws, b"Subject: alone\r\n\r\n", "smtp")]
            await asyncio.wait_for(committer.submit(unit), LONG / 4)
        finally:
            await committer.aclose()
        return committer.groups

    assert asyncio.run(run()) == 1


def test_a_group_waits_for_a_session_reading_its_message(mailgate_app: Mailgate) -> None:
    """A session past ``354`` (expect) joins the group that formed while it was reading."""
    ws = _workspace(mailgate_app)

    async def run() -> tuple[int, int]:
        committer = GroupCommitter(mailgate_app, max_delay=LONG)
        await committer.start()
        try:
            committer.expect()
            first = asyncio.create_task(
                committer.submit([Incoming(ws, b"Subject: first\r\n\r\n", "smtp")])
            )
            await asyncio.sleep(0.05)  # the lane holds the group open for the reader
            assert not first.done()
            committer.expected_done()
            second = committer.submit([Incoming(ws, b"Subject: second\r\n\r\n", "smtp")])
            await asyncio.wait_for(asyncio.gather(first, second), LONG / 4)
        finally:
            await committer.aclose()
        return committer.groups, committer.stored

    assert asyncio.run(run()) == (1, 2)
