"""Campaign templates: Jinja2 subject and bodies checked at save time, rendered per recipient.

Sandboxed, strict about unknown names, HTML-escaped in the HTML body only (DESIGN §5).

Decisions, recorded here because the design leaves them open:

- Variables are the fixed set in `VARIABLE_HELP` plus the contact's custom attributes
  (free CSV columns) by their key. A builtin wins over an attribute of the same name.
  Only keys that are Python identifiers can be written as ``{{ key }}``.
- A contact that lacks an attribute renders it as "" (and ``None`` renders as ""),
  so a template that passed `compile_campaign_templates` never fails for missing data.
- ``subject`` is usable in the bodies (e.g. an HTML ``<title>``), not in the subject itself.
- The rendered subject is one line: line breaks (from attribute values) become spaces,
  because a header cannot hold them.
- Anything the sandbox would refuse that is visible in the template's syntax tree (an
  attribute or key starting with "_", generator/frame internals) is refused at compile
  time; the rest (e.g. ``"{0.__class__}".format(x)``) is refused by the sandbox at render
  time, as a `ValidationError` naming the template.
"""

from __future__ import annotations

import difflib
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from jinja2 import StrictUndefined, Template, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    SandboxedEnvironment,
)

from campaign_desktop.domain.errors import ValidationError

#: The builtin variables in the order the editor lists them, each with its one-line help.
VARIABLE_HELP: dict[str, str] = {
    "first_name": "The contact's first name.",
    "last_name": "The contact's last name.",
    "full_name": "First and last name joined by a space (either may be empty).",
    "email": "The contact's email address.",
    "campaign_name": "The campaign's name.",
    "subject": "The email's subject as this contact sees it (bodies only).",
    "unsubscribe_url": "A link that opens a pre-filled unsubscribe email (mailto:).",
    "unsubscribe_mailto": "The address contacts write to in order to unsubscribe.",
}

BUILTIN_VARIABLES: tuple[str, ...] = tuple(VARIABLE_HELP)

_SUBJECT_VARIABLES = frozenset(BUILTIN_VARIABLES) - {"subject"}

_UNSAFE_NAMES = frozenset(
    {"mro"}
    | UNSAFE_GENERATOR_ATTRIBUTES
    | UNSAFE_COROUTINE_ATTRIBUTES
    | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
)

UNSUBSCRIBE_SUBJECT = "Unsubscribe"


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One recipient's subject and bodies, ready to go into an email."""

    subject: str
    text: str
    html: str | None


def _blank_none(value: object) -> object:
    """Render None (an empty CSV cell stored as null) as nothing rather than "None"."""
    return "" if value is None else value


def _make_environment(*, autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=autoescape,
        finalize=_blank_none,
        # Bodies keep the newline the marketer typed at the end of the text.
        keep_trailing_newline=True,
    )


# Two environments rather than select_autoescape: our templates have no file names to
# select by, and text bodies must never be HTML-escaped.
_TEXT_ENV = _make_environment(autoescape=False)
_HTML_ENV = _make_environment(autoescape=True)


def available_variables(attribute_keys: Iterable[str] = ()) -> list[str]:
    """Names usable in a template: builtins in their documented order, then attribute keys."""
    extra = sorted({k for k in attribute_keys if k.isidentifier()} - set(BUILTIN_VARIABLES))
    return [*BUILTIN_VARIABLES, *extra]


def _quote(name: str) -> str:
    return f"“{name}”"


def _first_line(ast: nodes.Template, name: str) -> int:
    lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines, default=1)


def _unsafe_accesses(ast: nodes.Template) -> Iterator[tuple[str, int]]:
    """Attribute names the sandbox would refuse, as far as the syntax tree shows them."""

    def unsafe(name: object) -> bool:
        return isinstance(name, str) and (name.startswith("_") or name in _UNSAFE_NAMES)

    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr) and unsafe(node.attr):
            yield node.attr, node.lineno
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and unsafe(node.arg.value)
        ):
            yield node.arg.value, node.lineno
        elif (
            isinstance(node, nodes.Filter)
            and node.name == "attr"
            and node.args
            and isinstance(node.args[0], nodes.Const)
            and unsafe(node.args[0].value)
        ):
            yield node.args[0].value, node.lineno


def _syntax_error(field: str, exc: TemplateSyntaxError) -> ValidationError:
    return ValidationError(field, f"Template error on line {exc.lineno}: {exc.message}")


def _compile_one(
    field: str,
    source: str,
    env: SandboxedEnvironment,
    allowed: frozenset[str],
    listed: list[str],
) -> Template:
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(field, exc) from None

    blocked = next(_unsafe_accesses(ast), None)
    if blocked is not None:
        name, line = blocked
        raise ValidationError(
            field,
            f"Template error on line {line}: {_quote(name)} cannot be used; "
            "internal names are blocked for safety.",
        )

    try:
        # The analysis compiles the tree, so it can find an unknown filter or test.
        unknown = meta.find_undeclared_variables(ast) - allowed - set(env.globals)
        if not unknown:
            # Jinja compiles the tree we already parsed: no second parse.
            return env.from_string(ast)
    except TemplateSyntaxError as exc:
        raise _syntax_error(field, exc) from None
    raise ValidationError(field, _unknown_variables_message(ast, unknown, listed))


