"""Who may join a conversation by quoting it: a workspace's ``thread_admission``.

``"participants"`` (the default): a sender who is not a participant and has no
signed reply address opens a new conversation linked to the one they quoted
(``related_id``). ``"anyone"``: their mail joins the quoted thread, but they are
still never added to its participants or CC list. See docs/conversations.md.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailgate.errors import InvalidInput, NotFound
from mailgate.store.models import Workspace

THREAD_ADMISSION = ("participants", "anyone")


def _workspace(session: Session, workspace_id: str) -> Workspace:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound(f"no workspace {workspace_id}", field="workspace")
    return ws


def thread_admission(session: Session, workspace_id: str) -> str:
    return _workspace(session, workspace_id).thread_admission or "participants"


def set_thread_admission(session: Session, workspace_id: str, value: str) -> Workspace:
    """Set the policy; a value other than those in THREAD_ADMISSION names its field."""
    if value not in THREAD_ADMISSION:
        raise InvalidInput(
            f"thread_admission must be one of {', '.join(THREAD_ADMISSION)}",
            field="thread_admission",
        )
    ws = _workspace(session, workspace_id)
    ws.thread_admission = value
    return ws
