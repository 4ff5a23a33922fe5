"""Request plumbing shared by the routers: the app graph, sessions, API-key auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from mailgate.errors import Unauthorized
from mailgate.runtime import Mailgate
from mailgate.services.tenancy import authenticate
from mailgate.store.models import Workspace


def get_app(request: Request) -> Mailgate:
    app: Mailgate = request.app.state.mailgate
    return app


def get_session(app: Annotated[Mailgate, Depends(get_app)]) -> Iterator[Session]:
    """A read-only session; endpoints that write open `store.db.transaction` themselves

    so that the commit happens before the response, never after it.
    """
    with app.sessions() as session:
        yield session


def get_workspace(
    app: Annotated[Mailgate, Depends(get_app)],
    authorization: Annotated[str | None, Header()] = None,
) -> Workspace:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized(
            "send the API key as 'Authorization: Bearer <key>' "
            "(create one with `mailgate apikey create --workspace NAME`)"
        )
    with app.sessions() as session:
        return authenticate(session, key.strip())


AppDep = Annotated[Mailgate, Depends(get_app)]
SessionDep = Annotated[Session, Depends(get_session)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
