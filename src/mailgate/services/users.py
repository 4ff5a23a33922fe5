"""Console users: accounts, argon2id passwords, server-side sessions, login throttling.

Three roles (docs/console.md): an **operator** runs the installation and sees every
workspace; an **admin** configures one workspace; an **agent** works its
conversations only. A session is a random cookie value of which only the sha256
is stored, so a copy of the database signs nobody in. Failed sign-ins are counted
per account and per client address in the database, so every process shares them:
after ``FREE_FAILURES`` failures each further one locks the key for twice as long
as the one before, up to ``MAX_LOCK``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailgate.core.addresses import parse_address
from mailgate.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from mailgate.services import conversations
from mailgate.store.models import (
    ConsoleSession,
    ConsoleUser,
    LoginThrottle,
    Workspace,
    new_id,
    utcnow,
)

ROLES = ("operator", "admin", "agent")
LANGUAGES = ("zh_CN", "en")
SESSION_LIFETIME = timedelta(days=7)
MIN_PASSWORD = 8
#: Failures allowed before a key is locked; then each failure doubles the lock.
FREE_FAILURES = 5
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
#: A key whose last failure is older than this starts again from zero.
FORGET_AFTER = timedelta(hours=1)

_hasher = PasswordHasher()  # argon2id with the library's current parameters
#: Checked when the e-mail is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class TooManyAttempts(Forbidden):
    """Sign-in refused without looking at the password: wait ``retry_after`` seconds."""

    code = "too_many_attempts"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed sign-ins; try again in {retry_after} seconds", field="email"
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignedIn:
    """A live session's user, as the console needs it (no ORM object outlives its session)."""

    user_id: str
    email: str
    role: str
    workspace_id: str | None
    language: str | None
    timezone: str | None
    csrf_token: str

    @property
    def operator(self) -> bool:
        return self.role == "operator"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalise_email(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput("an e-mail address is required", field="email")
    return parse_address(value, field="email").address.lower()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"a password has at least {MIN_PASSWORD} characters", field="password"
        )


def check_timezone(value: str | None) -> str | None:
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{value!r} is not an IANA time zone", field="timezone") from None
    return value


def check_language(value: str | None) -> str | None:
    if not value:
        return None
    if value not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    return value


def create_user(
    session: Session,
    email: str,
    password: str,
    role: str,
    workspace_id: str | None,
    *,
    language: str | None = None,
    timezone: str | None = None,
) -> ConsoleUser:
    """A new user. Operators belong to no workspace; admins and agents to exactly one."""
    email = normalise_email(email)
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if (role == "operator") != (workspace_id is None):
        raise InvalidInput(
            "an operator belongs to no workspace; an admin or agent needs one", field="workspace"
        )
    if workspace_id is not None and session.get(Workspace, workspace_id) is None:
        raise NotFound(f"no workspace {workspace_id}", field="workspace")
    check_password(password)
    if session.scalar(select(ConsoleUser).where(ConsoleUser.email == email)):
        raise Conflict(f"a user {email} exists already", field="email")
    user = ConsoleUser(
        id=new_id("usr"),
        email=email,
        password_hash=_hasher.hash(password),
        role=role,
        workspace_id=workspace_id,
        language=check_language(language),
        timezone=check_timezone(timezone),
    )
    session.add(user)
    session.flush()
    return user


def list_users(session: Session, workspace_id: str | None) -> list[ConsoleUser]:
    q = select(ConsoleUser).order_by(ConsoleUser.created_at, ConsoleUser.id)
    if workspace_id is not None:
        q = q.where(ConsoleUser.workspace_id == workspace_id)
    return list(session.scalars(q))


def get_user(session: Session, workspace_id: str | None, user_id: str) -> ConsoleUser:
    user = session.get(ConsoleUser, user_id)
    if user is None or (workspace_id is not None and user.workspace_id != workspace_id):
        raise NotFound(f"no user {user_id}", field="id")
    return user