def _unknown_variables_message(ast: nodes.Template, unknown: set[str], listed: list[str]) -> str:
    found = sorted((_first_line(ast, name), name) for name in unknown)
    if len(found) == 1:
        line, name = found[0]
        if name == "subject":
            hint = " The subject can be used in the bodies only."
        else:
            close = difflib.get_close_matches(name, listed, n=1)
            hint = f" Did you mean {_quote(close[0])}?" if close else ""
        message = f"Unknown variable {_quote(name)} on line {line}.{hint}"
    else:
        names = ", ".join(f"{_quote(name)} (line {line})" for line, name in found)
        message = f"Unknown variables {names}."
    return f"{message} Available: {', '.join(listed)}."


class CampaignTemplates:
    """A campaign's compiled subject and bodies; compile once per run, render per recipient."""

    def __init__(
        self,
        subject: Template,
        text: Template,
        html: Template | None,
        attribute_keys: frozenset[str],
    ) -> None:
        self._subject = subject
        self._text = text
        self._html = html
        self._defaults: dict[str, object] = dict.fromkeys((*BUILTIN_VARIABLES, *attribute_keys), "")

    @property
    def has_html(self) -> bool:
        return self._html is not None

    def render(self, context: Mapping[str, object]) -> RenderedMessage:
        """Render for one recipient; names missing from `context` render as ""."""
        values = {**self._defaults, **context}
        subject = " ".join(self._render("subject", self._subject, values).split())
        values["subject"] = subject
        text = self._render("body_text", self._text, values)
        html = None if self._html is None else self._render("body_html", self._html, values)
        return RenderedMessage(subject=subject, text=text, html=html)

    @staticmethod
    def _render(field: str, template: Template, values: Mapping[str, object]) -> str:
        try:
            return template.render(values)
        except SecurityError as exc:
            raise ValidationError(
                field, f"The template tried something that is blocked for safety: {exc}"
            ) from None
        except Exception as exc:
            # The template is the marketer's code: whatever it raises (an undefined lookup,
            # 1/0, adding text to a number) is a fault of the template, not a bug here.
            raise ValidationError(field, f"The template could not be filled in: {exc}") from None


def compile_campaign_templates(
    subject: str,
    body_text: str,
    body_html: str | None,
    attribute_keys: Iterable[str] = (),
) -> CampaignTemplates:
    """Check and compile a campaign's templates, or raise ValidationError naming the field.

    `attribute_keys` are the custom contact attributes known to exist (CSV columns).
    An empty or blank `body_html` means a text-only email.
    """
    keys = frozenset(attribute_keys)
    listed = available_variables(keys)
    body_allowed = frozenset(BUILTIN_VARIABLES) | keys
    subject_allowed = (_SUBJECT_VARIABLES | keys) - {"subject"}
    subject_listed = [name for name in listed if name != "subject"]
    return CampaignTemplates(
        subject=_compile_one("subject", subject, _TEXT_ENV, subject_allowed, subject_listed),
        text=_compile_one("body_text", body_text, _TEXT_ENV, body_allowed, listed),
        html=(
            _compile_one("body_html", body_html, _HTML_ENV, body_allowed, listed)
            if body_html and body_html.strip()
            else None
        ),
        attribute_keys=keys,
    )


def unsubscribe_mailto_url(address: str) -> str:
    """The mailto: URL for `address` with a pre-filled subject; "" when no address is set."""
    if not address:
        return ""
    query = urllib.parse.urlencode({"subject": UNSUBSCRIBE_SUBJECT}, quote_via=urllib.parse.quote)
    return f"mailto:{urllib.parse.quote(address, safe='@')}?{query}"


def build_render_context(
    *,
    contact_email: str,
    first_name: str,
    last_name: str,
    attributes: Mapping[str, object],
    campaign_name: str,
    unsubscribe_mailto: str,
) -> dict[str, object]:
    """The variables for one recipient: the one way sending and preview build them.

    Keyword-only: six strings in a row are too easy to pass in the wrong order.

    `unsubscribe_mailto` is the plain address that takes unsubscribe requests ("" for none).
    """
    first = first_name or ""
    last = last_name or ""
    return {
        **attributes,
        "first_name": first,
        "last_name": last,
        "full_name": " ".join(part for part in (first.strip(), last.strip()) if part),
        "email": contact_email,
        "campaign_name": campaign_name,
        "unsubscribe_url": unsubscribe_mailto_url(unsubscribe_mailto),
        "unsubscribe_mailto": unsubscribe_mailto,
    }


def sample_context(
    attribute_keys: Iterable[str] = (),
    campaign_name: str = "Sample campaign",
    unsubscribe_mailto: str = "unsubscribe@example.com",
) -> dict[str, object]:
    """Variables for a preview with no contact: a made-up person, attributes shown as [key]."""
    return build_render_context(
        contact_email="ann.example@example.com",
        first_name="Ann",
        last_name="Example",
        attributes={key: f"[{key}]" for key in attribute_keys},
        campaign_name=campaign_name,
        unsubscribe_mailto=unsubscribe_mailto,
    )
