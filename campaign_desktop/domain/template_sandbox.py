"""The bounded Jinja sandbox campaign templates run in: size, loop steps and time per message.

Every way a template can loop, call, build text or print an object passes a check here *before*
the work is done; the bounds and why they are what they are: `campaign_desktop.domain.templates`.

How the paths are covered (Jinja 3.1's compiler, read in jinja2/compiler.py and sandbox.py):

- Calls (functions, methods, macros, ``caller()``, ``loop(…)``) compile to `Environment.call`:
  the override checks the deadline and the macro nesting, and the arguments of the string
  methods that can grow text (``center``, ``ljust``, ``rjust``, ``zfill``, ``expandtabs``,
  ``replace``, ``join``, ``translate``; ``int.to_bytes``).
- Filters do *not* pass through `call`: the compiler calls them directly. Every filter is
  therefore replaced by a checking wrapper (`_bounded_filter`); filters that iterate get their
  input through a step-counting iterator.
- ``+ * ** %`` are intercepted (`intercepted_binops`) and refused before a result too large is
  allocated. Interception also stops Jinja from evaluating them at compile time.
- ``{% for %}`` iterates its input directly in generated code, and ``~`` compiles to a plain
  join: `guard_template` rewrites both in the syntax tree into two filters of ours
  (`_guarded_loop`, `_checked_concat`) before compiling.
- Macro bodies and ``{% set %}…{% endset %}`` / ``{% filter %}`` / ``{% call %}`` blocks
  collect output in a list joined with `Environment.concat`: the override counts before joining.
- Everything printed passes `finalize`: only text, numbers, None and lists/dicts of them may
  reach the email (never a method's or an object's repr with a memory address).
- ``str.format`` is sandboxed by Jinja's `SandboxedFormatter`; ours also bounds field widths
  and the text produced. ``lipsum`` is removed; ``range`` counts at most `range_items` numbers.

The budget of the message being rendered travels in a `ContextVar`, so one environment serves
every sending thread at once.
"""

from __future__ import annotations

import inspect
import math
import re
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from functools import update_wrapper
from string import Formatter
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_eval_context
from jinja2.filters import make_attrgetter
from jinja2.runtime import (
    BlockReference,
    Context,
    LoopContext,
    Macro,
    TemplateReference,
    Undefined,
    markup_join,
    str_join,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Cycler, Joiner, Namespace
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """The bounds one message's rendering must stay within (why these: the templates module)."""

    seconds: float = 2.0  # subject and bodies together
    loop_steps: int = 100_000  # loop turns and items walked by filters, together
    range_items: int = 10_000  # numbers in one range()
    value_chars: int = 1_000_000  # characters (or list items) of any value built on the way
    subject_chars: int = 2_000  # the rendered subject
    body_chars: int = 1_000_000  # each rendered body
    call_depth: int = 50  # macros calling macros
    int_digits: int = 4_000  # a whole number built with * or **
    nesting: int = 20  # lists in lists, when printed
    json_indent: int = 16  # tojson(indent=…)

    @property
    def int_bits(self) -> int:
        return math.ceil(self.int_digits * math.log2(10))


class TemplateLimitError(Exception):
    """A template went past a bound, or asked for something it may not do.

    `headline` may hold ``{part}`` ("The text body"); `detail` says what exactly, if known.
    Deliberately not a TypeError/ValueError: Jinja's ``int``/``float`` filters swallow those.
    """

    def __init__(self, headline: str, detail: str | None = None) -> None:
        super().__init__(headline if detail is None else f"{headline}: {detail}")
        self.headline = headline
        self.detail = detail


class NotTextError(Exception):
    """A template would print an object (a method, a macro, a generator…) instead of text."""

    def __init__(self, kind: str, hint: str | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.hint = hint


class RenderBudget:
    """What one message may still spend: steps, time, macro nesting."""

    __slots__ = ("deadline", "depth", "limits", "steps_left")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.steps_left = limits.loop_steps
        self.depth = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"{{part}} took longer than {_seconds(self.limits.seconds)} to fill in"
            )

    def step(self) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise self.too_many_steps()
        self.check_time()

    def too_many_steps(self) -> TemplateLimitError:
        return TemplateLimitError(
            f"{{part}} repeats its loops more than {self.limits.loop_steps:,} times",
            "loops, and filters that go through a list, count together for each message",
        )

    def too_long(self, what: str) -> TemplateLimitError:
        return TemplateLimitError(
            f"{{part}} would build a text longer than {size_in_words(self.limits.value_chars)}",
            what,
        )


_ACTIVE: ContextVar[RenderBudget | None] = ContextVar("template_render_budget", default=None)


@contextmanager
def render_budget(limits: RenderLimits) -> Iterator[RenderBudget]:
    """Make a fresh budget the active one for this thread while the block runs."""
    budget = RenderBudget(limits)
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def current_budget() -> RenderBudget:
    """The active budget; outside `render_budget` a fresh default one (bounds still hold)."""
    return _ACTIVE.get() or RenderBudget(RenderLimits())


# --- describing values ------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")


def size_in_words(count: int) -> str:
    """ "1 MB" for a million characters, else "2,000 characters"."""
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000} MB"
    return f"{count:,} characters"


