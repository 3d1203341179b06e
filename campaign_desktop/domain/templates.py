"""Campaign templates: Jinja2 subject and bodies checked at save time, rendered per recipient.

Sandboxed, strict about unknown names, HTML-escaped in the HTML body only (docs/design.md §5), and
bounded in size, loops and time (docs/design.md §9; the sandbox itself: `template_sandbox`).

Decisions, recorded here because the design leaves them open:

- Variables are the fixed set in `VARIABLE_HELP` plus the contact's custom attributes
  (free CSV columns) by their key. A builtin wins over an attribute of the same name.
  Only keys that are Python identifiers can be written as ``{{ key }}``.
- A contact that lacks an attribute renders it as "" (and ``None`` renders as ""), so
  missing data alone never makes a template fail.
- ``subject`` is usable in the bodies (e.g. an HTML ``<title>``), not in the subject itself.
- The rendered subject is one line: line breaks (from attribute values) become spaces,
  because a header cannot hold them.
- Anything the sandbox would refuse that is visible in the template's syntax tree (an
  attribute or key starting with "_", generator/frame internals) is refused at compile
  time; the rest (e.g. ``"{0.__class__}".format(x)``) is refused by the sandbox at render
  time, as a `ValidationError` naming the template.
- ``{% include %}``, ``{% import %}``, ``{% from … import %}`` and ``{% extends %}`` are
  refused at compile time: a campaign has no other template files (no loader).
- Only text, numbers, None, and lists/dicts of those may be printed. Printing anything else
  (``{{ self }}``, ``{{ first_name.upper }}``, a macro, a generator…) would put a Python
  repr, often with a memory address, into the mail: refused at compile time where the syntax
  tree shows it (a bare ``self``/``loop``/``caller``, a macro or a global function by name),
  otherwise when rendering, naming the line and the expression printed there.
- Rendering can fail for one contact and not another (``{{ 100 // discount|int }}``), so
  saving renders the templates for the sample contact and a sample of real contacts (the
  campaign service), and sending fails just that recipient, with the same words.

Bounds (`RenderLimits`; a `ValidationError` naming the part and the bound when reached):

- Output: the subject at most 2,000 characters (the service caps the typed subject at 998;
  variables may lengthen it, but a subject of pages is a mistake), each body at most 1 MB
  (1,000,000 characters: about 1 MB for Latin text; typical newsletters are 20 to 100 kB, and
  Gmail clips messages over 102 kB). Checked on every chunk of output as it is produced.
- Any value built on the way (``'a' * n``, ``x|center(n)``, a macro's output, ``a ~ b``,
  ``'%*s' % …``, ``'{:>n}'.format``…) at most 1,000,000 characters or list items, refused
  *before* it is allocated wherever the size can be known in advance.
- Loops: 100,000 steps per message, all loops and list-walking filters together (a nested
  ``range(99999)`` loop is refused after 100,000 turns, not 10 billion); one ``range`` at most
  10,000 numbers (Jinja's sandbox allows 100,000). Steps, unlike time, give the same verdict at
  save and at send on any machine, so a template that passed the save check passes at send.
- Time: 2 seconds per message (subject and bodies together), checked on every loop step,
  call, filter and output chunk. A recipient's message normally renders in well under a
  millisecond; 2 s leaves room for a slow laptop and still stops a runaway template long
  before Cancel or quitting would feel stuck. A single filter on a 1 MB value (``wordwrap``,
  ``urlize``) cannot be interrupted and may overrun the deadline by about its own run time.
- Macros nest at most 50 calls deep (a macro calling itself without end is reported as such
  instead of exhausting Python's stack, which is small in a worker thread on macOS).
- Whole numbers at most about 4,000 digits (``2 ** 10 ** 9`` is refused before it is
  computed; Python itself refuses to print more than 4,300 digits).
"""

from __future__ import annotations

import difflib
import functools
import urllib.parse
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType

