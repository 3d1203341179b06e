"""Messages that come back to the reply mailbox, written for the tests (made-up hosts and
addresses), each built around a real sent message (the bytes the SMTP server received).

Shapes, as their MTAs write them: an RFC 3464 multipart/report with message/rfc822-headers
(modern Postfix), a Gmail-style DSN with the whole original, a delay notice (4.4.7), old
plain-text Postfix (multipart/mixed, "Notification"), Exim (X-Failed-Recipients), qmail
(QSBMF), Exchange (an NDR with MSEXCH), and what people send: an out-of-office reply, a
reply that quotes the campaign, the unsubscribe email a mail client sends for the mailto:.
"""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from urllib.parse import parse_qs

REPORTING_HOST = "mx1.mail.example"


def _original(original: bytes) -> Message:
    return email.message_from_bytes(original, policy=email.policy.compat32)


def _headers(original: bytes) -> bytes:
    """The original's header block (what text/rfc822-headers carries)."""
    head, _, _ = original.partition(b"\r\n\r\n")
    return head + b"\r\n"


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def rfc3464_bounce(
    original: bytes,
    recipient: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "550 5.1.1 <{r}>: Recipient address rejected: User unknown in local table",
    message_id: str = "<20270104090102.4F2A1C0123@mx1.mail.example>",
) -> bytes:
    """Postfix's DSN: multipart/report with the original's headers (text/rfc822-headers)."""
    sender = str(_original(original)["From"])
    head = _crlf(
        f"""Return-Path: <>
Received: by {REPORTING_HOST} (Postfix) id 4F2A1C0123; Mon,  4 Jan 2027 09:01:02 +0000 (UTC)
Date: Mon,  4 Jan 2027 09:01:02 +0000 (UTC)
From: MAILER-DAEMON@{REPORTING_HOST} (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {sender}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4F2A1C0123.1798880462/{REPORTING_HOST}"
Content-Transfer-Encoding: 8bit
Message-Id: {message_id}

This is a MIME-encapsulated message.

--4F2A1C0123.1798880462/{REPORTING_HOST}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host {REPORTING_HOST}.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<{recipient}>: host mail.example.net[192.0.2.25] said: {diagnostic.format(r=recipient)}
    (in reply to RCPT TO command)

--4F2A1C0123.1798880462/{REPORTING_HOST}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; {REPORTING_HOST}
X-Postfix-Queue-ID: 4F2A1C0123
X-Postfix-Sender: rfc822; news@shop.example
Arrival-Date: Mon,  4 Jan 2027 09:01:01 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.net
Diagnostic-Code: smtp; {diagnostic.format(r=recipient)}

--4F2A1C0123.1798880462/{REPORTING_HOST}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

"""
    )
    tail = _crlf(f"\n--4F2A1C0123.1798880462/{REPORTING_HOST}--\n")
    return head + _headers(original) + tail


def delay_notice(original: bytes, recipient: str, *, number: int = 1) -> bytes:
    """A "delayed" DSN (4.4.7: still trying), as Postfix sends after some hours."""
    return rfc3464_bounce(
        original,
        recipient,
        status="4.4.7",
        action="delayed",
        diagnostic="450 4.2.0 <{r}>: Recipient address rejected: Greylisted, try again",
        message_id=f"<20270104130000.D{number:04d}@mx1.mail.example>",
    )


def gmail_style_dsn(original: bytes, recipient: str) -> bytes:
    """Gmail's "Address not found": multipart/report with the whole original attached."""
    sender = str(_original(original)["From"])
    head = _crlf(
        f"""Delivered-To: news@shop.example
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.example>
To: {sender}
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
Date: Mon, 04 Jan 2027 01:02:03 -0800 (PST)
Message-ID: <6a1d2c3b.0a1b2c3d.4e5f.1234.GMR@mx.googlemail.example>
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000aa11bb22cc33"; report-type=delivery-status

--000000000000aa11bb22cc33
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to {recipient} because the address couldn't be found,
or is unable to receive mail.

The response from the remote server was:
550 5.1.1 The email account that you tried to reach does not exist.

--000000000000aa11bb22cc33
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.example
Received-From-MTA: dns; news@shop.example
Arrival-Date: Mon, 04 Jan 2027 01:02:02 -0800 (PST)

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.example. (192.0.2.27, the server for the domain.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.
Last-Attempt-Date: Mon, 04 Jan 2027 01:02:03 -0800 (PST)

--000000000000aa11bb22cc33
Content-Type: message/rfc822

"""
    )
    return head + original + _crlf("\n--000000000000aa11bb22cc33--\n")