def describe_object(value: object) -> tuple[str, str | None]:  # noqa: PLR0911  (one per kind)
    """(what it is, how to fix it) for a value that is not text."""
    if isinstance(value, Macro):
        return "a macro", "add () to call it"
    if isinstance(value, LoopContext):
        return "the loop helper “loop”", "use loop.index, loop.first, loop.last…"
    if isinstance(value, (TemplateReference, BlockReference)):
        return "the template itself", None
    if isinstance(value, type):
        return f"the type “{value.__name__}”", None
    if isinstance(value, (Namespace, Cycler, Joiner)):
        return f"a {type(value).__name__.lower()}", None
    if isinstance(value, types.ModuleType):
        return "a module", None
    if callable(value):
        is_method = getattr(value, "__self__", None) is not None or hasattr(value, "__wrapped__")
        return ("a method" if is_method else "a function"), "add () to call it"
    if isinstance(value, (range, Iterator, types.MappingProxyType)) or type(value).__name__ in {
        "dict_keys",
        "dict_values",
        "dict_items",
    }:
        return "a sequence that is not a list yet", "add |list, or |join(', ')"
    if isinstance(value, (bytes, bytearray)):
        return "bytes", "add .decode()"
    return f"a “{type(value).__name__}” object", None


def text_size(value: object, limits: RenderLimits, depth: int = 0) -> int:  # noqa: PLR0911
    """About how many characters `value` prints as; NotTextError if it is not printable text.

    Stops counting once past `limits.value_chars`, so it costs at most that much.
    Undefined values count 0: printing them raises their own, better error.
    """
    if value is None or isinstance(value, Undefined):
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 2
    if isinstance(value, float):
        return 24
    if isinstance(value, Decimal):
        return len(str(value))
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        if depth >= limits.nesting:
            raise NotTextError(f"a list nested more than {limits.nesting} levels deep")
        items: Iterable[object] = (
            (x for pair in value.items() for x in pair) if isinstance(value, dict) else value
        )
        total = 2
        for item in items:
            total += 4 + text_size(item, limits, depth + 1)
            if total > limits.value_chars:
                break
        return total
    raise NotTextError(*describe_object(value))


def check_text(value: object, budget: RenderBudget, what: str) -> None:
    """Refuse `value` as input to something that turns it into text: not text, or too long."""
    limit = budget.limits.value_chars
    size = len(value) if isinstance(value, str) else text_size(value, budget.limits)
    if size > limit:
        raise budget.too_long(what)