from jinja2 import Template, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
)
from markupsafe import escape

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.template_sandbox import (
    BoundedEnvironment,
    NotTextError,
    RenderLimits,
    TemplateLimitError,
    current_budget,
    finalize,
    guard_template,
    render_budget,
    size_in_words,
)

__all__ = [
    "BUILTIN_VARIABLES",
    "VARIABLE_HELP",
    "CampaignTemplates",
    "RenderLimits",
    "RenderedMessage",
    "available_variables",
    "build_render_context",
    "compile_campaign_templates",
    "sample_context",
    "unsubscribe_mailto_url",
]

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

#: How messages name each template, e.g. "The text body would be longer than 1 MB".
_PART_NAMES = {"subject": "The subject", "body_text": "The text body", "body_html": "The HTML body"}

#: Tags that need other template files; a campaign has none (there is no loader).
_FILE_TAGS: dict[type[nodes.Node], str] = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
}

#: Names that are never a value to print, with what they are and how to use them.
_NOT_VALUES: dict[str, tuple[str, str | None]] = {
    "self": ("the template itself", None),
    "loop": ("the loop helper", "use loop.index, loop.first, loop.last…"),
    "caller": ("a macro", "add () to call it"),
}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One recipient's subject and bodies, ready to go into an email."""

    subject: str
    text: str
    html: str | None


# Two environments rather than select_autoescape: our templates have no file names to
# select by, and text bodies must never be HTML-escaped.
_TEXT_ENV = BoundedEnvironment(autoescape=False)
_HTML_ENV = BoundedEnvironment(autoescape=True)


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


def _file_tags(ast: nodes.Template) -> Iterator[tuple[str, int]]:
    for node in ast.find_all(tuple(_FILE_TAGS)):
        yield _FILE_TAGS[type(node)], node.lineno


def _printed_non_values(
    ast: nodes.Template, env: BoundedEnvironment
) -> Iterator[tuple[str, str, str | None, int]]:
    """(name, what it is, hint, line) for ``{{ name }}`` where the name is never a value."""
    assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in {"store", "param"}}
    macros = {macro.name for macro in ast.find_all(nodes.Macro)}
    for output in ast.find_all(nodes.Output):
        for child in output.nodes:
            if not isinstance(child, nodes.Name) or child.name in assigned - {"self"}:
                continue
            if child.name in _NOT_VALUES:
                kind, hint = _NOT_VALUES[child.name]
            elif child.name in macros:
                kind, hint = "a macro", "add () to call it"
            elif child.name in env.globals:
                kind, hint = "a function", "add () to call it"
            else:
                continue
            yield child.name, kind, hint, child.lineno


