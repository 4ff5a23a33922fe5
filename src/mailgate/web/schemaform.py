"""Form fields drawn from a kind's pydantic config model (transports and sources alike).

DESIGN.md: the console renders a kind's form from its schema, so a new provider or
source kind gets a form without console work. Secrets become write-only password
inputs (never filled in); a setting naming a local file is offered to operators only
(services/roles.py refuses it to anyone else whatever the form sends).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from starlette.datastructures import FormData

from mailgate.services import roles
from mailgate.web.forms import checked, text

_WHOLE = re.compile(r"^\d+$")
_DECIMAL = re.compile(r"^\d*\.\d+$|^\d+\.\d*$")


def fields_of(model: type[BaseModel], secret: set[str], operator: bool) -> list[dict[str, Any]]:
    local = roles.local_path_fields(model)
    out = []
    for name, spec in model.model_json_schema().get("properties", {}).items():
        if name in local and not operator:
            continue
        types = [spec.get("type")] + [a.get("type") for a in spec.get("anyOf", [])]
        enum = spec.get("enum")
        kind = (
            "password" if name in secret
            else "select" if enum
            else "checkbox" if "boolean" in types
            else "list" if "array" in types
            else "number" if {"integer", "number"} & set(types)
            else "text"
        )
        out.append({
            "name": name, "type": kind, "options": enum or [], "default": spec.get("default"),
            "hint": spec.get("description", ""),
        })
    return out


def config_of(
    form: FormData, fields: list[dict[str, Any]], creating: bool, *, empty_secret: bool = True
) -> dict[str, Any]:
    """The ``config`` object the API would get from this form.

    An empty password field keeps the stored secret on edit (left out: PATCH keeps
    what is not given). ``empty_secret`` says whether a new object sends an empty
    secret as null (transports) or leaves it out, so that the model's own "field
    required" names it (sources).
    """
    config: dict[str, Any] = {}
    for f in fields:
        name = f["name"]
        value = text(form, f"config.{name}")
        if f["type"] == "checkbox":
            config[name] = checked(form, f"config.{name}")
        elif f["type"] == "password":
            if value:
                config[name] = value
            elif creating and empty_secret:
                config[name] = None
        elif f["type"] == "list":
            config[name] = value.split()
        elif value:
            config[name] = value
        elif f["default"] is None:
            config[name] = None
    return config


def number(value: str) -> Any:
    """A form's number as JSON would carry it: none when empty, an int or a float; any
    other text goes to the service as it is, whose refusal names the field."""
    if not value:
        return None
    if _WHOLE.match(value):
        return int(value)
    if _DECIMAL.match(value):
        return float(value)
    return value


WARMUP_FIELDS = ("start", "growth", "target", "max_bounce_rate", "max_complaint_rate")


def warmup_of(form: FormData) -> dict[str, Any] | None:
    """A warm-up plan from the ``warmup.*`` fields (docs/transports.md); all empty: none.

    Only the fields filled in are sent: the plan's own defaults (growth 1.5, the
    rates 5 % and 0.1 %) apply to the others, and a missing start or target is
    refused by core/warmup.py naming ``warmup.start`` or ``warmup.target``.
    """
    plan = {
        name: number(text(form, f"warmup.{name}"))
        for name in WARMUP_FIELDS
        if text(form, f"warmup.{name}")
    }
    return plan or None


def warmup_values(plan: dict[str, Any] | None) -> dict[str, Any]:
    """A stored plan as the form's ``warmup.*`` values."""
    return {f"warmup.{k}": v for k, v in (plan or {}).items()}