def _check_size(value: object, budget: RenderBudget, what: str) -> None:
    limit = budget.limits.value_chars
    if isinstance(value, (str, bytes)) and len(value) > limit:
        raise budget.too_long(what)
    if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > limit:
        raise TemplateLimitError(f"{{part}} would build a list of more than {limit:,} items", what)


def finalize(value: object) -> object:
    """Jinja's output hook: None prints as nothing, and only text and numbers may print."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    check_text(value, current_budget(), f"when printing a {type(value).__name__}")
    return value


# --- counting iteration -----------------------------------------------------------------------


def _length(value: object) -> int | None:
    try:
        return len(value)  # type: ignore[arg-type]
    except (TypeError, OverflowError):
        return None


def counted(iterable: Iterable[Any], budget: RenderBudget) -> Iterator[Any]:
    """Iterate `iterable`, spending one step of `budget` per item (refused at once if sized)."""
    size = _length(iterable)
    if size is not None and size > budget.steps_left:
        raise budget.too_many_steps()
    iterator = iter(iterable)  # now, so that an undefined or a number fails where it is used
    return _counting(iterator, budget)


def _counting(iterator: Iterator[Any], budget: RenderBudget) -> Iterator[Any]:
    for item in iterator:
        budget.step()
        yield item


def bounded_range(*args: int) -> range:
    """The ``range`` of templates: at most `range_items` numbers."""
    budget = current_budget()
    numbers = range(*args)
    size = _length(numbers)
    if size is None or size > budget.limits.range_items:
        shown = ", ".join(f"{arg:,}" if isinstance(arg, int) else repr(arg) for arg in args)
        raise TemplateLimitError(
            "{part} asks for a range that is too long",
            f"range({shown}) would count {'too many' if size is None else f'{size:,}'} numbers; "
            f"a range counts at most {budget.limits.range_items:,}",
        )
    return numbers


# --- binary operators -------------------------------------------------------------------------

_SIZED = (str, bytes, list, tuple)
_PERCENT_SPEC = re.compile(r"%(?:\(([^)]*)\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.?)", re.S)


def _too_many_digits(budget: RenderBudget, operator: str) -> TemplateLimitError:
    return TemplateLimitError(
        f"{{part}} would make a number with more than {budget.limits.int_digits:,} digits",
        f"with “{operator}”",
    )


def _check_binop(operator: str, left: object, right: object, budget: RenderBudget) -> None:
    limits = budget.limits
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > limits.int_bits:
                raise _too_many_digits(budget, operator)
            return
        sequence, times = (left, right) if isinstance(right, int) else (right, left)
        if (
            isinstance(sequence, _SIZED)
            and isinstance(times, int)
            and len(sequence) * times > limits.value_chars
        ):
            unit = "characters" if isinstance(sequence, (str, bytes)) else "items"
            raise budget.too_long(f"“*” would make {len(sequence) * times:,} {unit}")
    elif operator == "**":
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and right * math.log2(abs(left)) > limits.int_bits
        ):
            raise _too_many_digits(budget, operator)
    elif operator == "+":
        if (
            isinstance(left, _SIZED)
            and isinstance(right, _SIZED)
            and len(left) + len(right) > limits.value_chars
        ):
            raise budget.too_long("with “+”")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right, budget, "with “%”")


def check_percent_format(text: str, values: object, budget: RenderBudget, what: str) -> None:
    """Refuse ``text % values`` before it runs if it would print an object or too much."""
    limits = budget.limits
    positional = values if isinstance(values, tuple) else (values,)
    mapping = values if isinstance(values, Mapping) else None
    total = len(text)
    position = 0
    for match in _PERCENT_SPEC.finditer(text):
        key, width, precision, conversion = match.groups()
        if conversion == "%":
            continue
        for spec in (width, precision):
            number: object = spec
            if spec == "*":
                number = positional[position] if position < len(positional) else 0
                position += 1
            elif spec is not None:
                number = int(spec)
            if isinstance(number, int):
                if number > limits.value_chars:
                    raise TemplateLimitError(
                        "{part} asks for a width that is too large",
                        f"{number:,} characters {what}; the most is {limits.value_chars:,}",
                    )
                total += max(number, 0)
        if key is not None and mapping is not None:
            value = mapping.get(key)
        else:
            value = positional[position] if position < len(positional) else None
            position += 1
        total += text_size(value, limits)
        if total > limits.value_chars:
            raise budget.too_long(what)


# --- calls ------------------------------------------------------------------------------------

_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def _check_builtin_call(
    function: object, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: RenderBudget
) -> tuple[Any, ...]:
    """Refuse a str/bytes/int method call that would build a value past the bounds.

    Returns the positional arguments to call with (``join`` gets its items as a list).
    """
    # Builtin methods, and Markup's (Python methods wrapping str's: ``(x|safe).center(n)``).
    if not isinstance(function, (types.BuiltinMethodType, types.MethodType)):
        return args
    owner = function.__self__
    name = function.__name__
    if isinstance(owner, int) and name == "to_bytes":
        length = _argument(args, kwargs, 0, "length")
        if isinstance(length, int) and length > budget.limits.value_chars:
            raise budget.too_long(f"in “{name}”")
    if isinstance(owner, (str, bytes)):
        return _check_text_method(owner, name, args, kwargs, budget)
    return args


def _check_text_method(
    owner: str | bytes,
    name: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    budget: RenderBudget,
) -> tuple[Any, ...]:
    limit = budget.limits.value_chars
    what = f"in “{name}”"
    if name in _WIDTH_METHODS:
        width = _argument(args, kwargs, 0, "width")
        if isinstance(width, int) and width > limit:
            raise TemplateLimitError(
                "{part} asks for a width that is too large",
                f"{name}({width:,}); the most is {limit:,} characters",
            )
    elif name == "expandtabs":
        tabsize = _argument(args, kwargs, 0, "tabsize")
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        if isinstance(tabsize, int) and len(owner) + tabs * tabsize > limit:
            raise budget.too_long(what)
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1], _argument(args, kwargs, 2, "count"), budget)
    elif name == "join" and args:
        items = list(counted(args[0], budget))
        size = sum(len(item) for item in items if isinstance(item, (str, bytes)))
        if size + len(owner) * max(len(items) - 1, 0) > limit:
            raise budget.too_long(what)
        return (items, *args[1:])
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        if len(owner) * max(longest, 1) > limit:
            raise budget.too_long(what)
    return args


def _check_replace(
    text: object, old: object, new: object, count: object, budget: RenderBudget
) -> None:
    # Two branches: mypy narrows str and bytes apart only this way.
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):  # noqa: SIM114
        found = text.count(old) if old else len(text) + 1
    elif isinstance(text, bytes) and isinstance(old, bytes) and isinstance(new, bytes):
        found = text.count(old) if old else len(text) + 1
    else:
        return  # replace itself refuses the mix
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    if len(text) + found * (len(new) - len(old)) > budget.limits.value_chars:
        raise budget.too_long("in “replace”")


# --- str.format -------------------------------------------------------------------------------

_SPEC_NUMBER = re.compile(r"\d+")


class _BoundedFormatter(SandboxedFormatter):
    """Jinja's sandboxed ``str.format`` that also bounds widths and the text it makes."""

    def __init__(self, env: BoundedEnvironment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._produced = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        budget = current_budget()
        check_text(value, budget, "in “format”")
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget = current_budget()
        budget.check_time()
        limit = budget.limits.value_chars
        for number in _SPEC_NUMBER.findall(format_spec):
            if int(number) > limit:
                raise TemplateLimitError(
                    "{part} asks for a width that is too large",
                    f"“{format_spec}” in “format”; the most is {limit:,} characters",
                )
        text = super().format_field(value, format_spec)
        self._produced += len(text)
        if self._produced > limit:
            raise budget.too_long("in “format”")
        return text


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


# --- filters ----------------------------------------------------------------------------------

#: Filters that turn their input into text: it must be text (or numbers, lists of them).
_TEXT_FILTERS = frozenset(
    {
        "capitalize",
        "center",
        "e",
        "escape",
        "forceescape",
        "format",
        "indent",
        "lower",
        "pprint",
        "replace",
        "safe",
        "string",
        "striptags",
        "title",
        "tojson",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "urlize",
        "wordcount",
        "wordwrap",
        "xmlattr",
    }
)

#: Filters that go through their input item by item: each item is a step.
_ITERATING_FILTERS = frozenset(
    {
        "batch",
        "groupby",
        "list",
        "map",
        "max",
        "min",
        "reject",
        "rejectattr",
        "select",
        "selectattr",
        "slice",
        "sort",
        "sum",
        "unique",
    }
)

_Arguments = Mapping[str, Any]

#: What Jinja passes first to a filter marked pass_context/pass_eval_context/pass_environment
#: (async-aware filters get an eval context their own signature does not show).
_PASSED_FIRST = frozenset({"context", "eval_ctx", "environment", "env"})


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _center_check(arguments: _Arguments, budget: RenderBudget) -> None:
    width = arguments["width"]
    limit = budget.limits.value_chars
    if isinstance(width, int) and width > limit:
        raise TemplateLimitError(
            "{part} asks for a width that is too large",
            f"center({width:,}); the most is {limit:,} characters",
        )


def _indent_check(arguments: _Arguments, budget: RenderBudget) -> None:
    text, width = _text(arguments["s"]), arguments["width"]
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if len(text) + (text.count("\n") + 1) * pad > budget.limits.value_chars:
        raise budget.too_long("in “indent”")


def _wordwrap_check(arguments: _Arguments, budget: RenderBudget) -> None:
    text, width = _text(arguments["s"]), arguments["width"]
    wrap = arguments["wrapstring"]
    breaks = len(wrap) if isinstance(wrap, str) else 2
    if isinstance(width, int) and width > 0:
        lines = len(text) // width + text.count("\n") + 1
        if len(text) + lines * breaks > budget.limits.value_chars:
            raise budget.too_long("in “wordwrap”")


def _replace_check(arguments: _Arguments, budget: RenderBudget) -> None:
    _check_replace(
        _text(arguments["s"]),
        arguments["old"],
        arguments["new"],
        arguments["count"],
        budget,
    )


def _format_check(arguments: _Arguments, budget: RenderBudget) -> None:
    values = arguments["kwargs"] or arguments["args"]
    check_percent_format(_text(arguments["value"]), values, budget, "in “format”")


def _batch_check(arguments: _Arguments, budget: RenderBudget) -> None:
    count = arguments["linecount"]
    limit = budget.limits.range_items
    if arguments["fill_with"] is not None and isinstance(count, int) and count > limit:
        raise TemplateLimitError(
            "{part} asks for batches that are too large",
            f"batch({count:,}, …) with a filler; the most is {limit:,}",
        )


def _slice_check(arguments: _Arguments, budget: RenderBudget) -> None:
    count = arguments["slices"]
    limit = budget.limits.range_items
    if isinstance(count, int) and count > limit:
        raise TemplateLimitError(
            "{part} asks for too many slices", f"slice({count:,}); the most is {limit:,}"
        )


def _tojson_check(arguments: _Arguments, budget: RenderBudget) -> None:
    indent = arguments["indent"]
    size = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    limit = budget.limits.json_indent
    if size > limit:
        raise TemplateLimitError(
            "{part} asks for a width that is too large",
            f"tojson(indent={size:,}); the most is {limit}",
        )


def _urlize_check(arguments: _Arguments, budget: RenderBudget) -> None:
    text = _text(arguments["value"])
    extra = sum(len(value) for key in ("rel", "target") if isinstance(value := arguments[key], str))
    # Every word may become a link: its text twice, and the attributes once.
    if 2 * len(text) + len(text.split()) * (extra + 40) > budget.limits.value_chars:
        raise budget.too_long("in “urlize”")


_FILTER_CHECKS: dict[str, Callable[[_Arguments, RenderBudget], None]] = {
    "center": _center_check,
    "indent": _indent_check,
    "wordwrap": _wordwrap_check,
    "replace": _replace_check,
    "format": _format_check,
    "batch": _batch_check,
    "slice": _slice_check,
    "tojson": _tojson_check,
    "urlize": _urlize_check,
}


def _binder(
    function: Callable[..., Any], *, skip_first: bool
) -> Callable[[tuple[Any, ...], Mapping[str, Any]], dict[str, Any] | None]:
    """A quick `inspect.Signature.bind` + `apply_defaults` for `function` (None: cannot bind).

    `inspect`'s own costs more than most filters; this runs on every filtered value.
    """
    parameters = list(inspect.signature(function).parameters.values())
    if skip_first and parameters and parameters[0].name in _PASSED_FIRST:
        parameters = parameters[1:]  # what Jinja passes first: not the filter's own arguments
    kinds = inspect.Parameter
    positional = [
        p.name for p in parameters if p.kind in {kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD}
    ]
    required = [p.name for p in parameters if p.default is kinds.empty and p.name in positional]
    defaults = {p.name: p.default for p in parameters if p.default is not kinds.empty}
    rest = next((p.name for p in parameters if p.kind is kinds.VAR_POSITIONAL), None)
    named = next((p.name for p in parameters if p.kind is kinds.VAR_KEYWORD), None)

    def bind(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        arguments = dict(defaults)
        arguments.update(zip(positional, args, strict=False))
        if rest is not None:
            arguments[rest] = args[len(positional) :]
        extra = {key: value for key, value in kwargs.items() if key not in positional}
        arguments.update((key, kwargs[key]) for key in kwargs if key in positional)
        if named is not None:
            arguments[named] = extra
        else:
            arguments.update(extra)
        return arguments if all(name in arguments for name in required) else None

    return bind


def _bounded_join(join: Callable[..., Any]) -> Callable[..., Any]:
    """``join`` with its items counted and their total length checked before joining."""

    @pass_eval_context
    def bounded(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
        budget = current_budget()
        if attribute is not None:
            value = map(make_attrgetter(eval_ctx.environment, attribute), value)
        items = list(counted(value, budget))
        size = sum(text_size(item, budget.limits) for item in items)
        if size + len(_text(d)) * max(len(items) - 1, 0) > budget.limits.value_chars:
            raise budget.too_long("in “join”")
        return join(eval_ctx, items, d)

    update_wrapper(bounded, join)
    return bounded


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with the deadline, its input and arguments checked before it runs."""
    if name == "join":
        function = _bounded_join(function)
    # Jinja passes the context/environment first to filters marked with pass_context & co.
    offset = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0
    check = _FILTER_CHECKS.get(name)
    bind = _binder(function, skip_first=bool(offset)) if check is not None else None
    takes_text = name in _TEXT_FILTERS
    iterates = name in _ITERATING_FILTERS
    what = f"in the filter “{name}”"

    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.check_time()
        if len(args) > offset:
            value = args[offset]
            if takes_text:
                check_text(value, budget, what)
            if iterates:
                args = (*args[:offset], counted(value, budget), *args[offset + 1 :])
        if check is not None and bind is not None:
            arguments = bind(args[offset:], kwargs)
            if arguments is not None:  # else the filter itself says what is wrong
                check(arguments, budget)
        result = function(*args, **kwargs)
        _check_size(result, budget, what)
        return result

    update_wrapper(bounded, function)  # keeps jinja_pass_arg: Jinja reads it to pass context
    return bounded


# --- the environment --------------------------------------------------------------------------


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with every loop, call, operator and output bounded.

    Immutable: lists and dicts cannot be changed in place (``append``, ``update``…), so a
    template cannot grow a structure behind the checks' back.
    """

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=autoescape,
            finalize=finalize,
            # Bodies keep the newline the marketer typed at the end of the text.
            keep_trailing_newline=True,
        )
        # Placeholder text of any length in one call: nothing a campaign needs.
        del self.globals["lipsum"]
        self.globals["range"] = bounded_range
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP_FILTER] = _guarded_loop
        self.filters[_CONCAT_FILTER] = _checked_concat

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = current_budget()
        _check_binop(operator, left, right, budget)
        result = super().call_binop(context, operator, left, right)
        _check_size(result, budget, f"with “{operator}”")
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.check_time()
        if isinstance(obj, LoopContext) and args:  # loop(children) in a recursive for loop
            args = (counted(args[0], budget), *args[1:])
        else:
            args = _check_builtin_call(obj, args, kwargs, budget)
        if budget.depth >= budget.limits.call_depth:
            raise TemplateLimitError(
                f"{{part}} nests macro calls more than {budget.limits.call_depth} levels deep",
                "does a macro call itself without end?",
            )
        budget.depth += 1
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        _check_size(result, budget, f"in “{getattr(obj, '__name__', 'a call')}”")
        return result

    def concat(self, parts: Iterable[str]) -> str:
        """Join a macro's or block's output, after counting it."""
        pieces = parts if isinstance(parts, list) else list(parts)
        budget = current_budget()
        budget.check_time()
        if sum(map(len, pieces)) > budget.limits.value_chars:
            raise budget.too_long("in a macro or a “set”, “filter” or “call” block")
        return "".join(pieces)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed ``str.format``/``format_map``, through `_BoundedFormatter`."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or (
            value.__name__ not in {"format", "format_map"}
        ):
            return None
        text = value.__self__
        if not isinstance(text, str):
            return None
        text_type = type(text)
        is_format_map = value.__name__ == "format_map"
        formatter: Formatter = (
            _BoundedEscapeFormatter(self, escape=text.escape)
            if isinstance(text, Markup)
            else _BoundedFormatter(self)
        )

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs = args[0]
                args = ()
            return text_type(formatter.vformat(text, args, kwargs))

        return update_wrapper(wrapper, value)