def _source(node: nodes.Node) -> str:  # noqa: PLR0911, PLR0912  (one branch per kind of node)
    """The expression `node` as the marketer would have written it (near enough)."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        text = repr(node.value)
        return text if len(text) <= 20 else f"{text[:17]}…"
    if isinstance(node, nodes.Getattr):
        return f"{_source(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        return f"{_source(node.node)}[{_source(node.arg)}]"
    if isinstance(node, nodes.Call):
        arguments = [_source(arg) for arg in node.args]
        arguments += [f"{kw.key}={_source(kw.value)}" for kw in node.kwargs]
        return f"{_source(node.node)}({', '.join(arguments)})"
    if isinstance(node, nodes.Filter) and node.node is not None:
        arguments = [_source(arg) for arg in node.args]
        call = f"({', '.join(arguments)})" if arguments else ""
        return f"{_source(node.node)}|{node.name}{call}"
    if isinstance(node, nodes.BinExpr):
        return f"{_source(node.left)} {node.operator} {_source(node.right)}"
    if isinstance(node, nodes.Concat):
        return " ~ ".join(_source(part) for part in node.nodes)
    if isinstance(node, nodes.CondExpr):
        otherwise = "" if node.expr2 is None else f" else {_source(node.expr2)}"
        return f"{_source(node.expr1)} if {_source(node.test)}{otherwise}"
    if isinstance(node, nodes.Compare):
        rest = " ".join(f"{op.op} {_source(op.expr)}" for op in node.ops)
        return f"{_source(node.expr)} {rest}"
    if isinstance(node, nodes.List):
        return f"[{', '.join(_source(item) for item in node.items)}]"
    if isinstance(node, nodes.Tuple):
        return f"({', '.join(_source(item) for item in node.items)})"
    if isinstance(node, nodes.Dict):
        pairs = (f"{_source(pair.key)}: {_source(pair.value)}" for pair in node.items)
        return f"{{{', '.join(pairs)}}}"
    return "…"


def _printed_by_line(ast: nodes.Template) -> dict[int, tuple[str, ...]]:
    """Line → the ``{{ … }}`` expressions printed on it, for messages about what is printed."""
    found: dict[int, list[str]] = {}
    for output in ast.find_all(nodes.Output):
        for child in output.nodes:
            if not isinstance(child, nodes.TemplateData):
                text = _source(child)
                text = text if len(text) <= 80 else f"{text[:79]}…"
                found.setdefault(child.lineno, []).append(f"{{{{ {text} }}}}")
    return {line: tuple(dict.fromkeys(texts)) for line, texts in found.items()}


def _syntax_error(field: str, exc: TemplateSyntaxError) -> ValidationError:
    return ValidationError(field, f"Template error on line {exc.lineno}: {exc.message}")


def _too_deep(field: str) -> ValidationError:
    return ValidationError(
        field, "Template error: the template is nested too deeply (brackets or tags) to read."
    )


@dataclass(frozen=True, slots=True)
class _Part:
    """One compiled template (subject, text or HTML body) and what its lines print.

    `pieces` is set when the template only prints variables between fixed text (no tags,
    filters or expressions: most campaigns): text, name, text, name, …, text. Such a
    template is filled in by joining those pieces (`_fill`), the same output as Jinja's
    code gives, at a fraction of its cost per message (docs/performance.md, issue 11).
    """

    field: str
    template: Template
    printed: Mapping[int, tuple[str, ...]]
    pieces: tuple[str, ...] | None = None
    autoescape: bool = False


def _plain_pieces(ast: nodes.Template) -> tuple[str, ...] | None:
    """The text-and-names pieces of a template that does nothing but print variables by
    name (see `_Part`), or None for any other template."""
    pieces: list[str] = [""]
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                pieces[-1] += child.data
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                pieces += [child.name, ""]
            else:
                return None
    return tuple(pieces)


def _fill(part: _Part, values: Mapping[str, object]) -> str:
    """`part` (a template with `pieces`) filled in with `values`: what Jinja's compiled code
    yields for ``{{ name }}`` is ``str(finalize(value))``, or ``escape(finalize(value))``
    where the environment escapes HTML; the fixed text as it is. Raises what `finalize`
    raises (the caller then renders through Jinja, for the error with its line)."""
    pieces = part.pieces
    assert pieces is not None
    out = [pieces[0]]
    convert = escape if part.autoescape else str
    for index in range(1, len(pieces), 2):
        out.append(convert(finalize(values[pieces[index]])))
        out.append(pieces[index + 1])
    return "".join(out)


def _fill_within(part: _Part, values: Mapping[str, object], max_chars: int) -> str | None:
    """`_fill`, or None when the text would be longer than `max_chars` or a value cannot
    print: Jinja's run then raises the error, naming the line, as for any template."""
    try:
        filled = _fill(part, values)
    except Exception:
        return None
    return filled if len(filled) <= max_chars else None


