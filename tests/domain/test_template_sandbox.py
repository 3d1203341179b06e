"""Tests of the bounded template sandbox: runtime faults, objects printed, size, loops and time.

Every template is compiled and rendered in a worker thread (as the sending engine does) that
the test waits on with a generous bound: a missing bound fails the test instead of hanging the
suite. Nothing here measures time; the deadline test uses a small `RenderLimits.seconds`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.templates import (
    RenderedMessage,
    RenderLimits,
    build_render_context,
    compile_campaign_templates,
)

_T = TypeVar("_T")

#: Far beyond any bound: reached only if a bound is missing (then the test fails, not hangs).
HANG_SECONDS = 120

KEYS = ("company", "discount", "bio")


def context(**attributes: object) -> dict[str, object]:
    values: dict[str, object] = {"company": "Acme", "discount": "10", "bio": "Likes tea."}
    values.update(attributes)
    return build_render_context(
        contact_email="anna@example.com",
        first_name="Anna",
        last_name="Lee",
        attributes=values,
        campaign_name="Spring sale",
        unsubscribe_mailto="unsubscribe@example.com",
    )


def in_worker(work: Callable[[], _T]) -> _T:
    """Run `work` in a daemon thread; fail (not hang) if it is still running after the bound."""
    values: list[_T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            values.append(work())
        except BaseException as exc:  # handed back to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True, name="render")
    thread.start()
    thread.join(HANG_SECONDS)
    if thread.is_alive():
        pytest.fail(f"rendering still ran after {HANG_SECONDS} s: a bound is missing")
    if errors:
        raise errors[0]
    return values[0]


def render(
    body_text: str,
    *,
    subject: str = "Hi",
    body_html: str | None = None,
    limits: RenderLimits | None = None,
    **attributes: object,
) -> RenderedMessage:
    def work() -> RenderedMessage:
        templates = compile_campaign_templates(subject, body_text, body_html, KEYS, limits=limits)
        return templates.render(context(**attributes), recipient="anna@example.com")

    return in_worker(work)


def refusal(body_text: str, **kwargs: object) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        render(body_text, **kwargs)  # type: ignore[arg-type]
    return raised.value


# --- runtime faults become ValidationErrors with the true reason ---------------------------------


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 1/0 }}", "division by zero"),
        ("{{ first_name + 1 }}", 'can only concatenate str (not "int") to str'),
        ("{{ 100 // discount|int }}", "integer division or modulo by zero"),
        ("{{ company.nickname }}", "'str object' has no attribute 'nickname'"),
        ("{{ none.x }}", "'None' has no attribute 'x'"),
        ("{{ [1][5] }}", "list object has no element 5"),
    ],
)
def test_a_runtime_fault_names_the_part_the_line_the_recipient_and_the_reason(
    source: str, reason: str
) -> None:
    error = refusal(f"Dear {{{{ first_name }}}},\n\n{source}\n", discount="")

    assert error.field == "body_text"
    assert error.message == (
        f"The text body could not be filled in on line 3 for anna@example.com: {reason}."
    )


def test_a_fault_in_a_macro_names_the_macro_line() -> None:
    source = "{% macro share(n) %}\n{{ 100 / n }}\n{% endmacro %}\n{{ share(0) }}"

    error = refusal(source)

    assert error.message.startswith("The text body could not be filled in on line 2")
    assert error.message.endswith(": division by zero.")


def test_a_fault_in_the_html_body_names_the_html_body() -> None:
    error = refusal("Fine", body_html="<p>{{ 1/0 }}</p>")

    assert error.field == "body_html"
    assert error.message.startswith("The HTML body could not be filled in")


def test_a_macro_calling_itself_without_end_is_refused() -> None:
    error = refusal("{% macro again() %}{{ again() }}{% endmacro %}{{ again() }}")

    assert error.field == "body_text"
    assert "nests macro calls more than 50 levels deep" in error.message
    assert "does a macro call itself without end?" in error.message


def test_a_recursive_macro_within_the_depth_bound_renders() -> None:
    source = "{% macro down(n) %}{{ n }}{% if n %}{{ down(n - 1) }}{% endif %}{% endmacro %}"

    assert render(source + "{{ down(20) }}").text == "".join(str(n) for n in range(20, -1, -1))


def test_a_blocked_format_trick_is_refused_for_safety() -> None:
    error = refusal("{{ '{0.__class__}'.format(first_name) }}")

    assert "tried something that is blocked for safety" in error.message
    assert "__class__" in error.message


# --- printing objects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind", "shown"),
    [
        ("{{ first_name.upper }}", "a method", "{{ first_name.upper }} (add () to call it)"),
        ("{{ company.split }}", "a method", "{{ company.split }} (add () to call it)"),
        ("{{ first_name.upper|string }}", "a method", "{{ first_name.upper|string }}"),
        ("{{ 'Dear ' ~ first_name.title }}", "a method", "{{ 'Dear ' ~ first_name.title }}"),
        ("{{ '%s' % first_name.upper }}", "a method", "{{ '%s' % first_name.upper }}"),
        ("{{ '{!r}'.format(first_name.upper) }}", "a method", "'{!r}'.format(first_name.upper)"),
        ("{{ dict(a=first_name.upper) }}", "a method", "{{ dict(a=first_name.upper) }}"),
        ("{{ [first_name.upper] }}", "a method", "{{ [first_name.upper] }}"),
        ("{{ '%(a)s' % {'a': first_name.upper} }}", "a method", "% {'a': first_name.upper} }}"),
        ("{{ company|map('upper') }}", "a sequence that is not a list yet", "add |list"),
        ("{{ range(3) }}", "a sequence that is not a list yet", "add |list"),
        ("{{ namespace(a=1) }}", "a namespace", "{{ namespace(a=1) }}"),
        ("{{ cycler('a', 'b') }}", "a cycler", "{{ cycler('a', 'b') }}"),
        ("{{ first_name.encode() }}", "bytes", "add .decode()"),
        ("{% for x in [1] %}{{ loop.cycle }}{% endfor %}", "a method", "{{ loop.cycle }}"),
    ],
)
def test_printing_an_object_is_refused_naming_what_it_is_and_the_expression(
    source: str, kind: str, shown: str
) -> None:
    error = refusal(f"Hello,\n{source}")

    assert error.field == "body_text"
    assert error.message.startswith(
        f"The text body would show {kind} instead of text on line 2 for anna@example.com"
    )
    assert shown in error.message
    assert "0x" not in error.message


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("{{ self }}", "{{ self }} would show the template itself, not text."),
        ("{% for x in [1] %}{{ loop }}{% endfor %}", "{{ loop }} would show the loop helper"),
        ("{% macro m() %}x{% endmacro %}{{ m }}", "{{ m }} would show a macro, not text; add ()"),
        ("{{ range }}", "{{ range }} would show a function, not text; add () to call it."),
        ("{% macro m() %}{{ caller }}{% endmacro %}", "{{ caller }} would show a macro"),
    ],
)
def test_printing_a_name_that_is_never_a_value_is_refused_when_compiling(
    source: str, shown: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        compile_campaign_templates("Hi", f"Hello\n{source}", None)

    assert raised.value.field == "body_text"
    assert raised.value.message.startswith("Template error on line 2: ")
    assert shown in raised.value.message


def test_a_name_assigned_in_the_template_may_be_printed() -> None:
    assert render("{% set range = 'r' %}{{ range }}").text == "r"


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("{{ range(10)|list }}", "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"),
        ("{{ {'a': 1} }} {{ (1, 'b') }} {{ 1.5 }} {{ true }} [{{ none }}]", "{'a': 1} (1, 'b')"),
        ("{{ '%s and %s'|format(first_name, company) }}", "Anna and Acme"),
        ("{{ '%-6s|' % first_name }}{{ '{:>6}|'.format(company) }}", "Anna  |  Acme|"),
        ("{{ first_name.upper() }} {{ company|center(8) }}", "ANNA   Acme  "),
        ("{{ [first_name, company]|join(', ') }}", "Anna, Acme"),
        ("{{ 'x' ~ 1 ~ none }}", "x1None"),
        ("{{ bio|wordwrap(5) }}", "Likes\ntea."),
        ("{{ 2 ** 100 }}", str(2**100)),
    ],
)
def test_ordinary_values_print_as_before(source: str, text: str) -> None:
    assert render(source).text.startswith(text)


# --- imports and other template files -----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        ("{% include 'footer.txt' %}", "{% include %}"),
        ("{% import 'macros.txt' as m %}", "{% import %}"),
        ("{% from 'macros.txt' import greet %}", "{% from … import %}"),
        ("{% extends 'base.txt' %}", "{% extends %}"),
    ],
)
def test_tags_that_need_other_template_files_are_refused_when_compiling(
    source: str, tag: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        compile_campaign_templates("Hi", f"Hello\n{source}", None)

    assert raised.value.field == "body_text"
    assert raised.value.message == (
        f"Template error on line 2: {tag} cannot be used. A campaign's templates stand alone: "
        "there are no other template files to include, import or extend."
    )


def test_lipsum_is_not_available() -> None:
    with pytest.raises(ValidationError) as raised:
        compile_campaign_templates("Hi", "{{ lipsum(2000000) }}", None)

    assert raised.value.message.startswith("Unknown variable “lipsum” on line 1.")


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
        "{% for i in [1] %}" * 25 + "x" + "{% endfor %}" * 25,
        "{% if 1 %}" * 120 + "x" + "{% endif %}" * 120,
    ],
)
def test_templates_nested_too_deeply_are_refused_when_compiling(source: str) -> None:
    with pytest.raises(ValidationError) as raised:
        in_worker(lambda: compile_campaign_templates("Hi", source, None))

    assert raised.value.field == "body_text"
    assert "nested too deeply" in raised.value.message


# --- size bounds --------------------------------------------------------------------------------

TOO_LONG = "would build a text longer than 1 MB on line 1 for anna@example.com"


@pytest.mark.parametrize(
    ("source", "how"),
    [
        ("{{ 'a' * 10**9 }}", "“*” would make 1,000,000,000 characters"),
        ("{{ 10**9 * first_name }}", "“*” would make 4,000,000,000 characters"),
        ("{{ ([company] * 1000001)|length }}", "“*” would make 1,000,001 items"),
        ("{{ ([company * 1000] * 1000)|join }}", "in “join”"),
        ("{{ ''.join([bio * 200] * 1000) }}", "in “join”"),
        ("{{ ('-'|safe).join([bio * 200] * 1000) }}", "in “join”"),
        ("{{ bio.replace('', bio * 10000) }}", "in “replace”"),
        ("{{ bio|replace('x', bio * 20000) }}", "in “replace”"),
        ("{{ bio|indent(10**6) }}", "in “indent”"),
        ("{{ (bio * 1000)|wordwrap(1, wrapstring='-' * 1000) }}", "in “wordwrap”"),
        ("{{ '\t\t'.expandtabs(10**9) }}", "in “expandtabs”"),
        ("{{ (1).to_bytes(10**9, 'big') }}", "in “to_bytes”"),
        ("{{ '%s%s%s' % (bio * 90000, bio * 90000, bio * 90000) }}", "with “%”"),
        ("{{ ('{0}' * 100).format(bio * 90000) }}", "in “format”"),
        ("{{ [bio * 90000] * 2 }}", "when printing a list"),
    ],
)
def test_a_value_past_the_size_bound_is_refused_before_it_is_built(source: str, how: str) -> None:
    error = refusal(source, bio="x" * 10)

    assert error.field == "body_text"
    assert TOO_LONG in error.message or "a list of more than 1,000,000 items" in error.message
    assert how in error.message


@pytest.mark.parametrize(
    ("source", "how"),
    [
        ("{{ first_name|center(10**9) }}", "center(1,000,000,000)"),
        ("{{ first_name.ljust(10**9) }}", "ljust(1,000,000,000)"),
        ("{{ first_name.rjust(10**7) }}", "rjust(10,000,000)"),
        ("{{ first_name.zfill(10**8) }}", "zfill(100,000,000)"),
        ("{{ (first_name|safe).center(10**9) }}", "center(1,000,000,000)"),
        ("{{ '%*s' % (10**9, first_name) }}", "1,000,000,000 characters with “%”"),
        ("{{ '%.9999999f' % 1.5 }}", "9,999,999 characters with “%”"),
        ("{{ '%9999999s'|format(first_name) }}", "9,999,999 characters in “format”"),
        ("{{ '{:>999999999}'.format(first_name) }}", "“>999999999” in “format”"),
        ("{{ '{:{w}}'.format(first_name, w=10**8) }}", "“100000000” in “format”"),
        ("{{ [1]|tojson(indent=10**8) }}", "tojson(indent=100,000,000)"),
    ],
)
def test_a_huge_width_is_refused_before_padding(source: str, how: str) -> None:
    error = refusal(source)

    assert error.message.startswith(
        "The text body asks for a width that is too large on line 1 for anna@example.com: "
    )
    assert how in error.message


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{{ range(10)|batch(10**9, 0)|list }}", "batch(1,000,000,000, …) with a filler"),
        ("{{ range(10)|slice(10**9)|list }}", "slice(1,000,000,000)"),
    ],
)
def test_filters_with_huge_counts_are_refused(source: str, words: str) -> None:
    assert words in refusal(source).message


@pytest.mark.parametrize("source", ["{{ 2 ** 100000 }}", "{{ (10 ** 3000) * (10 ** 3000) }}"])
def test_a_number_too_large_is_refused_before_it_is_computed(source: str) -> None:
    error = refusal(source)

    assert "would make a number with more than 4,000 digits" in error.message


@pytest.mark.parametrize("join", ["~", "+"])
def test_text_doubling_in_a_loop_stops_at_the_size_bound(join: str) -> None:
    source = (
        "{% set ns = namespace(text='ab') %}{% for i in range(60) %}"
        f"{{% set ns.text = ns.text {join} ns.text %}}{{% endfor %}}{{{{ ns.text|length }}}}"
    )

    error = refusal(source)

    assert TOO_LONG in error.message
    assert f"with “{join}”" in error.message


@pytest.mark.parametrize(
    "source",
    [
        "{% set page %}{% for i in range(10000) %}{{ bio }}{% endfor %}{% endset %}"
        "{{ page|length }}",
        "{% macro page() %}{% for i in range(10000) %}" + "y" * 200 + "{% endfor %}{% endmacro %}"
        "{{ page()|length }}",
        "{% filter upper %}{% for i in range(10000) %}{{ bio }}{% endfor %}{% endfilter %}",
    ],
)
def test_a_block_collecting_too_much_text_is_refused_before_joining(source: str) -> None:
    error = refusal(source, bio="x" * 200)

    assert TOO_LONG in error.message
    assert "in a macro or a “set”, “filter” or “call” block" in error.message


def test_a_list_nested_without_end_is_refused_when_printed() -> None:
    source = (
        "{% set ns = namespace(items=[]) %}{% for i in range(100) %}"
        "{% set ns.items = [ns.items] %}{% endfor %}{{ ns.items }}"
    )

    assert "would show a list nested more than 20 levels deep" in refusal(source).message


def test_lists_cannot_be_changed_in_place() -> None:
    error = refusal("{% set items = [1] %}{{ items.append(items) }}")

    assert "blocked for safety" in error.message


def test_a_body_longer_than_its_bound_is_refused() -> None:
    error = refusal("{% for i in range(5000) %}{{ bio }}{% endfor %}", bio="x" * 250)

    assert error.field == "body_text"
    assert error.message == "The text body would be longer than 1 MB for anna@example.com."


def test_a_subject_longer_than_its_bound_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        render("Hello", subject="{% for i in range(700) %}{{ first_name }}{% endfor %}")

    assert raised.value.field == "subject"
    assert raised.value.message == (
        "The subject would be longer than 2,000 characters for anna@example.com."
    )


def test_an_html_body_longer_than_its_bound_is_refused() -> None:
    error = refusal(
        "Hi", body_html="{% for i in range(5000) %}<p>{{ bio }}</p>{% endfor %}", bio="x" * 250
    )

    assert error.field == "body_html"
    assert error.message.startswith("The HTML body would be longer than 1 MB")


def test_a_body_just_under_its_bound_renders() -> None:
    message = render("{% for i in range(4000) %}{{ bio }}{% endfor %}", bio="x" * 250)

    assert len(message.text) == 1_000_000


# --- loop bounds --------------------------------------------------------------------------------

TOO_MANY_STEPS = "The text body repeats its loops more than 100,000 times on line 1"


def test_a_range_longer_than_its_bound_is_refused() -> None:
    error = refusal(
        "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"
    )

    assert error.message.startswith(
        "The text body asks for a range that is too long on line 1 for anna@example.com: "
        "range(99,999) would count 99,999 numbers; a range counts at most 10,000."
    )


@pytest.mark.parametrize(
    "source",
    [
        "{% for a in range(9999) %}{% for b in range(9999) %}{% endfor %}{% endfor %}",
        "{% for a in bio %}{% for b in bio %}{% endfor %}{% endfor %}",
        "{% for a in range(10000) %}{{ bio|list|length }}{% endfor %}",
        "{{ bio|list|length }}",
        "{{ bio|sort|join }}",
        "{% for a in range(100) %}{{ range(10000)|map('string')|join|length }}{% endfor %}",
        "{% for x in [[[1]]] * 200 recursive %}{% if x is iterable %}"
        "{{ loop(x * 2000) }}{% endif %}{% endfor %}",
    ],
)
def test_loops_stop_at_the_step_budget_of_a_message(source: str) -> None:
    error = refusal(source, bio="x" * 200_000)

    assert error.field == "body_text"
    assert error.message.startswith(TOO_MANY_STEPS)


def test_the_step_budget_is_shared_by_the_parts_of_one_message() -> None:
    loop = "{% for i in range(6) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"

    with pytest.raises(ValidationError) as raised:
        render(loop, subject=loop)

    assert raised.value.field == "body_text"


def test_a_legitimate_hundred_row_loop_renders() -> None:
    rows = [{"name": f"Item {n}", "price": n * 1.5} for n in range(100)]
    source = (
        "{% for row in rows %}{{ loop.index }}. {{ row.name }}: {{ '%.2f'|format(row.price) }}"
        "{% if not loop.last %}\n{% endif %}{% endfor %}"
    )

    def work() -> RenderedMessage:
        templates = compile_campaign_templates("Hi", source, None, ("rows",))
        return templates.render({"rows": rows})

    text = in_worker(work).text

    assert text.splitlines()[0] == "1. Item 0: 0.00"
    assert text.splitlines()[-1] == "100. Item 99: 148.50"


def test_loop_helpers_work_through_the_guard() -> None:
    source = (
        "{% for x in ['a', 'b', 'c'] if x != 'b' %}{{ loop.index }}/{{ loop.length }}"
        "{{ ',' if not loop.last }}{% else %}none{% endfor %}"
        "{% for x in [] %}x{% else %} empty{% endfor %}"
    )

    assert render(source).text == "1/2,2/2 empty"


def test_messages_rendered_at_once_in_several_threads_have_their_own_budgets() -> None:
    # 60,000 steps each: four threads sharing one budget would run out.
    templates = compile_campaign_templates(
        "Hi", "{% for i in range(6) %}{% for j in range(10000) %}{% endfor %}{% endfor %}ok", None
    )
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        text = templates.render({}).text
        with lock:
            results.append(text)

    threads = [threading.Thread(target=in_worker, args=(work,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_SECONDS)

    assert results == ["ok"] * 4


# --- the time bound -----------------------------------------------------------------------------


def test_a_template_that_runs_too_long_stops_at_the_time_bound() -> None:
    # Each step builds and upper-cases 750 kB: minutes of work, within every other bound.
    source = (
        "{% for i in range(10000) %}{% for j in range(9) %}"
        "{% set page = (bio * 75000).upper() %}{% endfor %}{% endfor %}"
    )

    error = refusal(source, limits=RenderLimits(seconds=0.2))

    assert error.field == "body_text"
    assert error.message.startswith("The text body took longer than 0.2 seconds to fill in")
    assert error.message.endswith("for anna@example.com.")


def test_the_time_bound_holds_for_every_message_anew() -> None:
    templates = compile_campaign_templates(
        "Hi", "{{ first_name }}", None, limits=RenderLimits(seconds=0.2)
    )

    texts = in_worker(lambda: [templates.render({"first_name": n}).text for n in "ABC"])

    assert texts == ["A", "B", "C"]


def test_html_escaping_is_kept_by_the_checked_concatenation() -> None:
    message = render(
        "Hi", body_html="{{ '<b>' ~ company }}{{ ('<i>'|safe) ~ company }}", company="Tom & Co"
    )

    assert message.html == "&lt;b&gt;Tom &amp; Co<i>Tom &amp; Co"
