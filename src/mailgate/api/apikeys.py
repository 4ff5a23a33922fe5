"""``/v1/apikeys``: create (the plaintext shown once), list and revoke API keys.

A workspace key manages its own workspace's keys only: another workspace is as
absent as a missing one (404). An operator key manages every key; with
``Mailgate-Workspace`` it sees that workspace's keys, as a workspace key would.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from mailgate.api.deps import AnyKeyDep, AppDep, SessionDep
from mailgate.api.limits import check_name
from mailgate.api.schemas import Strict
from mailgate.errors import Forbidden, InvalidInput, NotFound
from mailgate.services import tenancy
from mailgate.store.db import transaction

router = APIRouter(prefix="/v1/apikeys", tags=["apikeys"])


class ApiKeyIn(Strict):
    workspace: str | None = Field(
        default=None, description="Workspace id; a workspace key's own when left out"
    )
    name: str = Field(default="", max_length=200)
    operator: bool = Field(default=False, description="An operator key (operator keys only)")


@router.post("", status_code=201)
def create(body: ApiKeyIn, app: AppDep, caller: AnyKeyDep) -> dict[str, Any]:
    """A new key; the answer's ``key`` is the only time the plaintext is ever shown."""
    check_name(app.settings, body.name)
    if body.operator:
        if not caller.operator:
            raise Forbidden("only an operator key may create operator keys", field="operator")
        if body.workspace is not None:
            raise InvalidInput("an operator key belongs to no workspace", field="workspace")
        workspace_id = None
    elif caller.operator and caller.workspace is None:
        if body.workspace is None:
            raise InvalidInput(
                'name the workspace ("workspace": id), or ask for "operator": true',
                field="workspace",
            )
        workspace_id = body.workspace
    else:
        assert caller.workspace is not None
        own = caller.workspace.id
        if body.workspace not in (None, own):
            raise NotFound(f"no workspace {body.workspace}", field="workspace")
        workspace_id = own
    with transaction(app.sessions) as session:
        if workspace_id is not None:
            tenancy.get_workspace(session, workspace_id)
        row, plaintext = tenancy.create_api_key(
            session, workspace_id, body.name, operator=body.operator
        )
    return {**tenancy.public_key(row), "key": plaintext}


def _scope(caller: tenancy.Caller) -> str | None:
    """The workspace whose keys the caller manages; None: every key (operator)."""
    if caller.workspace is not None:
        return caller.workspace.id
    assert caller.operator
    return None


@router.get("")
def list_(caller: AnyKeyDep, session: SessionDep) -> dict[str, Any]:
    """Keys with prefix, name, created, last used and revoked; never a hash or a key."""
    return {"items": [tenancy.public_key(r) for r in tenancy.list_keys(session, _scope(caller))]}


@router.get("/{key_id}")
def get(key_id: str, caller: AnyKeyDep, session: SessionDep) -> dict[str, Any]:
    return tenancy.public_key(tenancy.get_key(session, _scope(caller), key_id))


@router.delete("/{key_id}", status_code=204)
def revoke(key_id: str, app: AppDep, caller: AnyKeyDep) -> Response:
    """Revoke at once: the key's next request gets 401."""
    with transaction(app.sessions) as session:
        tenancy.revoke_key(session, tenancy.get_key(session, _scope(caller), key_id))
    return Response(status_code=204)