def _with_pieces(part: _Part, pieces: tuple[str, ...] | None, names: frozenset[str]) -> _Part:
    """`part` with `pieces` (`_plain_pieces` of its tree) when every name in them is one
    of `names` (the render context always has those) and filling in gives what Jinja gives
    (checked here once, on values that HTML escaping changes; the tests check many more)."""
    if pieces is None or not names.issuperset(pieces[1::2]):
        return part
    autoescape = part.template.environment.autoescape is True
    filled = _Part(part.field, part.template, part.printed, pieces, autoescape)
    probe = {name: f"<{name}> & \"{name}\" 'x' \u00e9" for name in names}
    try:
        with render_budget(RenderLimits()):
            same = _fill(filled, probe) == "".join(part.template.generate(probe))
    except Exception:  # any doubt: no shortcut, Jinja renders this part
        return part
    return filled if same else part


def _compile_one(
    field: str,
    source: str,
    env: BoundedEnvironment,
    allowed: frozenset[str],
    listed: list[str],
    *,
    limits: RenderLimits,
) -> _Part:
    try:
        return _checked_compile(field, source, env, allowed, listed, limits=limits)
    except (RecursionError, MemoryError, SyntaxError):
        # Jinja's parser and Python's compiler recurse once per nesting level, and Python
        # refuses the code Jinja writes for too many nested brackets, loops or ifs
        # (a Jinja syntax error is a TemplateSyntaxError, handled above).
        raise _too_deep(field) from None


def _checked_compile(
    field: str,
    source: str,
    env: BoundedEnvironment,
    allowed: frozenset[str],
    listed: list[str],
    *,
    limits: RenderLimits,
) -> _Part:
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(field, exc) from None

    for name, line in _unsafe_accesses(ast):
        raise ValidationError(
            field,
            f"Template error on line {line}: {_quote(name)} cannot be used; "
            "internal names are blocked for safety.",
        )
    for tag, line in _file_tags(ast):
        raise ValidationError(
            field,
            f"Template error on line {line}: {tag} cannot be used. A campaign's templates "
            "stand alone: there are no other template files to include, import or extend.",
        )
    try:
        # The analysis compiles the tree, so it can find an unknown filter or test.
        unknown = meta.find_undeclared_variables(ast) - allowed - set(env.globals)
    except TemplateSyntaxError as exc:
        raise _syntax_error(field, exc) from None
    if unknown:
        raise ValidationError(field, _unknown_variables_message(ast, unknown, listed))
    for name, kind, hint, line in _printed_non_values(ast, env):
        raise ValidationError(
            field,
            _sentence(
                f"Template error on line {line}: {{{{ {name} }}}} would show {kind}, not text"
                + (f"; {hint}" if hint else "")
            ),
        )
    printed = _printed_by_line(ast)
    pieces = _plain_pieces(ast)  # before the guard rewrites the tree
    # Jinja evaluates constant parts while compiling: within bounds too.
    with render_budget(limits):
        try:
            template = env.from_string(guard_template(ast, env))
        except TemplateSyntaxError as exc:
            raise _syntax_error(field, exc) from None
    return _with_pieces(_Part(field, template, printed), pieces, allowed)


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


