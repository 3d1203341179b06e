"""The IMAP channel against a real Dovecot: TLS (IMAPS and STARTTLS) with certificate
verification, refused logins and missing folders as plain words, moves that never delete."""

from __future__ import annotations

import dataclasses

import pytest

from campaign_desktop.channels.imap import ImapError, ImapMailbox
from campaign_desktop.domain.status import SmtpSecurity
from tests.imap_server import DovecotServer

MESSAGE = (
    b"From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\n"
    b"Message-ID: <1@b.example>\r\n\r\nhi\r\n"
)


@pytest.mark.parametrize("security", [SmtpSecurity.SSL, SmtpSecurity.STARTTLS])
def test_tls_is_verified_against_the_given_ca_file(
    dovecot_tls: DovecotServer, security: SmtpSecurity
) -> None:
    port = dovecot_tls.tls_port if security == SmtpSecurity.SSL else dovecot_tls.port
    settings = dataclasses.replace(
        dovecot_tls.settings(), security=security, port=port, ca_file=str(dovecot_tls.ca_file)
    )
    with ImapMailbox(settings) as mailbox:
        assert "INBOX" in mailbox.folders()
    # Without the CA file the self-signed certificate is refused, in words.
    with pytest.raises(ImapError, match=r"certificate .* could not be verified"):
        ImapMailbox(dataclasses.replace(settings, ca_file=None)).open()


def test_a_refused_login_and_a_closed_port_are_plain_words(dovecot: DovecotServer) -> None:
    with pytest.raises(ImapError, match="refused the username or password"):
        ImapMailbox(dovecot.settings(password="wrong")).open()
    closed = dataclasses.replace(dovecot.settings(), port=1)
    with pytest.raises(ImapError, match=r"Could not connect to the IMAP server 127\.0\.0\.1:1 "):
        ImapMailbox(closed).open()


def test_reading_leaves_messages_unread_and_moving_keeps_them(dovecot: DovecotServer) -> None:
    dovecot.append(MESSAGE)
    dovecot.append(MESSAGE.replace(b"<1@", b"<2@"))
    with ImapMailbox(dovecot.settings()) as mailbox:
        mailbox.ensure_folder("Done")
        mailbox.ensure_folder("Done")  # already there: nothing happens
        mailbox.select("INBOX")
        first, second = mailbox.messages_after(0, max_bytes=1_000_000)
        assert first.raw is not None and first.raw.startswith(b"From: a@b.example")
        assert [m.uid for m in mailbox.messages_after(first.uid, max_bytes=10)] == [second.uid]
        assert next(mailbox.messages_after(first.uid, max_bytes=10)).raw is None  # too large
        mailbox.move([first.uid], "Done")
        with pytest.raises(ImapError, match="no folder called “Nowhere”"):
            mailbox.select("Nowhere")
    assert dovecot.unseen_count("INBOX") == 1
    assert len(dovecot.folder_uids("Done")) == 1


def test_a_security_that_does_not_match_the_port_says_to_check_the_security(
    dovecot_tls: DovecotServer,
) -> None:
    plain = dovecot_tls.settings()
    # TLS spoken to the plain port: the handshake gets IMAP's greeting instead.
    with pytest.raises(ImapError, match="secure connection could not be set up"):
        ImapMailbox(dataclasses.replace(plain, security=SmtpSecurity.SSL)).open()
    # Plain IMAP to the TLS port: the server waits for a handshake that never comes.
    silent = dataclasses.replace(plain, port=dovecot_tls.tls_port, timeout=1.0)
    with pytest.raises(ImapError, match=r"no answer in time; .* check the security"):
        ImapMailbox(silent).open()
    closed = dataclasses.replace(plain, port=1)
    with pytest.raises(ImapError, match="nothing answers on that port"):
        ImapMailbox(closed).open()