def postfix_plain_bounce(original: bytes, recipient: str) -> bytes:
    """Postfix without DSN (older or notify_classes set): multipart/mixed, a "Notification"
    text part and the undelivered message."""
    sender = str(_original(original)["From"])
    head = _crlf(
        f"""Return-Path: <>
Date: Mon,  4 Jan 2027 09:05:00 +0000 (UTC)
From: MAILER-DAEMON@relay.mail.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {sender}
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="7B1E2A0456.1798880700/relay.mail.example"
Message-Id: <20270104090500.7B1E2A0456@relay.mail.example>

This is a MIME-encapsulated message.

--7B1E2A0456.1798880700/relay.mail.example
Content-Description: Notification
Content-Type: text/plain

This is the Postfix program at host relay.mail.example.

I'm sorry to have to inform you that the message returned
below could not be delivered to one or more destinations.

For further assistance, please contact <postmaster@relay.mail.example>

If you do so, please include this problem report. You can
delete your own text from the message returned below.

                        The Postfix program

<{recipient}>: host mail.example.org[198.51.100.7] said: 550 5.1.1
    <{recipient}>... User unknown (in reply to RCPT TO command)

--7B1E2A0456.1798880700/relay.mail.example
Content-Description: Undelivered Message
Content-Type: message/rfc822

"""
    )
    return head + original + _crlf("\n--7B1E2A0456.1798880700/relay.mail.example--\n")


def exim_bounce(original: bytes, recipient: str) -> bytes:
    """Exim's bounce: one text part, X-Failed-Recipients, the message copied below."""
    sender = str(_original(original)["From"])
    head = _crlf(
        f"""Return-path: <>
Received: from Debian-exim by smtp.mail.example with local (Exim 4.96)
\tid 1rLpQx-0003Ab-2K; Mon, 04 Jan 2027 09:06:00 +0000
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@smtp.mail.example>
To: {sender}
Content-Type: text/plain; charset=us-ascii
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1rLpQx-0003Ab-2K@smtp.mail.example>
Date: Mon, 04 Jan 2027 09:06:00 +0000

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    host mx.example.com [203.0.113.9]
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

"""
    )
    return head + original


def qmail_bounce(original: bytes, recipient: str) -> bytes:
    """qmail's QSBMF bounce with the message copied below the line."""
    sender = str(_original(original)["From"])
    head = _crlf(
        f"""Return-Path: <>
Date: 4 Jan 2027 09:07:00 -0000
From: MAILER-DAEMON@qmail.mail.example
To: {sender}
Subject: failure notice
Message-ID: <qmail-bounce-1798880820@qmail.mail.example>

Hi. This is the qmail-send program at qmail.mail.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{recipient}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

"""
    )
    return head + original


def exchange_bounce(original: bytes, recipient: str) -> bytes:
    """An Exchange NDR (text, "did not reach the following recipient(s)", MSEXCH)."""
    parsed = _original(original)
    sender, subject = str(parsed["From"]), str(parsed["Subject"])
    head = _crlf(
        f"""From: System Administrator <postmaster@corp.mail.example>
To: {sender}
Subject: Undeliverable: {subject}
Date: Mon, 4 Jan 2027 09:08:00 -0000
Message-ID: <NDR-5F3E2D1C@EXCH01.corp.mail.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="----_=_NextPart_001_01DB1234.ABCDEF00"

------_=_NextPart_001_01DB1234.ABCDEF00
Content-Type: text/plain; charset="us-ascii"

Your message

  Subject: {subject}
  Sent:    Mon, 4 Jan 2027 09:00:00 -0000

did not reach the following recipient(s):

{recipient} on Mon, 4 Jan 2027 09:08:00 -0000
    The e-mail account does not exist at the organization this message was sent to.
    <EXCH01.corp.mail.example #5.1.1>
    MSEXCH:IMS:Corp:Head Office:EXCH01 0 (000C05A6) Unknown Recipient

------_=_NextPart_001_01DB1234.ABCDEF00
Content-Type: message/rfc822

"""
    )
    return head + original + _crlf("\n------_=_NextPart_001_01DB1234.ABCDEF00--\n")


