"""What only the operator may configure: local programs, local files, system scope.

A workspace key is a tenant: it must never make the server run a program or read
a file of its choosing (DESIGN.md, "Tenancy, roles and trust"). Config models mark
fields that name a local path with ``json_schema_extra={"local_path": True}``, so
a field added later is covered without touching this module. Services take the
caller's role as ``operator: bool``; they never see the API's ``Caller``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from mailgate.errors import Forbidden

#: Transport kinds that run a local program: the operator's alone.
OPERATOR_KINDS = frozenset({"sendmail"})


def local_path_fields(model: type[BaseModel]) -> set[str]:
    """Names of settings of ``model`` that name a file or program on this machine."""
    return {
        name
        for name, info in model.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("local_path")
    }


def require_operator_for_kind(kind: str, operator: bool) -> None:
    if not operator and kind in OPERATOR_KINDS:
        raise Forbidden(
            f"a {kind} transport runs a program on the server: only an operator key may "
            "create, change or check one",
            field="kind",
        )


def require_operator_for_scope(scope: str, operator: bool) -> None:
    if not operator and scope == "system":
        raise Forbidden(
            "system transports are the operator's (an operator key, or `mailgate transport add`)",
            field="scope",
        )


def require_operator_for_paths(
    model: type[BaseModel],
    given: Mapping[str, Any],
    current: Mapping[str, Any],
    operator: bool,
) -> None:
    """Refuse a workspace setting or changing a local-path field; keeping one is fine.

    ``given`` is the config the request sends, ``current`` what is stored (empty on
    create): a PATCH that repeats the operator's ``ca_file`` unchanged is allowed.
    """
    if operator:
        return
    for name in sorted(local_path_fields(model)):
        if name in given and given[name] not in (None, "") and given[name] != current.get(name):
            raise Forbidden(
                f"config.{name} names a file on the server: only an operator key may set it",
                field=f"config.{name}",
            )
