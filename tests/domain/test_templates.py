"""Tests of campaign templates: checks at save time, per-recipient rendering, the sandbox.

No server, no database: pure domain code.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.templates import (
    BUILTIN_VARIABLES,
    VARIABLE_HELP,
    available_variables,
    build_render_context,
    compile_campaign_templates,
    sample_context,
    unsubscribe_mailto_url,
)


def context(**attributes: object) -> dict[str, object]:
    return build_render_context(
        contact_email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        attributes=attributes,
        campaign_name="Spring sale",
        unsubscribe_mailto="unsubscribe@example.com",
    )


def compile_error(
    subject: str = "Hi",
    body_text: str = "Hello",
    body_html: str | None = None,
    attribute_keys: tuple[str, ...] = (),
) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        compile_campaign_templates(subject, body_text, body_html, attribute_keys)
    return raised.value


# --- rendering --------------------------------------------------------------------------


def test_builtin_variables_render_for_a_contact() -> None:
    templates = compile_campaign_templates(
        subject="{{ campaign_name }} for {{ first_name }}",
        body_text="Dear {{ full_name }} <{{ email }}>, leave: {{ unsubscribe_mailto }}\n",
        body_html='<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
    )

    rendered = templates.render(context())

    assert rendered.subject == "Spring sale for Ann"
    assert rendered.text == "Dear Ann Lee <ann@example.com>, leave: unsubscribe@example.com\n"
    assert rendered.html == (
        '<a href="mailto:unsubscribe@example.com?subject=Unsubscribe">Unsubscribe</a>'
    )


@pytest.mark.parametrize(
    ("first", "last", "full"),
    [("Ann", "Lee", "Ann Lee"), ("Ann", "", "Ann"), ("", "Lee", "Lee"), (" ", "", "")],
)
def test_full_name_joins_only_the_parts_present(first: str, last: str, full: str) -> None:
    values = build_render_context(
        contact_email="a@example.com",
        first_name=first,
        last_name=last,
        attributes={},
        campaign_name="c",
        unsubscribe_mailto="",
    )

    assert values["full_name"] == full


def test_a_template_compiled_once_renders_each_recipient_separately() -> None:
    templates = compile_campaign_templates("Hi {{ first_name }}", "{{ email }}", None)

    first = templates.render({"first_name": "Ann", "email": "ann@example.com"})
    second = templates.render({"first_name": "Bob", "email": "bob@example.com"})

    assert (first.subject, first.text) == ("Hi Ann", "ann@example.com")
    assert (second.subject, second.text) == ("Hi Bob", "bob@example.com")


def test_custom_attributes_are_variables_by_their_key() -> None:
    templates = compile_campaign_templates(
        "Offer for {{ company }}", "{{ company }} in {{ city }}", None, ("company", "city")
    )

    rendered = templates.render(context(company="Acme", city="Oslo"))

    assert rendered.subject == "Offer for Acme"
    assert rendered.text == "Acme in Oslo"


def test_a_contact_without_an_attribute_renders_it_empty() -> None:
    templates = compile_campaign_templates(
        "Hi", "[{{ company }}][{{ city }}]", None, ("company", "city")
    )

    rendered = templates.render(context(city=None))

    assert rendered.text == "[][]"


def test_a_missing_builtin_renders_empty_too() -> None:
    templates = compile_campaign_templates("Hi {{ first_name }}!", "{{ campaign_name }}", None)

    rendered = templates.render({})

    assert (rendered.subject, rendered.text) == ("Hi !", "")


def test_html_body_escapes_values_and_text_body_and_subject_do_not() -> None:
    templates = compile_campaign_templates(
        "News from {{ company }}", "{{ company }}", "<p>{{ company }}</p>", ("company",)
    )

    rendered = templates.render(context(company='Tom & Jerry <b>"Ltd"</b>'))

    assert rendered.subject == 'News from Tom & Jerry <b>"Ltd"</b>'
    assert rendered.text == 'Tom & Jerry <b>"Ltd"</b>'
    assert rendered.html == "<p>Tom &amp; Jerry &lt;b&gt;&#34;Ltd&#34;&lt;/b&gt;</p>"


def test_the_rendered_subject_is_one_line() -> None:
    templates = compile_campaign_templates("Hello {{ company }}\n", "x", None, ("company",))

    rendered = templates.render(context(company="Acme\r\nBcc: victim@example.com"))

    assert rendered.subject == "Hello Acme Bcc: victim@example.com"


def test_the_subject_is_a_variable_of_the_bodies() -> None:
    templates = compile_campaign_templates(
        "Sale for {{ first_name }}", "{{ subject }}", "<title>{{ subject }}</title>"
    )

    rendered = templates.render(context())

    assert rendered.text == "Sale for Ann"
    assert rendered.html == "<title>Sale for Ann</title>"


def test_the_subject_cannot_use_itself() -> None:
    error = compile_error(subject="Re: {{ subject }}")

    assert error.field == "subject"
    assert "bodies only" in error.message


def test_a_blank_html_body_means_a_text_only_email() -> None:
    templates = compile_campaign_templates("Hi", "Text", "  \n")

    assert not templates.has_html
    assert templates.render({}).html is None


def test_loops_and_set_variables_are_not_unknown_variables() -> None:
    templates = compile_campaign_templates(
        "Hi",
        "{% set greeting = 'Hello' %}{% for n in range(2) %}{{ greeting }}{{ loop.index }} "
        "{% endfor %}",
        None,
    )

    assert templates.render({}).text == "Hello1 Hello2 "


def test_builtin_fields_win_over_attributes_with_the_same_name() -> None:
    values = context(email="other@example.com", company="Acme")

    assert values["email"] == "ann@example.com"
    assert values["company"] == "Acme"


# --- errors at save time ----------------------------------------------------------------


def test_a_syntax_error_names_the_field_and_the_line() -> None:
    error = compile_error(body_text="Hello\n\n{{ first_name }\n")

    assert error.field == "body_text"
    assert error.message == "Template error on line 3: unexpected '}'"


@pytest.mark.parametrize("field", ["subject", "body_text", "body_html"])
def test_each_template_reports_its_own_field(field: str) -> None:
    sources = {"subject": "Hi", "body_text": "Hello", "body_html": "<p>Hi</p>"}
    sources[field] = "{% if first_name %}no end"

    error = compile_error(sources["subject"], sources["body_text"], sources["body_html"])

    assert error.field == field
    assert error.message.startswith("Template error on line 1:")


def test_an_unknown_filter_is_reported_when_compiling() -> None:
    error = compile_error(body_text="Hi\n{{ first_name | shout }}")

    assert error.field == "body_text"
    assert error.message == "Template error on line 2: No filter named 'shout'."


def test_an_unknown_variable_is_named_with_a_suggestion_and_the_available_ones() -> None:
    error = compile_error(subject="Hello {{ frist_name }}")

    assert error.field == "subject"
    assert error.message.startswith(
        "Unknown variable “frist_name” on line 1. Did you mean “first_name”? "
        "Available: first_name, last_name, full_name, email,"
    )


def test_several_unknown_variables_are_all_listed_with_their_lines() -> None:
    error = compile_error(body_text="{{ aa }}\n{{ bb }}\n{{ aa }}")

    assert error.message.startswith("Unknown variables “aa” (line 1), “bb” (line 2).")


def test_attribute_keys_are_offered_as_available_variables() -> None:
    error = compile_error(body_text="{{ compnay }}", attribute_keys=("company",))

    assert "Did you mean “company”?" in error.message
    assert error.message.endswith(", company.")


def test_an_attribute_unknown_to_the_campaign_is_an_unknown_variable() -> None:
    error = compile_error(body_text="{{ company }}")

    assert error.message.startswith("Unknown variable “company”")


# --- the sandbox ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ first_name.__globals__ }}",
        "{{ x.__globals__ }}",
        "{{ first_name['__class__'] }}",
        "{{ first_name | attr('__class__') }}",
        "{{ first_name.__class__.__mro__[1].__subclasses__() }}",
    ],
)
def test_internal_attributes_are_refused_when_compiling(source: str) -> None:
    error = compile_error(body_html=f"<p>\n{source}</p>")

    assert error.field == "body_html"
    assert error.message.startswith("Template error on line 2: “__")
    assert "blocked for safety" in error.message


def test_a_sandbox_escape_hidden_in_a_format_string_is_refused_when_rendering() -> None:
    templates = compile_campaign_templates("Hi", "{{ '{0.__class__}'.format(first_name) }}", None)

    with pytest.raises(ValidationError) as raised:
        templates.render(context())

    assert raised.value.field == "body_text"
    assert "blocked for safety" in raised.value.message


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{{ first_name.nickname }}", "'str object' has no attribute 'nickname'"),
        ("{{ 1 / 0 }}", "division by zero"),
        ("{{ first_name + 1 }}", 'can only concatenate str (not "int") to str'),
    ],
)
def test_a_template_that_fails_when_rendering_is_a_validation_error(
    source: str, words: str
) -> None:
    templates = compile_campaign_templates("Hi", f"Hello\n\n{source}", None)

    with pytest.raises(ValidationError) as raised:
        templates.render(context())

    assert raised.value.field == "body_text"
    assert raised.value.message == f"The text body could not be filled in on line 3: {words}."


def test_a_render_error_names_the_recipient_when_told() -> None:
    templates = compile_campaign_templates("{{ 1 // 0 }}", "Hello", None)

    with pytest.raises(ValidationError) as raised:
        templates.render(context(), recipient="ann@example.com")

    assert raised.value.field == "subject"
    assert raised.value.message == (
        "The subject could not be filled in on line 1 for ann@example.com: "
        "integer division or modulo by zero."
    )


# --- helpers for the editor and previews ------------------------------------------------


def test_every_builtin_variable_has_one_line_of_help() -> None:
    assert tuple(VARIABLE_HELP) == BUILTIN_VARIABLES
    for name, help_text in VARIABLE_HELP.items():
        assert help_text, name
        assert "\n" not in help_text


def test_available_variables_lists_builtins_then_usable_attribute_keys() -> None:
    names = available_variables(["zip", "company", "Company Name", "email", "9lives"])

    assert names == [*BUILTIN_VARIABLES, "company", "zip"]


def test_the_sample_context_fills_every_variable_for_a_preview() -> None:
    every = " ".join(f"{{{{ {name} }}}}" for name in available_variables(["company"]))
    templates = compile_campaign_templates("Preview", every, every, ("company",))

    rendered = templates.render(sample_context(["company"]))

    assert "Ann Example" in rendered.text
    assert "[company]" in rendered.text
    assert "mailto:unsubscribe@example.com" in rendered.text


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("leave@example.com", "mailto:leave@example.com?subject=Unsubscribe"),
        ("a+b@example.com", "mailto:a%2Bb@example.com?subject=Unsubscribe"),
        ("", ""),
    ],
)
def test_the_unsubscribe_url_is_a_mailto_link_with_a_subject(address: str, url: str) -> None:
    assert unsubscribe_mailto_url(address) == url


# --- templates that only print variables: filled in without Jinja's run (issue 11) ---------

_PLAIN_SUBJECT = "{{ first_name }}, news for you — {{ city }}"
_PLAIN_TEXT = (
    "Hello {{ first_name }} {{last_name}},\r\n\nNews in {{ city }}: {{ plan }}.\n"
    "100% {not a tag} }} {{- full_name -}} ! {{ email }}\n{{ unsubscribe_url }}\n"
)
_PLAIN_HTML = (
    "<html><head><title>{{ subject }}</title></head>\n<body><p>Hi {{ first_name }} "
    '&amp; {{ plan }}</p><a href="{{ unsubscribe_url }}">Leave</a> {{ score }}</body></html>'
)
_KEYS = ("city", "plan", "score")
_VALUE = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.sampled_from(["<b>Ann</b>", 'O\'Brien & "Sons"', "Zoë Ωmega 北京", "a\nb", "{{ x }}"]),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.text(max_size=5), max_size=3),
)


def _through_jinja(source: str) -> str:
    """The same template, wrapped so that it is not a plain one: Jinja's own run renders it."""
    return "{% if true %}" + source + "{% endif %}"