# The guard's two filters. Names no template can write (not identifiers); filters because
# the compiler calls filters directly, where a call would go through `call`'s checks.
_LOOP_FILTER = "(guarded loop)"
_CONCAT_FILTER = "(checked ~)"


def _guarded_loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """What every ``{% for %}`` iterates (see `guard_template`): one step per item."""
    return counted(iterable, current_budget())


@pass_eval_context
def _checked_concat(eval_ctx: Any, *parts: Any) -> str:
    """What ``a ~ b`` compiles to (see `guard_template`): checked, then Jinja's own join."""
    check_text(parts, current_budget(), "with “~”")
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


class _Guard(NodeTransformer):
    """Route ``{% for %}`` through `_guarded_loop` and ``~`` through `_checked_concat`."""

    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802  (Jinja's visitor names)
        guarded = self.generic_visit(node)
        assert isinstance(guarded, nodes.For)
        guarded.iter = _filter(_LOOP_FILTER, [guarded.iter], node.lineno)
        return guarded

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802
        guarded = self.generic_visit(node)
        assert isinstance(guarded, nodes.Concat)
        return _filter(_CONCAT_FILTER, list(guarded.nodes), node.lineno)


def _filter(name: str, values: list[nodes.Node], lineno: int) -> nodes.Filter:
    """``values[0]|name(*values[1:])``."""
    return nodes.Filter(values[0], name, values[1:], [], None, None, lineno=lineno)


def guard_template(ast: nodes.Template, env: BoundedEnvironment) -> nodes.Template:
    """Rewrite a parsed template so its loops and ``~`` run through the environment's checks."""
    guarded = _Guard().visit(ast)
    assert isinstance(guarded, nodes.Template)
    guarded.set_environment(env)
    return guarded