def user_by_email(session: Session, email: str) -> ConsoleUser:
    address = normalise_email(email)
    user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == address))
    if user is None:
        raise NotFound(f"no user {address}", field="email")
    return user


def disable_user(
    session: Session, workspace_id: str | None, user_id: str, *, by: str | None = None
) -> ConsoleUser:
    """Sign the user out everywhere and keep them out; their conversations become
    unassigned. ``workspace_id`` scopes who may be disabled (None: an operator's reach);
    ``by`` (the acting user) cannot disable themselves and so lock the door behind them."""
    user = get_user(session, workspace_id, user_id)
    if by is not None and by == user.id:
        raise Conflict("you cannot disable your own account", field="id")
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
    conversations.release(session, user.id)
    session.flush()
    return user


def delete_user(session: Session, workspace_id: str | None, user_id: str) -> None:
    """Remove the user; their sessions go with them and their conversations become
    unassigned (the foreign key says SET NULL; done here first so the event is sent)."""
    user = get_user(session, workspace_id, user_id)
    conversations.release(session, user.id)
    session.delete(user)
    session.flush()


def update_settings(
    session: Session, user_id: str, *, language: str | None, timezone: str | None
) -> None:
    user = session.get(ConsoleUser, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", field="id")
    user.language = check_language(language)
    user.timezone = check_timezone(timezone)


def public_user(user: ConsoleUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "workspace": user.workspace_id,
        "language": user.language,
        "timezone": user.timezone,
        "created_at": user.created_at.isoformat(),
        "disabled_at": user.disabled_at.isoformat() if user.disabled_at else None,
    }


# --- throttling --------------------------------------------------------------------------


def _throttle_keys(email: str, ip: str | None) -> list[str]:
    keys = [f"account:{email}"]
    if ip:
        keys.append(f"ip:{ip}")
    return keys


def _check_throttle(session: Session, keys: list[str], now: datetime) -> None:
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            raise TooManyAttempts(max(1, int((row.locked_until - now).total_seconds() + 0.999)))


def _record_failure(session: Session, keys: list[str], now: datetime) -> None:
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, last_failure_at=now)
            session.add(row)
        elif row.last_failure_at < now - FORGET_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        over = row.failures - FREE_FAILURES
        if over >= 0:
            row.locked_until = now + min(FIRST_LOCK * (2**over), MAX_LOCK)
    session.flush()


def authenticate(session: Session, email: str, password: str, ip: str | None) -> ConsoleUser:
    """The user for these credentials, or Unauthorized; TooManyAttempts while locked.

    The caller commits even when this raises Unauthorized: the failure must count.
    """
    now = utcnow()
    try:
        email = normalise_email(email)
    except InvalidInput:
        raise Unauthorized("wrong e-mail or password") from None
    keys = _throttle_keys(email, ip)
    _check_throttle(session, keys, now)
    user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == email))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None and user.disabled_at is None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        _record_failure(session, keys, now)
        raise Unauthorized("wrong e-mail or password")
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0]))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


# --- sessions ----------------------------------------------------------------------------


def start_session(session: Session, user: ConsoleUser) -> str:
    """A new session for ``user``: the cookie value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        ConsoleSession(
            id_hash=_sha(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    # Expired sessions of this user go now rather than by a sweeper.
    session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.user_id == user.id, ConsoleSession.expires_at < now
        )
    )
    session.flush()
    return token


def signed_in(session: Session, token: str | None) -> SignedIn | None:
    """Who holds this cookie value, or None (unknown, expired, user disabled)."""
    if not token:
        return None
    row = session.get(ConsoleSession, _sha(token))
    if row is None or row.expires_at <= utcnow():
        return None
    user = session.get(ConsoleUser, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return SignedIn(
        user_id=user.id,
        email=user.email,
        role=user.role,
        workspace_id=user.workspace_id,
        language=user.language,
        timezone=user.timezone,
        csrf_token=row.csrf_token,
    )


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _sha(token)))
