"""Settings through AppContext on a real SQLite file: the typed snapshot, the form's dry
run, and "Test connection" against a real SMTP server (aiosmtpd) with the keyring's password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from campaign_desktop.channels.smtp import SmtpAuthError
from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.status import SmtpSecurity
from campaign_desktop.services.settings import SMTP_KEYS, SPECS
from tests.memory_keyring import MemoryKeyring
from tests.smtp_server import running_smtp_server


@pytest.fixture
def app(data_dir: Path) -> Iterator[AppContext]:
    with AppContext.open(data_dir) as context:
        yield context


def smtp_form(port: int | str, **changes: object) -> dict[str, object]:
    """The SMTP part of the Settings form, as typed."""
    form: dict[str, object] = {
        "smtp.host": "127.0.0.1",
        "smtp.port": str(port),
        "smtp.security": "none",
        "smtp.username": "",
        "smtp.ca_file": "",
    }
    form.update(changes)
    return form


def test_the_snapshot_holds_every_setting_typed_with_its_default(app: AppContext) -> None:
    snapshot = app.settings.snapshot()
    assert snapshot.smtp_port == 587
    assert snapshot.smtp_security is SmtpSecurity.STARTTLS
    assert snapshot.schedule_grace_hours == 24.0
    assert snapshot.ui_close_to_tray is True
    assert len(vars(snapshot)) == len(SPECS)


def test_the_snapshot_shows_what_was_saved(app: AppContext) -> None:
    app.settings.set_many({"sending.connections": 8, "schedule.grace_hours": 6})
    app.settings.set_smtp(host="mail.example.com", port=465, security="ssl")
    snapshot = app.settings.snapshot()
    assert (snapshot.sending_connections, snapshot.schedule_grace_hours) == (8, 6.0)
    assert (snapshot.smtp_host, snapshot.smtp_port) == ("mail.example.com", 465)
    assert snapshot.smtp_security is SmtpSecurity.SSL


def test_check_gives_each_refused_value_and_saves_nothing(app: AppContext) -> None:
    before = app.settings.all()
    cleaned, found = app.settings.check(
        {"smtp.port": "70000", "sender.from_email": "news at shop", "throttle.per_hour": "12"}
    )
    assert found == {
        "smtp.port": "The port must be between 1 and 65535.",
        "sender.from_email": found["sender.from_email"],
    }
    assert "not a valid email address" in found["sender.from_email"]
    assert cleaned == {"throttle.per_hour": 12}
    assert app.settings.all() == before


def test_a_user_name_or_a_connection_test_needs_a_server(app: AppContext) -> None:
    no_host = {"smtp.host": "", "smtp.username": ""}
    assert app.settings.check(no_host)[1] == {}
    for found in (
        app.settings.check({**no_host, "smtp.username": "ann"})[1],
        app.settings.check(no_host, password="secret")[1],
        app.settings.check(no_host, connecting=True)[1],
    ):
        assert found == {"smtp.host": "Enter the SMTP server's host name."}
    with pytest.raises(ValidationError) as refused:
        app.settings.set_smtp(host="", port=25, security="none")
    assert refused.value.message == "Enter the SMTP server's host name."


def test_test_connection_reaches_the_server_typed_and_saves_nothing(app: AppContext) -> None:
    with running_smtp_server() as server:
        result = app.settings.test_smtp_connection(smtp_form(server.port))
    assert result.startswith(f"Connected to 127.0.0.1:{server.port}")
    assert app.settings.snapshot().smtp_host == ""


def test_test_connection_logs_in_with_the_stored_password_when_none_is_typed(
    app: AppContext, memory_keyring: MemoryKeyring
) -> None:
    app.settings.set_smtp(
        host="127.0.0.1", port=25, security="none", username="ann", password="S3cret"
    )
    with running_smtp_server(auth=("ann", "S3cret")) as server:
        form = smtp_form(server.port, **{"smtp.username": "ann"})
        assert "as ann" in app.settings.test_smtp_connection(form)
        with pytest.raises(SmtpAuthError):
            app.settings.test_smtp_connection(form, password="wrong")


def test_test_connection_refuses_a_bad_value_before_connecting(app: AppContext) -> None:
    with pytest.raises(ValidationError) as refused:
        app.settings.test_smtp_connection(smtp_form("abc"))
    assert refused.value.field == "smtp.port"
    assert set(SMTP_KEYS) == set(smtp_form(25))