def _template_line(traceback: TracebackType | None) -> int | None:
    """The template line the innermost template frame of a render error was on."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _render_error(
    part: _Part,
    headline: str,
    detail: str | None,
    line: int | None,
    recipient: str | None,
) -> ValidationError:
    message = headline.replace("{part}", _PART_NAMES[part.field])
    if line is not None:
        message += f" on line {line}"
    if recipient:
        message += f" for {recipient}"
    if detail:
        message += f": {detail}"
    return ValidationError(part.field, _sentence(message))


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!", "…")) else f"{text}."


def _not_text_detail(part: _Part, exc: NotTextError, line: int | None) -> str | None:
    printed = part.printed.get(line, ()) if line is not None else ()
    where = printed[0] if len(printed) == 1 else f"one of {', '.join(printed)}" if printed else ""
    hint = f"({exc.hint})" if where and exc.hint else exc.hint or ""
    return " ".join(text for text in (where, hint) if text) or None


class CampaignTemplates:
    """A campaign's compiled subject and bodies; compile once per run, render per recipient."""

    def __init__(
        self,
        subject: _Part,
        text: _Part,
        html: _Part | None,
        attribute_keys: frozenset[str],
        limits: RenderLimits,
    ) -> None:
        self._subject = subject
        self._text = text
        self._html = html
        self._limits = limits
        self._defaults: dict[str, object] = dict.fromkeys((*BUILTIN_VARIABLES, *attribute_keys), "")

    @property
    def has_html(self) -> bool:
        return self._html is not None

    def render(
        self, context: Mapping[str, object], *, recipient: str | None = None
    ) -> RenderedMessage:
        """Render for one recipient; names missing from `context` render as "".

        Raises only `ValidationError` (field = the part at fault) for anything the templates
        do wrong or any bound they reach; `recipient` (an address, "the sample contact") is
        named in its message when given.
        """
        values = {**self._defaults, **context}
        limits = self._limits
        with render_budget(limits):
            subject = self._render(self._subject, values, limits.subject_chars, recipient)
            subject = " ".join(subject.split())
            values["subject"] = subject
            text = self._render(self._text, values, limits.body_chars, recipient)
            html = (
                None
                if self._html is None
                else self._render(self._html, values, limits.body_chars, recipient)
            )
        return RenderedMessage(subject=subject, text=text, html=html)

    @staticmethod
    def _render(
        part: _Part, values: Mapping[str, object], max_chars: int, recipient: str | None
    ) -> str:
        budget = current_budget()
        if part.pieces is not None:
            filled = _fill_within(part, values, max_chars)
            if filled is not None:
                budget.check_time()
                return filled
        chunks: list[str] = []
        size = 0
        stream = part.template.generate(values)
        try:
            for chunk in stream:
                size += len(chunk)
                if size > max_chars:
                    raise TemplateLimitError(
                        f"{{part}} would be longer than {size_in_words(max_chars)}"
                    )
                budget.check_time()
                chunks.append(chunk)
        except TemplateLimitError as exc:
            line = _template_line(exc.__traceback__)
            raise _render_error(part, exc.headline, exc.detail, line, recipient) from None
        except NotTextError as exc:
            line = _template_line(exc.__traceback__)
            headline = f"{{part}} would show {exc.kind} instead of text"
            detail = _not_text_detail(part, exc, line)
            raise _render_error(part, headline, detail, line, recipient) from None
        except SecurityError as exc:
            line = _template_line(exc.__traceback__)
            headline = "{part} tried something that is blocked for safety"
            raise _render_error(part, headline, str(exc), line, recipient) from None
        except RecursionError:
            headline = "{part} nests too deeply"
            detail = "does a macro call itself without end?"
            raise _render_error(part, headline, detail, None, recipient) from None
        except MemoryError:
            headline = "{part} needs more memory than this computer has"
            raise _render_error(part, headline, None, None, recipient) from None
        except Exception as exc:
            # The template is the marketer's code: whatever it raises (an undefined lookup,
            # 1/0, adding text to a number) is a fault of the template, not a bug here.
            line = _template_line(exc.__traceback__)
            detail = str(exc) or type(exc).__name__
            raise _render_error(
                part, "{part} could not be filled in", detail, line, recipient
            ) from None
        finally:
            if isinstance(stream, Generator):
                stream.close()  # stopped early: let Jinja's generator go now
        return "".join(chunks)


