"""ContactService.search's keyset pages (issue 16): after or before an address, in email
order, with the filters, at page boundaries (``both_backends``)."""

from __future__ import annotations

from io import BytesIO

import pytest

from campaign_desktop.context import AppContext
from campaign_desktop.domain.segments import Condition, Operator, Segment
from campaign_desktop.services import contacts as contacts_module

pytestmark = pytest.mark.both_backends

ADDRESSES = [f"p{n:03d}@example.com" for n in range(25)]


@pytest.fixture
def people(ctx: AppContext) -> list[str]:
    for n, address in enumerate(ADDRESSES):
        ctx.contacts.add(address, first_name=f"Name{n % 3}", lists=("Even",) if n % 2 == 0 else ())
    return ADDRESSES


def _emails(ctx: AppContext, **where: object) -> list[str]:
    return [c.email for c in ctx.contacts.search(**where)]  # type: ignore[arg-type]


def test_pages_after_the_last_address_cover_every_match_once(
    ctx: AppContext, people: list[str]
) -> None:
    seen: list[str] = []
    last = None
    while page := _emails(ctx, limit=10, **({} if last is None else {"after_email": last})):
        seen.extend(page)
        last = page[-1]
    assert seen == people
    assert _emails(ctx, after_email=people[-1]) == []  # past the end: nothing


def test_a_page_before_an_address_ends_right_before_it_in_email_order(
    ctx: AppContext, people: list[str]
) -> None:
    assert _emails(ctx, before_email=people[12], limit=5) == people[7:12]
    assert _emails(ctx, before_email=people[3], limit=5) == people[:3]  # the start: short
    # The address need not exist (deleted since): the page still ends where it would be.
    assert _emails(ctx, before_email="p0125@example.com", limit=2) == people[10:12]


def test_keyset_pages_keep_the_search_list_and_status_filters(
    ctx: AppContext, people: list[str]
) -> None:
    ctx.contacts.unsubscribe(people[4])
    even = [a for n, a in enumerate(people) if n % 2 == 0]
    assert _emails(ctx, list_name="Even", after_email=even[2], limit=3) == even[3:6]
    named = [a for n, a in enumerate(people) if n % 3 == 1]
    assert _emails(ctx, text="name1", before_email=named[4], limit=2) == named[2:4]
    subscribed_even = [a for a in even if a != people[4]]
    assert (
        _emails(ctx, list_name="Even", status="subscribed", after_email=people[0], limit=2)
        == subscribed_even[1:3]
    )


@pytest.mark.parametrize(
    "where",
    [
        {"offset": 5, "after_email": "a@example.com"},
        {"after_email": "a@example.com", "before_email": "b@example.com"},
        {"offset": -1},
        {"limit": 0, "before_email": "b@example.com"},
    ],
)
def test_a_page_with_more_than_one_start_or_no_rows_is_refused(
    ctx: AppContext, where: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="one of offset"):
        ctx.contacts.search(**where)  # type: ignore[arg-type]


@pytest.mark.parametrize("near", [3, 10, 2000])
def test_a_search_answers_the_same_however_near_the_start_its_matches_are(
    ctx: AppContext, people: list[str], monkeypatch: pytest.MonkeyPatch, near: int
) -> None:
    # Broad text (everyone), sparse text (every third), and text found once far down:
    # whether the page comes from the first contacts in email order or from the index.
    monkeypatch.setattr(contacts_module, "NEAR_THE_START", near)
    ctx.contacts.add("zed@example.com", first_name="Far", last_name="Down")
    everyone = [*people, "zed@example.com"]
    assert _emails(ctx, text="EXAMPLE.com", limit=4) == everyone[:4]
    assert _emails(ctx, text="example.com", after_email=everyone[20], limit=4) == everyone[21:25]
    named = [a for n, a in enumerate(people) if n % 3 == 2]
    assert _emails(ctx, text="name2", limit=4) == named[:4]
    assert (
        _emails(ctx, text="ame2", list_name="Even", limit=3)
        == [a for n, a in enumerate(people) if n % 6 == 2][:3]
    )
    assert _emails(ctx, text="far down", limit=4) == ["zed@example.com"]


def test_the_first_page_comes_with_its_count_unless_counting_costs_more_than_it(
    ctx: AppContext, people: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_module, "NEAR_THE_START", 10)
    named = [a for n, a in enumerate(people) if n % 3 == 1]
    # Three in the first ten contacts, not a page: the page and its count together.
    assert ctx.contacts.first_page("name1", limit=4) == (
        ctx.contacts.search("name1", limit=4),
        len(named),
    )
    assert ctx.contacts.first_page("name1", list_name="Even", limit=2)[1] == ctx.contacts.count(
        "name1", list_name="Even"
    )
    # No text: the page walks the email index, the count is apart.
    assert ctx.contacts.first_page(limit=5)[1] == len(people)
    assert ctx.contacts.first_page("nobody-has-this") == ([], 0)
    page, total = ctx.contacts.first_page("example.com", limit=4)
    assert [c.email for c in page] == people[:4]
    if ctx.db.is_sqlite:  # everyone matches: the page at once, the count asked later
        assert total is None
    else:
        assert total == len(people)
    with pytest.raises(ValueError, match="limit"):
        ctx.contacts.first_page("x", limit=0)


def test_every_way_of_reading_a_page_keeps_the_segment(ctx: AppContext, people: list[str]) -> None:
    """Keyset pages both ways, the near-the-start shortcut, `first_page`, `ids` and the
    export read the same contacts a segment picks (a table filtered by fields scrolls,
    selects and exports only those)."""
    picked = Segment.of([Condition("first_name", Operator.IS, "name1")], "all")
    named = [a for n, a in enumerate(people) if n % 3 == 1]
    assert _emails(ctx, segment=picked) == named
    assert _emails(ctx, segment=picked, after_email=named[2], limit=3) == named[3:6]
    assert _emails(ctx, segment=picked, before_email=named[4], limit=2) == named[2:4]
    assert _emails(ctx, text="example", segment=picked, limit=3) == named[:3]
    page, total = ctx.contacts.first_page("example", segment=picked, limit=3)
    assert [c.email for c in page] == named[:3]
    assert total in (len(named), None)
    assert ctx.contacts.count("example", segment=picked) == len(named)
    ids = ctx.contacts.ids(segment=picked, offset=1, limit=2)
    assert [c.email for c in ctx.contacts.get_many(ids)] == named[1:3]
    out = BytesIO()
    ctx.contacts.export_csv(out, segment=picked)
    exported = out.getvalue().decode("utf-8-sig").splitlines()[1:]
    assert [line.split(",")[0] for line in exported] == named
