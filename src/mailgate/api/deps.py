"""Request plumbing shared by the routers: the app graph, sessions, API-key auth and roles.

Every request looks its key up in the database (no cache), so a revoked key gets
``401`` on the very next request. Roles (docs/api.md, "Roles"):

* a **workspace key** acts in its own workspace and nowhere else;
* an **operator key** manages the installation (``/v1/workspaces``, keys of any
  workspace) and acts in one workspace only when the request names it with the
  ``Mailgate-Workspace: <id>`` header. A workspace key that sends that header is
  refused (``403``), whatever workspace it names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from mailgate.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from mailgate.runtime import Mailgate
from mailgate.services import tenancy
from mailgate.services.tenancy import Caller
from mailgate.store.db import transaction
from mailgate.store.models import Workspace, utcnow

WORKSPACE_HEADER = "Mailgate-Workspace"

# The two kinds of key as OpenAPI security schemes (documentation only: the key is
# checked in ``get_caller``). An operation lists the kinds it accepts; operator
# routes list ``operatorKey`` alone.
WORKSPACE_KEY = HTTPBearer(
    scheme_name="workspaceKey",
    description="A workspace key (`mailgate apikey create --workspace NAME`): "
    "its own workspace only.",
    auto_error=False,
)
OPERATOR_KEY = HTTPBearer(
    scheme_name="operatorKey",
    description="An operator key (`mailgate apikey create --operator`): the installation; "
    f"on workspace routes it names the workspace with the `{WORKSPACE_HEADER}` header.",
    auto_error=False,
)
Scheme = HTTPAuthorizationCredentials | None


def get_app(request: Request) -> Mailgate:
    app: Mailgate = request.app.state.mailgate
    return app


def get_session(app: Annotated[Mailgate, Depends(get_app)]) -> Iterator[Session]:
    """A read-only session; endpoints that write open `store.db.transaction` themselves

    so that the commit happens before the response, never after it.
    """
    with app.sessions() as session:
        yield session


def get_caller(
    app: Annotated[Mailgate, Depends(get_app)],
    authorization: Annotated[str | None, Header()] = None,
    mailgate_workspace: Annotated[
        str | None,
        Header(
            alias=WORKSPACE_HEADER,
            description="Operator keys only: the workspace this request acts in.",
        ),
    ] = None,
) -> Caller:
    """Who is calling: 401 without a live key; the workspace it acts in, if any."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized(
            "send the API key as 'Authorization: Bearer <key>' "
            "(create one with `mailgate apikey create --workspace NAME`)"
        )
    now = utcnow()
    with app.sessions() as session:
        row = tenancy.find_key(session, key.strip())
        key_id, operator, ws_id = row.id, row.operator, row.workspace_id
        stale = tenancy.key_is_stale(row, now)
        workspace: Workspace | None = None
        if operator:
            if mailgate_workspace is not None:
                workspace = session.get(Workspace, mailgate_workspace.strip())
                if workspace is None:
                    raise NotFound(
                        f"no workspace {mailgate_workspace.strip()!r}", field=WORKSPACE_HEADER
                    )
        else:
            if mailgate_workspace is not None:
                raise Forbidden(
                    f"only operator keys may send {WORKSPACE_HEADER}", field=WORKSPACE_HEADER
                )
            workspace = session.get(Workspace, ws_id) if ws_id else None
            if workspace is None:
                raise Unauthorized("this API key belongs to no workspace")
    if stale:
        with transaction(app.sessions) as session:
            tenancy.touch_key(session, key_id, now)
    return Caller(key_id=key_id, operator=operator, workspace=workspace)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_workspace(
    caller: CallerDep,
    _w: Annotated[Scheme, Security(WORKSPACE_KEY)],
    _o: Annotated[Scheme, Security(OPERATOR_KEY)],
) -> Workspace:
    """The workspace a workspace route acts in; an operator key must name it."""
    if caller.workspace is None:
        raise InvalidInput(
            f"an operator key acts in a workspace only when the request names it: "
            f"send '{WORKSPACE_HEADER}: <workspace id>'",
            field=WORKSPACE_HEADER,
        )
    return caller.workspace


def get_any_key(
    caller: CallerDep,
    _w: Annotated[Scheme, Security(WORKSPACE_KEY)],
    _o: Annotated[Scheme, Security(OPERATOR_KEY)],
) -> Caller:
    """Routes for either kind of key that decide by the caller's role (``/v1/apikeys``)."""
    return caller


def get_operator(caller: CallerDep, _o: Annotated[Scheme, Security(OPERATOR_KEY)]) -> Caller:
    """Operator routes: 401 without a live key, 403 for a workspace key."""
    if not caller.operator:
        raise Forbidden("this needs an operator key (`mailgate apikey create --operator`)")
    return caller


AppDep = Annotated[Mailgate, Depends(get_app)]
SessionDep = Annotated[Session, Depends(get_session)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
OperatorDep = Annotated[Caller, Depends(get_operator)]
AnyKeyDep = Annotated[Caller, Depends(get_any_key)]
