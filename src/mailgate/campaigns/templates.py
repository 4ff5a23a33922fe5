"""A campaign's templates: Jinja2 in an immutable sandbox, errors that name the line.

Subject, text, HTML, From and Reply-To are templates over one recipient's variables.
The sandbox (``ImmutableSandboxedEnvironment``) lets a template read variables but not
reach Python internals or change anything; a missing variable is an error
(``StrictUndefined``) rather than a silent blank in a customer's mail. HTML is
autoescaped, so a variable holding ``<script>`` arrives as text.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailgate.errors import InvalidInput

#: The parts of a campaign that are templates, in the order they are checked.
PARTS = ("subject", "text", "html", "from", "reply_to")


class TemplateFailed(InvalidInput):
    """A template that does not compile, or does not render for these variables."""

    code = "template_error"


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True
    )


_PLAIN = _environment(False)
_HTML = _environment(True)


def _line(part: str, tb: types.TracebackType | None) -> int | None:
    """The template line an exception was raised on (Jinja maps its frames to the source)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == f"<{part}>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _message(part: str, line: int | None, what: str) -> str:
    where = f"{part}, line {line}" if line else part
    return f"template error in {where}: {what}"


@dataclass(frozen=True, slots=True)
class Templates:
    """A campaign's compiled templates (None where a part is not set)."""

    compiled: dict[str, Template]

    @classmethod
    def compile(cls, sources: dict[str, str | None]) -> Templates:
        """Compile every part; a syntax error raises :class:`TemplateFailed` naming the line."""
        compiled: dict[str, Template] = {}
        for part in PARTS:
            source = sources.get(part)
            if source is None:
                continue
            env = _HTML if part == "html" else _PLAIN
            try:
                code = env.compile(source, name=part, filename=f"<{part}>")
            except TemplateSyntaxError as e:
                what = _message(part, e.lineno, e.message or str(e))
                raise TemplateFailed(what, field=part) from None
            compiled[part] = env.template_class.from_code(env, code, env.make_globals(None))
        return cls(compiled)

    def render(self, variables: dict[str, Any]) -> dict[str, str]:
        """Every part rendered for one recipient; :class:`TemplateFailed` names part and line."""
        out: dict[str, str] = {}
        for part, template in self.compiled.items():
            try:
                out[part] = template.render(variables)
            except TemplateError as e:
                raise TemplateFailed(
                    _message(part, _line(part, e.__traceback__), e.message or str(e)), field=part
                ) from None
            except (ArithmeticError, TypeError, ValueError, LookupError) as e:
                # What a template may still do wrong inside the sandbox: 1/0, int("x").
                raise TemplateFailed(
                    _message(part, _line(part, e.__traceback__), str(e)), field=part
                ) from None
        return out