def compile_campaign_templates(
    subject: str,
    body_text: str,
    body_html: str | None,
    attribute_keys: Iterable[str] = (),
    *,
    limits: RenderLimits | None = None,
) -> CampaignTemplates:
    """Check and compile a campaign's templates, or raise ValidationError naming the field.

    `attribute_keys` are the custom contact attributes known to exist (CSV columns).
    An empty or blank `body_html` means a text-only email. `limits` defaults to the bounds
    documented above (tests pass smaller ones).
    """
    limits = limits or RenderLimits()
    keys = frozenset(attribute_keys)
    listed = available_variables(keys)
    body_allowed = frozenset(BUILTIN_VARIABLES) | keys
    subject_allowed = (_SUBJECT_VARIABLES | keys) - {"subject"}
    subject_listed = [name for name in listed if name != "subject"]
    return CampaignTemplates(
        subject=_compile_one(
            "subject", subject, _TEXT_ENV, subject_allowed, subject_listed, limits=limits
        ),
        text=_compile_one("body_text", body_text, _TEXT_ENV, body_allowed, listed, limits=limits),
        html=(
            _compile_one("body_html", body_html, _HTML_ENV, body_allowed, listed, limits=limits)
            if body_html and body_html.strip()
            else None
        ),
        attribute_keys=keys,
        limits=limits,
    )


def unsubscribe_mailto_url(address: str, token: str = "") -> str:
    """The mailto: URL for `address` with a pre-filled subject ("Unsubscribe <token>" when a
    per-delivery token is given: docs/design.md §11); "" when no address is set."""
    if not address:
        return ""
    if token:  # per message: the part before the token is made once per address
        return _mailto_with_token(address) + urllib.parse.quote(token, safe="")
    query = urllib.parse.urlencode({"subject": UNSUBSCRIBE_SUBJECT}, quote_via=urllib.parse.quote)
    return f"mailto:{urllib.parse.quote(address, safe='@')}?{query}"


@functools.lru_cache(maxsize=64)
def _mailto_with_token(address: str) -> str:
    """``mailto:<address>?subject=Unsubscribe%20`` (the token follows)."""
    query = urllib.parse.urlencode(
        {"subject": f"{UNSUBSCRIBE_SUBJECT} "}, quote_via=urllib.parse.quote
    )
    return f"mailto:{urllib.parse.quote(address, safe='@')}?{query}"


#: What a preview shows where each message has its own token (docs/design.md §11).
SAMPLE_TOKEN = "t123-0123456789abcdef0123"  # noqa: S105 — a made-up token for the preview


def unsubscribe_link(address: str, token: str = "", page_url: str = "") -> str:
    """What `{{ unsubscribe_url }}` shows: the unsubscribe page with the token put in for
    ``{token}`` when a page is set (RFC 8058 one-click), else the mailto: URL."""
    if page_url:
        return page_url.replace("{token}", urllib.parse.quote(token or "preview", safe=""))
    return unsubscribe_mailto_url(address, token)


def build_render_context(
    *,
    contact_email: str,
    first_name: str,
    last_name: str,
    attributes: Mapping[str, object],
    campaign_name: str,
    unsubscribe_mailto: str,
    unsubscribe_url: str | None = None,
) -> dict[str, object]:
    """The variables for one recipient: the one way sending and preview build them.

    Keyword-only: six strings in a row are too easy to pass in the wrong order.

    `unsubscribe_mailto` is the plain address that takes unsubscribe requests ("" for none);
    `unsubscribe_url` the recipient's own link (`unsubscribe_link`, with its token), by
    default the mailto: URL without a token.
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
        "unsubscribe_url": (
            unsubscribe_mailto_url(unsubscribe_mailto)
            if unsubscribe_url is None
            else unsubscribe_url
        ),
        "unsubscribe_mailto": unsubscribe_mailto,
    }


def sample_context(
    attribute_keys: Iterable[str] = (),
    campaign_name: str = "Sample campaign",
    unsubscribe_mailto: str = "unsubscribe@example.com",
    unsubscribe_url: str | None = None,
) -> dict[str, object]:
    """Variables for a preview with no contact: a made-up person, attributes shown as [key];
    `unsubscribe_url` as `build_render_context` takes it."""
    return build_render_context(
        contact_email="ann.example@example.com",
        first_name="Ann",
        last_name="Example",
        attributes={key: f"[{key}]" for key in attribute_keys},
        campaign_name=campaign_name,
        unsubscribe_mailto=unsubscribe_mailto,
        unsubscribe_url=unsubscribe_url,
    )