def test_plain_templates_are_filled_in_without_jinjas_run() -> None:
    plain = compile_campaign_templates(_PLAIN_SUBJECT, _PLAIN_TEXT, _PLAIN_HTML, _KEYS)
    assert plain._subject.pieces is not None
    assert plain._text.pieces is not None
    assert plain._html is not None and plain._html.pieces is not None
    other = compile_campaign_templates("{{ first_name|upper }}", "{{ 1 + 1 }}", None, ())
    assert other._subject.pieces is None
    assert other._text.pieces is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.text(max_size=20),
    last=st.sampled_from(["", "Lee", "Ñúñez", "<i>x</i>"]),
    attributes=st.dictionaries(st.sampled_from(_KEYS), _VALUE, max_size=3),
)
def test_plain_templates_render_exactly_as_jinja_does(
    first: str, last: str, attributes: dict[str, object]
) -> None:
    """Byte for byte, for any contact: missing attributes, None, numbers, lists, non-ASCII
    text and HTML in the values (escaped in the HTML body only)."""
    values = build_render_context(
        contact_email="zoë@example.com",
        first_name=first,
        last_name=last,
        attributes=attributes,
        campaign_name="Spring",
        unsubscribe_mailto="unsubscribe@example.com",
        unsubscribe_url="https://shop.example/u?t=t1-0123456789abcdef0123&x=<1>",
    )
    plain = compile_campaign_templates(_PLAIN_SUBJECT, _PLAIN_TEXT, _PLAIN_HTML, _KEYS)
    jinja = compile_campaign_templates(
        _through_jinja(_PLAIN_SUBJECT),
        _through_jinja(_PLAIN_TEXT),
        _through_jinja(_PLAIN_HTML),
        _KEYS,
    )
    assert jinja._text.pieces is None
    assert plain.render(values) == jinja.render(values)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("x" * 3_000, "longer than"),
        (b"bytes", "would show"),
        ([object()], "would show"),
    ],
)
def test_a_plain_template_refuses_what_jinja_refuses_with_the_same_words(
    value: object, words: str
) -> None:
    plain = compile_campaign_templates("Hi {{ city }}", "Body {{ city }}", None, ("city",))
    jinja = compile_campaign_templates(
        _through_jinja("Hi {{ city }}"), _through_jinja("Body {{ city }}"), None, ("city",)
    )
    with pytest.raises(ValidationError) as from_plain:
        plain.render({"city": value}, recipient="ann@example.com")
    with pytest.raises(ValidationError) as from_jinja:
        jinja.render({"city": value}, recipient="ann@example.com")
    assert words in from_plain.value.message
    assert (from_plain.value.field, from_plain.value.message) == (
        from_jinja.value.field,
        from_jinja.value.message,
    )