def verp_only_bounce(envelope_sender: str, recipient: str) -> bytes:
    """A terse bounce that quotes nothing of the message: only its address (the VERP
    envelope sender) says which message it was about."""
    return _crlf(
        f"""Return-Path: <>
From: MAILER-DAEMON@terse.mail.example
To: {envelope_sender}
Subject: failure notice
Message-ID: <terse-1798880900@terse.mail.example>
X-Failed-Recipients: {recipient}

Your message could not be delivered: 550 5.1.1 no such user.
"""
    )


def out_of_office(original: bytes, recipient: str) -> bytes:
    """An out-of-office reply (RFC 3834 Auto-Submitted), answering the campaign."""
    parsed = _original(original)
    return _crlf(
        f"""From: {recipient}
To: {parsed["From"]}
Subject: Automatic reply: {parsed["Subject"]}
Date: Mon, 4 Jan 2027 09:09:00 +0000
Message-ID: <ooo-{recipient.replace("@", ".")}@mail.example>
In-Reply-To: {parsed["Message-ID"]}
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All

I am out of the office until 11 January with no access to email.
"""
    )


def quoting_reply(original: bytes, recipient: str) -> bytes:
    """A person's reply that quotes the whole campaign, unsubscribe link included: not an
    unsubscribe request."""
    parsed = _original(original)
    body = parsed.get_payload(decode=True)
    assert isinstance(body, bytes)  # a campaign message without HTML: one text part
    quoted = "\n".join("> " + line for line in body.decode("utf-8", "replace").splitlines())
    return _crlf(
        f"""From: {recipient}
To: {parsed["From"]}
Subject: Re: {parsed["Subject"]}
Date: Mon, 4 Jan 2027 09:10:00 +0000
Message-ID: <reply-{recipient.replace("@", ".")}@mail.example>
In-Reply-To: {parsed["Message-ID"]}
Content-Type: text/plain; charset=utf-8

Thanks, do you ship to Canada?

On Mon, 4 Jan 2027, The Shop wrote:
{quoted}
"""
    )


def unsubscribe_request(original: bytes, recipient: str) -> bytes:
    """What a mail client sends for the List-Unsubscribe mailto: (Gmail's "Unsubscribe"):
    to the address, with the subject the URL gives."""
    parsed = _original(original)
    url = str(parsed["List-Unsubscribe"]).split("<mailto:", 1)[1].split(">", 1)[0]
    address, _, query = url.partition("?")
    subject = parse_qs(query)["subject"][0]
    return _crlf(
        f"""From: {recipient}
To: {address}
Subject: {subject}
Date: Mon, 4 Jan 2027 09:11:00 +0000
Message-ID: <unsub-{recipient.replace("@", ".")}@mail.example>
Content-Type: text/plain; charset=UTF-8

This message was automatically generated by Gmail.
"""
    )


def unsubscribe_with_token(token: str, recipient: str, number: int = 1) -> bytes:
    """An unsubscribe email carrying `token` (forged or another database's, in the tests)."""
    return _crlf(
        f"""From: {recipient}
To: news@shop.example
Subject: Unsubscribe {token}
Date: Mon, 4 Jan 2027 09:12:00 +0000
Message-ID: <forged-{number}@mail.example>

unsubscribe
"""
    )


def malformed() -> bytes:
    """Broken MIME: a multipart without its boundary, a bad charset, binary junk, no
    blank line after the headers, an unterminated encoded-word."""
    return (
        b"From: =?utf-8?q?broken\r\nSubject: =?x-unknown?b?////?=\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status\r\n"
        b"Content-Type: text/plain; charset=no-such-charset\r\n"
        b"--\r\n\xff\xfe\x00garbage\r\nAction: failed\r\nStatus: 5.9.9.9\r\n"
    )


def huge_attachment(recipient: str, size: int = 3_000_000) -> bytes:
    """A message with an attachment larger than anything a bounce of ours would be."""
    line = b"QUJDRA" * 12 + b"\r\n"
    payload = line * (size // len(line) + 1)
    return (
        _crlf(
            f"""From: {recipient}
To: news@shop.example
Subject: Unsubscribe
Message-ID: <huge-1@mail.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

See attached.
--b1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

"""
        )
        + payload
        + b"--b1--\r\n"
    )
