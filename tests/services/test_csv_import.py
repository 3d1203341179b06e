"""Tests for the streaming CSV reader: encodings, delimiters, header mapping, row numbers.

No database here but in the one test of the contacts fixture (on SQLite and PostgreSQL,
``both_backends``); importing into the contacts is tested in test_contacts.py.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import pytest

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.services import csv_import
from campaign_desktop.services.contacts import ContactService
from campaign_desktop.services.csv_import import (
    ContactCsv,
    attribute_key_problem,
    check_attribute_key,
    detect_encoding,
    normalize_attribute_key,
    plan_columns,
    preview,
    sniff_delimiter,
)

pytestmark = pytest.mark.both_backends


def write(tmp_path: Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / "contacts.csv"
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


class WholeReadRefused(io.FileIO):
    """A file that fails the test if anyone asks for all of it at once."""

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("read() without a size: the file would be read whole")
        return super().read(size)

    def readall(self) -> bytes:
        raise AssertionError("readall(): the file would be read whole")

    def readlines(self, hint: int = -1) -> list[bytes]:
        raise AssertionError("readlines(): the file would be read whole")


# --- encoding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("email\nzoë@example.com\n".encode(), "utf-8"),
        (codecs.BOM_UTF8 + "email\nzoë@example.com\n".encode(), "utf-8-sig"),
        ("email\nzoë@example.com\n".encode("cp1252"), "cp1252"),
        ("email,price\nzoe@example.com,5 €\n".encode("cp1252"), "cp1252"),
        # 0x81 and 0x8d are undefined in cp1252: only latin-1 decodes every byte.
        (b"email,note\nzoe@example.com,\x81\xe9\x8d\n", "latin-1"),
        ("email\nzoë@example.com\n".encode("utf-16"), "utf-16"),
        (b"email\nann@example.com\n", "utf-8"),
        (b"", "utf-8"),
    ],
)
def test_detect_encoding_recognises_the_encodings_spreadsheets_write(
    data: bytes, expected: str
) -> None:
    assert detect_encoding(io.BytesIO(data)) == expected


def test_detect_encoding_reads_past_the_first_chunk_before_trusting_utf8() -> None:
    # Only the last row is not UTF-8: a check on the first chunk alone would say UTF-8.
    data = b"email\n" + b"ann@example.com\n" * 40_000 + "zoë@example.com\n".encode("cp1252")
    assert len(data) > 2 * csv_import._DETECT_CHUNK
    assert detect_encoding(io.BytesIO(data)) == "cp1252"


def test_detect_encoding_accepts_a_character_split_across_two_chunks() -> None:
    prefix = b"email\n" + b"a" * (csv_import._DETECT_CHUNK - 7)
    data = prefix + "é@example.com\n".encode()
    assert data[csv_import._DETECT_CHUNK - 1 : csv_import._DETECT_CHUNK + 1] == "é".encode()
    assert detect_encoding(io.BytesIO(data)) == "utf-8"


def test_detect_encoding_leaves_the_stream_where_it_was() -> None:
    stream = io.BytesIO(b"xxemail\nann@example.com\n")
    stream.seek(2)
    detect_encoding(stream)
    assert stream.tell() == 2


# --- delimiter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("email,first_name\nann@example.com,Ann\n", ","),
        ("email;first_name\nann@example.com;Ann\n", ";"),
        ("email\tfirst_name\nann@example.com\tAnn\n", "\t"),
        ('email;name\nann@example.com;"Lee, Ann"\nbob@example.com;"Ray, Bob"\n', ";"),
        ("email\nann@example.com\nbob@example.com\n", ","),
        ("", ","),
    ],
)
def test_sniff_delimiter_finds_comma_semicolon_or_tab_and_falls_back_to_comma(
    sample: str, expected: str
) -> None:
    assert sniff_delimiter(sample) == expected


# --- attribute keys and mapping ----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Company Name", "company_name"),
        ("  company-name ", "company_name"),
        ("Société", "societe"),
        ("VIP?", "vip"),
        ("Phone #2", "phone_2"),
        ("会社", ""),
    ],
)
def test_normalize_attribute_key_makes_lower_snake_case_ascii(header: str, key: str) -> None:
    assert normalize_attribute_key(header) == key


@pytest.mark.parametrize("key", ["", "2nd_phone", "Company", "full_name", "email", "true", "not"])
def test_attribute_key_problem_refuses_names_templates_cannot_use(key: str) -> None:
    assert attribute_key_problem(key)
    with pytest.raises(ValidationError) as error:
        check_attribute_key(key)
    assert error.value.field == "attributes"


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Email", "email"),
        ("E-mail", "email"),
        ("EMAIL_ADDRESS", "email"),
        ("Email Address", "email"),
        ("mail", "email"),
        ("First Name", "first_name"),
        ("firstname", "first_name"),
        ("Given name", "first_name"),
        ("first", "first_name"),
        ("Last_Name", "last_name"),
        ("LastName", "last_name"),
        ("Surname", "last_name"),
        ("Family-Name", "last_name"),
        ("last", "last_name"),
        ("Company Name", "attr:company_name"),
    ],
)
def test_headers_map_to_fields_ignoring_case_spaces_underscores_and_hyphens(
    header: str, target: str
) -> None:
    assert plan_columns([header]).targets == (target,)


def test_columns_that_cannot_become_template_variables_are_ignored_with_a_reason() -> None:
    plan = plan_columns(["Email", "2nd Phone", "Full Name", "", "会社", "City"])
    assert plan.targets == ("email", "ignore", "ignore", "ignore", "ignore", "attr:city")
    reasons = dict(plan.ignored)
    assert set(reasons) == {"2nd Phone", "Full Name", "", "会社"}
    assert "start with a letter" in reasons["2nd Phone"]
    assert "built-in" in reasons["Full Name"]


def test_a_second_column_for_the_same_field_or_name_is_ignored() -> None:
    plan = plan_columns(["Email", "E-mail", "City", "City", "city"])
    assert plan.targets == ("email", "ignore", "attr:city", "ignore", "ignore")
    reasons = dict(plan.ignored)
    assert "“Email” is already imported as the email address" in reasons["E-mail"]
    assert "same name" in reasons["City"]


def test_mapping_overrides_the_automatic_mapping_for_the_headers_it_names() -> None:
    plan = plan_columns(
        ["Email", "Work mail", "Nick", "Notes"],
        {"Work mail": "email", "Nick": "first_name", "Notes": "attr:remarks"},
    )
    # The automatic "Email" gives way to the explicit choice.
    assert plan.targets == ("ignore", "email", "first_name", "attr:remarks")
    assert plan.mapping == {
        "Email": "ignore",
        "Work mail": "email",
        "Nick": "first_name",
        "Notes": "attr:remarks",
    }


@pytest.mark.parametrize(
    ("mapping", "words"),
    [
        ({"Phone": "email"}, "no column “Phone”"),
        ({"Mail": "telephone"}, "not something"),
        ({"Mail": "attr:Bad Key"}, "cannot be an attribute name"),
        ({"Mail": "email", "Other": "email"}, "both mapped to the email address"),
    ],
)
def test_invalid_mapping_is_a_validation_error_naming_the_problem(
    mapping: dict[str, str], words: str
) -> None:
    with pytest.raises(ValidationError) as error:
        plan_columns(["Mail", "Other"], mapping)
    assert error.value.field == "mapping"
    assert words in error.value.message


# --- reading rows ------------------------------------------------------------------------


def test_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,first_name\r\n"  # row 1
        "a@example.com,Ann\r\n"  # row 2
        "\r\n"  # row 3: blank
        '"b@example.com","Bo\r\nBob"\r\n'  # row 4: one row over two lines
        "c@example.com,Cy\r\n"  # row 5
        ",\r\n"  # row 6: only a delimiter, blank
        "d@example.com\r\n",  # row 7: fewer cells than headers
    )
    with ContactCsv(path) as reader:
        rows = list(reader.rows())
    assert [(row.row, row.email, row.first_name) for row in rows] == [
        (2, "a@example.com", "Ann"),
        (4, "b@example.com", "Bo\r\nBob"),
        (5, "c@example.com", "Cy"),
        (7, "d@example.com", ""),
    ]


def test_cells_beyond_the_header_and_columns_the_file_lacks_stay_empty(tmp_path: Path) -> None:
    # No name columns: a row's cells past the last header must not turn into names.
    path = write(
        tmp_path,
        "email,city\n"
        "ann@example.com,Oslo,Ann,Lee,extra\n"
        "bob@example.com\n"
        "   ,  \n"  # only blanks: not a row
        "cy@example.com,Rome\n",
    )
    with ContactCsv(path) as reader:
        rows = [(r.row, r.email, r.first_name, r.last_name, r.attributes) for r in reader.rows()]
    assert rows == [
        (2, "ann@example.com", "", "", {"city": "Oslo"}),
        (3, "bob@example.com", "", "", {"city": ""}),
        (5, "cy@example.com", "", "", {"city": "Rome"}),
    ]


def test_blank_lines_before_the_header_are_counted_and_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "\n\nemail\nann@example.com\n")
    with ContactCsv(path) as reader:
        assert reader.header_row == 3
        assert [row.row for row in reader.rows()] == [4]


def test_an_unreadable_row_is_reported_and_the_next_rows_still_read(tmp_path: Path) -> None:
    huge = "x" * 200_000  # beyond the csv module's field size limit
    path = write(tmp_path, f"email,note\nann@example.com,{huge}\nbob@example.com,ok\n")
    with ContactCsv(path) as reader:
        rows = list(reader.rows())
    assert rows[0].row == 2
    assert "could not be read" in rows[0].problem
    assert (rows[1].row, rows[1].email, rows[1].attributes) == (
        3,
        "bob@example.com",
        {"note": "ok"},
    )


def test_cells_are_stripped_and_attributes_keyed_by_normalised_header(tmp_path: Path) -> None:
    path = write(tmp_path, "E-Mail;Company Name;City\n  ann@example.com ; Acme ;\n")
    with ContactCsv(path) as reader:
        (row,) = reader.rows()
    assert row.email == "ann@example.com"
    assert row.attributes == {"company_name": "Acme", "city": ""}


def test_no_email_column_is_a_validation_error_listing_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "name,phone\nAnn,123\n")
    with pytest.raises(ValidationError) as error:
        ContactCsv(path)
    assert error.value.field == "file"
    assert "No email column found. The columns are: “name”, “phone”" in error.value.message


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_file_is_a_validation_error(tmp_path: Path, content: str) -> None:
    with pytest.raises(ValidationError, match="empty"):
        ContactCsv(write(tmp_path, content))


def test_a_missing_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as error:
        ContactCsv(tmp_path / "nowhere.csv")
    assert error.value.field == "file"
    assert "nowhere.csv" in error.value.message


def test_reader_never_reads_the_whole_file_at_once(tmp_path: Path) -> None:
    lines = [f"person{number}@example.com,Person {number}\n" for number in range(20_000)]
    path = write(tmp_path, "email,first_name\n" + "".join(lines))
    with io.BufferedReader(WholeReadRefused(path)) as stream:
        with ContactCsv(stream) as reader:
            batches = [len(batch) for batch in reader.batches(2000)]
            assert reader.fraction_read == 1.0
        assert not stream.closed  # a file object passed in is the caller's to close
    assert batches == [2000] * 10


def test_fraction_read_grows_with_the_batches(tmp_path: Path) -> None:
    lines = [f"person{number}@example.com\n" for number in range(30_000)]
    path = write(tmp_path, "email\n" + "".join(lines))
    fractions = []
    with ContactCsv(path) as reader:
        for _batch in reader.batches(5000):
            fractions.append(reader.fraction_read)
    assert fractions == sorted(fractions)
    assert 0 < fractions[0] < 0.5
    assert fractions[-1] == 1.0


# --- preview -----------------------------------------------------------------------------


def test_preview_shows_encoding_delimiter_headers_sample_and_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Email;First Name;Surname;2nd Phone\n"
        "zoe@example.com;Zoë;Müller;1\n"
        "\n"
        "cafe@example.com;Café\n"
        "x@example.com;X;Y;3\n",
        encoding="cp1252",
    )
    shown = preview(path, rows=2)
    assert shown.encoding == "cp1252"
    assert shown.delimiter == ";"
    assert shown.headers == ("Email", "First Name", "Surname", "2nd Phone")
    assert shown.sample_rows == (
        ("zoe@example.com", "Zoë", "Müller", "1"),
        ("cafe@example.com", "Café", "", ""),
    )
    assert shown.mapping == {
        "Email": "email",
        "First Name": "first_name",
        "Surname": "last_name",
        "2nd Phone": "ignore",
    }
    assert [header for header, _reason in shown.ignored] == ["2nd Phone"]


def test_preview_of_a_file_without_email_column_still_shows_it(tmp_path: Path) -> None:
    shown = preview(write(tmp_path, "Name,Address\nAnn,ann@example.com\n"))
    assert shown.headers == ("Name", "Address")
    assert shown.sample_rows == (("Ann", "ann@example.com"),)
    assert "email" not in shown.mapping.values()


def test_preview_of_a_utf8_file_with_bom_has_a_clean_first_header(tmp_path: Path) -> None:
    shown = preview(write(tmp_path, "\ufeffEmail,Name\nann@example.com,Ann\n"))
    assert shown.encoding == "utf-8-sig"
    assert shown.headers[0] == "Email"
    assert shown.mapping["Email"] == "email"


# --- Excel's "sep=" line (issue 12) ------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("sep=;", ";"),
        ("sep=,\r\n", ","),
        ("SEP=\t\n", "\t"),
        ("sep=|", "|"),
        ('"sep=;"', ";"),  # as a spreadsheet quotes it when saving
        ("sep=;;;", ";"),  # followed by empty cells
        ("email;name", None),
        ("sep=", None),
        ("sep=;x", None),
        ("separator=;", None),
    ],
)
def test_declared_delimiter_reads_excels_sep_line(line: str, expected: str | None) -> None:
    assert csv_import.declared_delimiter(line) == expected


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", ""), ("utf-8-sig", ""), ("cp1252", ""), ("utf-16", ""), ("utf-8", "\ufeff")],
)
def test_a_sep_line_sets_the_delimiter_and_is_skipped(
    tmp_path: Path, encoding: str, prefix: str
) -> None:
    path = write(
        tmp_path,
        prefix + "sep=;\r\nEmail;Vorname;Firma\r\nzoe@example.com;Zoë;Müller, Söhne & Co\r\n",
        encoding=encoding,
    )

    with ContactCsv(path) as reader:
        rows = list(reader.rows())

    assert reader.delimiter == ";"
    assert reader.headers == ("Email", "Vorname", "Firma")
    assert reader.header_row == 1  # Excel does not show the sep= line as a row
    assert [(row.row, row.email, row.attributes) for row in rows] == [
        (2, "zoe@example.com", {"vorname": "Zoë", "firma": "Müller, Söhne & Co"})
    ]


def test_a_declared_delimiter_wins_over_what_the_sniffer_would_guess(tmp_path: Path) -> None:
    # Commas in every cell would make the sniffer pick the comma.
    path = write(tmp_path, "sep=;\nemail;note\na@example.com;one, two, three\n")

    with ContactCsv(path) as reader:
        (row,) = reader.rows()

    assert (row.email, row.attributes) == ("a@example.com", {"note": "one, two, three"})


def test_preview_of_a_file_with_a_sep_line_shows_the_real_header(tmp_path: Path) -> None:
    path = write(tmp_path, "sep=,\nEmail,Name\nann@example.com,Ann\n", encoding="cp1252")

    shown = preview(path)

    assert shown.delimiter == ","
    assert shown.headers == ("Email", "Name")
    assert shown.sample_rows == (("ann@example.com", "Ann"),)
    assert shown.mapping["Email"] == "email"


def test_a_file_with_only_a_sep_line_is_empty(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="empty"):
        ContactCsv(write(tmp_path, "sep=;\r\n"))


def test_an_excel_file_with_a_sep_line_imports_instead_of_missing_its_email_column(
    tmp_path: Path, contacts: ContactService
) -> None:
    path = write(
        tmp_path,
        "sep=;\r\nE-Mail;First name;Last name\r\nzoe@example.com;Zoë;Müller\r\n",
        encoding="cp1252",
    )

    report = contacts.import_csv(path, "Kunden")

    assert report.created == 1
    assert not report.skipped
    contact = contacts.find("zoe@example.com")
    assert contact is not None
    assert (contact.first_name, contact.last_name) == ("Zoë", "Müller")
