"""Delivery over one SMTP connection: take a recipient, build, wait for a slot, mark, send.

A run has several of these (`sending.connections`), each on its own thread and its own
connection, all taking recipients from one `Dispatcher`. The order for each message is the
ledger's promise (docs/design.md §9): the message is built and the throttle slot taken
*before* the row is marked in flight, and the mark is committed together with the previous
message's outcome, so a row is `in_flight` only while its own SMTP transaction is open.

The client's own work overlaps the server's (docs/performance.md, "Send over a slow
server"): that commit runs while the server answers MAIL FROM (or, where it offers
PIPELINING, the group of MAIL, RCPT and DATA), and the content goes out only once it is
done; the next recipient is taken and its message built while the server confirms the
current one (`SmtpConnection.send_bytes`'s `go` and `meanwhile`).

Retry policy, per kind of failure:

- a 4xx reply for a recipient: the row waits inside the run (`retry_at`, growing delays,
  `sending.max_attempts` tries), while the connection goes on with others;
- the connection dropped before the data went out: the row goes back untried, the
  connection reconnects after a short backoff; too many in a row pause the run;
- no confirmation after the data (a drop or a silent server): the row is `unconfirmed`
  (never resent); a few in a row (across the run's connections) pause the run;
- a refused login or sender, or a server that stays unreachable: the run pauses once;
- the database busy, full or failing: the write is retried for `sending.storage_retry_seconds`,
  then the run pauses; outcomes not yet written are handed to the run, never dropped.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from campaign_desktop.channels.message import MessageTemplate, OutgoingMessage
from campaign_desktop.channels.smtp import (
    SmtpAuthError,
    SmtpBusyError,
    SmtpConnection,
    SmtpError,
    SmtpRecipientRefused,
    SmtpSenderRefused,
    SmtpSettings,
    SmtpTransientError,
    SmtpUnconfirmedError,
)
from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.errors import StorageError, ValidationError
from campaign_desktop.domain.status import DeliveryStatus
from campaign_desktop.domain.templates import (
    CampaignTemplates,
    build_render_context,
    unsubscribe_link,
)
from campaign_desktop.domain.tokens import DeliveryTokens
from campaign_desktop.services.sending.control import RunControl, Stop
from campaign_desktop.services.sending.ledger import (
    Begin,
    Ledger,
    Outcome,
    Recipient,
)
from campaign_desktop.services.sending.throttle import SendThrottle

log = logging.getLogger("campaign_desktop.sending")

ConnectionFactory = Callable[[SmtpSettings], SmtpConnection]
T = TypeVar("T")

#: Unconfirmed messages in a row (over all of a run's connections) that pause the run.
UNCONFIRMED_IN_A_ROW = 3
#: Deferred retries never wait longer than this between two tries.
MAX_RETRY_DELAY = 30 * 60.0
#: Words of a 4xx reply that asks the client to slow down rather than refusing a recipient.
_SLOW_DOWN_WORDS = ("rate", "too many", "limit", "slow down", "throttl")
#: "Slow down" answers in a row that a lone connection takes before the run pauses.
SLOW_DOWNS_IN_A_ROW = 10
#: Storage kinds worth retrying (a lock that goes away, space that is freed, a passing error).
_RETRIED_STORAGE = frozenset({"busy", "full", "io"})
#: An enhanced status 5.1.x (RFC 3463: bad destination mailbox or address, "no such user")
#: in a 5xx reply: the address will never work, the contact is bounced at once.
_NO_SUCH_USER = re.compile(r"(?<![\d.])5\.1\.\d{1,3}(?![\d.])")
_PAGE = 200


@dataclass(frozen=True)
class Job:
    """Everything a run's connections need, read once: nothing ORM crosses the thread."""

    run_id: int
    campaign_name: str
    is_test: bool
    templates: CampaignTemplates
    message: MessageTemplate  # the sender and the headers every message shares, made once
    unsubscribe_address: str
    test_context: dict[str, object] | None
    # Each message's token (docs/design.md §11): one HMAC per message, no database work.
    tokens: DeliveryTokens | None = None
    unsubscribe_page: str = ""  # the one-click page URL with {token}, or ""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # tries per recipient for 4xx replies; connection tries before a pause
    base_delay: float  # seconds before the first deferred retry; doubles each time
    storage_seconds: float  # how long a failing database write is retried

    def defer_delay(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: base, 2 x base, 4 x base, … (at most 30 min)."""
        return float(min(self.base_delay * 2 ** (attempt - 1), MAX_RETRY_DELAY))

    def connect_delay(self, attempt: int) -> float:
        """Backoff between connection tries: short, whatever the deferral base."""
        return float(min(self.base_delay, 2.0) * 2 ** (attempt - 1))


class Dispatcher:
    """Hands a run's pending rows to its connections, each row to one connection at a time.

    Rows are read from the ledger a page at a time in id order. A row handed out is `held`
    while it is still `pending` in the ledger: until it is marked (`settled`) or handed
    back (`put_back`). `take`
    returns a Recipient, the seconds to wait when only deferred rows are left, or None
    when nothing is left to send.
    """

    def __init__(self, ledger: Ledger, run_id: int, clock: Clock) -> None:
        self._ledger = ledger
        self._clock = clock
        self._run_id = run_id
        self._cond = threading.Condition()
        self._queue: deque[Recipient] = deque()
        self._held: set[int] = set()
        self._cursor = 0

    def take(
        self, stop: threading.Event, *, before_wait: Callable[[], None] | None = None
    ) -> Recipient | float | None:
        """The next recipient; `before_wait` runs before any wait for others' rows (the
        caller writes its outcomes, so nothing stays in flight while it waits)."""
        with self._cond:
            while not stop.is_set():
                if self._queue:
                    recipient = self._queue.popleft()
                    self._held.add(recipient.delivery_id)
                    return recipient
                page = self._ledger.pending_page(self._run_id, self._cursor, _PAGE)
                if page:
                    self._cursor = page[-1].delivery_id
                    self._queue.extend(r for r in page if r.delivery_id not in self._held)
                    continue
                self._cursor = 0  # end of a pass; the next one starts from the top
                if self._held:
                    # Others still hold rows that may come back (handed back or deferred).
                    if before_wait is not None:
                        before_wait()
                    self._cond.wait(0.5)
                    continue
                state = self._ledger.pending_state(self._run_id)
                if state.due:
                    continue
                if state.next_retry_at is None:
                    return None
                wait = (state.next_retry_at - self._clock.now()).total_seconds()
                return max(wait, 0.05)
            return None

    def take_now(self) -> Recipient | None:
        """The next recipient if one is at hand (reading at most one page), never waiting:
        None when there is none now. For looking ahead while a message is out."""
        with self._cond:
            if not self._queue:
                page = self._ledger.pending_page(self._run_id, self._cursor, _PAGE)
                if not page:
                    return None
                self._cursor = page[-1].delivery_id
                self._queue.extend(r for r in page if r.delivery_id not in self._held)
            if not self._queue:
                return None
            recipient = self._queue.popleft()
            self._held.add(recipient.delivery_id)
            return recipient

    def put_back(self, recipient: Recipient) -> None:
        with self._cond:
            self._held.discard(recipient.delivery_id)
            self._queue.appendleft(recipient)
            self._cond.notify_all()

    def settled(self, delivery_ids: Sequence[int]) -> None:
        with self._cond:
            self._held.difference_update(delivery_ids)
            self._cond.notify_all()


class RunShared:
    """What a run's connections share: the job, the ledger, the throttle, the verdicts."""

    def __init__(
        self,
        *,
        job: Job,
        ledger: Ledger,
        throttle: SendThrottle,
        clock: Clock,
        control: RunControl,
        policy: RetryPolicy,
        smtp: SmtpSettings,
        connect: ConnectionFactory,
        no_such_user: Callable[[int, str], None] | None = None,
    ) -> None:
        self.job = job
        self.no_such_user = no_such_user  # a 5.1.x refusal: the contact bounces at once
        self.ledger = ledger
        self.throttle = throttle
        self.clock = clock
        self.control = control
        self.policy = policy
        self.smtp = smtp
        self.connect = connect
        self.dispatcher = Dispatcher(ledger, job.run_id, clock)
        self._lock = threading.Lock()
        self._connections: list[SmtpConnection] = []
        self._working: set[int] = set()  # id() of the connections still taking recipients
        # When a connection last retired or was added back (monotonic), None before either.
        self._resized_at: float | None = None
        # Why nothing goes out, and until when (monotonic); why None: only put-off rows left.
        self._waiting: tuple[str | None, float] | None = None
        self._unconfirmed_in_a_row = 0
        self.unrecorded: list[Outcome] = []  # outcomes a connection could not write

    # -- connections ----------------------------------------------------------------------

    def new_connection(self) -> SmtpConnection:
        connection = self.connect(self.smtp)
        with self._lock:
            self._connections.append(connection)
            self._working.add(id(connection))
        return connection

    def retire(self, mine: SmtpConnection) -> bool:
        """Take `mine` out of the run if another connection is still working: True when it
        retired, False when it is the last (it must carry on, waiting). Decided under one
        lock, so connections told to slow down at the same moment never all stay (nor all
        go): whether the others' sockets happen to be open at that instant does not count."""
        with self._lock:
            if len(self._working - {id(mine)}) == 0:
                return False
            self._working.discard(id(mine))
            self._resized_at = time.monotonic()
            return True

    def may_grow(self, wanted: int, quiet_seconds: float) -> bool:
        """Whether to add a connection back: fewer than `wanted` are working because some
        retired, and none has retired (or been added) for `quiet_seconds`. True counts as
        the addition (the next one waits as long again): a provider that wanted fewer for
        a while gets them back one at a time, and one that still wants fewer says so by
        retiring the newcomer (design §9)."""
        with self._lock:
            resized = self._resized_at
            if resized is None or len(self._working) >= wanted:
                return False
            if time.monotonic() - resized < quiet_seconds:
                return False
            self._resized_at = time.monotonic()
            return True

    def done(self, mine: SmtpConnection) -> None:
        """`mine` takes no more recipients (its loop ended): it no longer counts as working."""
        with self._lock:
            self._working.discard(id(mine))

    def others_open(self, mine: SmtpConnection) -> int:
        """How many of the run's other connections are open right now."""
        with self._lock:
            return sum(1 for c in self._connections if c is not mine and c.is_open)

    def abort_all(self) -> None:
        """Cut every connection of the run (a stop that must not wait out a timeout)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.abort()

    # -- why nothing goes out for a while -------------------------------------------------

    def waiting(self, why: str | None, seconds: float) -> None:
        """A connection waits `seconds` (monotonic) before it tries again, for `why` (None:
        for the recipients the server put off, the only ones left)."""
        with self._lock:
            self._waiting = (why, time.monotonic() + seconds)

    def going(self) -> None:
        """A message was accepted: whatever was waited for is over."""
        if self._waiting is not None:
            with self._lock:
                self._waiting = None

    def waiting_note(self, left: int = 0) -> str:
        """Why a send does not move, soonest part first ("Trying again in 25 s: the mail
        server asked to slow down (451 …)"), or "" while messages go out; `left` is how many
        rows are still to send, named when only put-off recipients are left. Progress
        events carry it, and the status bar may cut a long reply short."""
        with self._lock:
            waiting = self._waiting
        if waiting is None:
            return ""
        why, until = waiting
        if why is None:
            why = f"{left:,} recipient{'' if left == 1 else 's'} the mail server put off"
        remaining = until - time.monotonic()
        if remaining <= 0:
            return f"Trying again: {why}"
        return f"Trying again in {_seconds(remaining)}: {why}"

    # -- verdicts over the whole run ------------------------------------------------------

    def confirmed(self) -> None:
        with self._lock:
            self._unconfirmed_in_a_row = 0

    def unconfirmed(self, error: SmtpError) -> None:
        log.warning("run %s: unconfirmed: %s", self.job.run_id, error.message)
        with self._lock:
            self._unconfirmed_in_a_row += 1
            too_many = self._unconfirmed_in_a_row >= UNCONFIRMED_IN_A_ROW
        if too_many:
            self.control.request(
                Stop.PAUSE,
                f"The mail server {self.smtp.address} stopped confirming messages "
                f"({UNCONFIRMED_IN_A_ROW} in a row; they are marked unconfirmed, not resent). "
                "The send is paused so the rest of the list is not spent on it; resume it "
                "when the server works again.",
            )

    def hand_over(self, outcomes: Sequence[Outcome]) -> None:
        with self._lock:
            self.unrecorded.extend(outcomes)

    def storage_failed(self, error: StorageError) -> None:
        self.control.request(
            Stop.PAUSE,
            f"{_sentence(error.message)} The send is paused and nothing is lost: what was sent is "
            "recorded as soon as the database can be written. Resume it then.",
        )

    def retrying(self, action: Callable[[], T]) -> T:
        """Run a ledger call, retrying busy/full/I/O failures for the policy's time.

        Raises the StorageError when the time is up (or at once for other kinds).
        Measured on the machine's monotonic clock: this is how long we really tried.
        """
        deadline = time.monotonic() + self.policy.storage_seconds
        delay = 0.1
        while True:
            try:
                return action()
            except StorageError as exc:
                if exc.kind not in _RETRIED_STORAGE or time.monotonic() >= deadline:
                    raise
                log.warning("run %s: %s; trying again", self.job.run_id, exc.message)
                if self.control.shutdown.wait(delay):
                    raise
                delay = min(delay * 2, 2.0)


class ConnectionSender:
    """One connection's loop over the run's recipients (runs on its own thread)."""

    def __init__(self, shared: RunShared) -> None:
        self._shared = shared
        self._connection = shared.new_connection()
        self._outcomes: list[Outcome] = []  # decided, not yet written
        self._trouble = 0  # connection losses in a row
        self._slow_downs = 0  # "too many connections / messages" answers in a row
        self._retiring = False  # the server wants fewer connections: this one stops
        self._backoff = 0.0  # seconds to wait before the next message (after writing)
        # The next recipient and its message (or why it cannot be built), taken and built
        # while the server was confirming the previous message (`_look_ahead`).
        self._ahead: tuple[Recipient, OutgoingMessage | ValidationError] | None = None

    def run(self) -> None:
        shared = self._shared
        try:
            self._loop()
            shared.retrying(self._write)
        except StorageError as exc:
            shared.hand_over(self._outcomes)
            shared.storage_failed(exc)
        finally:
            shared.done(self._connection)
            if self._ahead is not None:  # taken, never marked: another connection may send it
                shared.dispatcher.put_back(self._ahead[0])
                self._ahead = None
            self._close()

    def _loop(self) -> None:
        shared, control = self._shared, self._shared.control
        while not control.stop.is_set() and not self._retiring:
            if self._ahead is not None:
                recipient, built = self._ahead
                self._ahead = None
                self._deliver(recipient, built)
                continue
            item = shared.retrying(
                lambda: shared.dispatcher.take(control.stop, before_wait=self._write)
            )
            if item is None:
                back = any(o.status == DeliveryStatus.PENDING for o in self._outcomes)
                shared.retrying(self._write)
                if not back:
                    return
                continue  # our last outcome put a row back (a deferred retry): look again
            if isinstance(item, float):  # only deferred rows left: wait for the first
                shared.waiting(None, item)
                shared.retrying(self._write)
                if item > 10:
                    self._close()  # an idle connection would be dropped by the server
                control.stop.wait(min(item, 1.0))
                continue
            self._deliver(item, self._build_or_error(item))

    def _build_or_error(self, recipient: Recipient) -> OutgoingMessage | ValidationError:
        try:
            return self._build(recipient)
        except ValidationError as exc:
            return exc

    def _deliver(self, recipient: Recipient, built: OutgoingMessage | ValidationError) -> None:
        """Send one built message: slot, then mark and send (`_send`), in the ledger's order."""
        shared, control = self._shared, self._shared.control
        if isinstance(built, ValidationError):
            # This recipient's data cannot make a message: fail the one row, never mark it.
            failed = Outcome(
                recipient.delivery_id,
                DeliveryStatus.FAILED,
                expect=DeliveryStatus.PENDING,
                error=built.message,
            )
            try:
                shared.retrying(lambda: shared.ledger.record([failed]))
            finally:
                shared.dispatcher.settled([recipient.delivery_id])
            return
        got_slot = shared.throttle.acquire(
            recipient.delivery_id,
            control.stop,
            before_wait=lambda: shared.retrying(self._write),
        )
        if not got_slot or not self._ensure_open():
            shared.throttle.release(recipient.delivery_id)
            shared.dispatcher.put_back(recipient)
            return
        # The mark (with the previous outcomes) is committed while the server answers MAIL
        # FROM, and the data goes out only once it is: the row is in flight only inside its
        # own transaction, and the commit costs the connection no time of its own.
        states: list[str] = []

        def go() -> bool:
            states.append(shared.retrying(lambda: self._begin(recipient)))
            return states[0] == Begin.GO

        try:
            outcome = self._send(recipient, built, go)
        except StorageError:
            if not states:
                shared.throttle.release(recipient.delivery_id)
                shared.dispatcher.put_back(recipient)
            raise
        if not states and outcome is not None and outcome.status == DeliveryStatus.SENT:
            # A connection that sent without asking `go` broke the ledger's promise: a bug.
            raise RuntimeError(f"{self._connection!r} sent a message without marking its row")
        if not states or states[0] != Begin.GO:
            # Not marked (the connection was lost before MAIL went out: untried, for another
            # try), or not to be sent after all (the contact left, or another has the row).
            shared.throttle.release(recipient.delivery_id)
            if not states:
                shared.dispatcher.put_back(recipient)
            return
        assert outcome is not None
        self._outcomes.append(outcome)
        if self._backoff:
            # Written first: no row stays in flight while this connection waits.
            shared.retrying(self._write)
            control.stop.wait(self._backoff)
            self._backoff = 0.0

    def _build(self, recipient: Recipient) -> OutgoingMessage:
        job = self._shared.job
        token = job.tokens.token(recipient.delivery_id) if job.tokens is not None else ""
        link = unsubscribe_link(job.unsubscribe_address, token, job.unsubscribe_page)
        if job.test_context is not None:  # a test send: the sample's data, its own link
            context = {**job.test_context, "unsubscribe_url": link}
        else:
            context = build_render_context(
                contact_email=recipient.email,
                first_name=recipient.first_name,
                last_name=recipient.last_name,
                attributes=recipient.attributes,
                campaign_name=job.campaign_name,
                unsubscribe_mailto=job.unsubscribe_address,
                unsubscribe_url=link,
            )
        rendered = job.templates.render(context)
        return job.message.render(
            to=recipient.email,
            subject=("[TEST] " if job.is_test else "") + rendered.subject,
            text=rendered.text,
            html=rendered.html,
            token=token,
        )

    def _begin(self, recipient: Recipient) -> str:
        """Write the outcomes so far and mark `recipient` in flight, in one commit.

        Once committed the row is no longer `pending`, so no pass of the dispatcher can
        hand it out again: it is settled as far as the dispatcher is concerned.
        """
        state = self._shared.ledger.begin(
            recipient.delivery_id, self._outcomes, check_contact=not self._shared.job.is_test
        )
        self._outcomes = []
        self._shared.dispatcher.settled([recipient.delivery_id])
        return state

    def _write(self) -> None:
        if self._outcomes:
            self._shared.ledger.record(self._outcomes)
            self._outcomes = []

    def _ensure_open(self) -> bool:
        """Open the connection if needed; False when the run is stopping or this connection
        should retire (the server wants fewer connections)."""
        if self._connection.is_open:
            return True
        shared, control = self._shared, self._shared.control
        attempt = 0
        while not control.stop.is_set():
            attempt += 1
            try:
                self._connection.open()
            except SmtpAuthError as exc:
                control.request(Stop.PAUSE, _login_refused(exc))
                return False
            except SmtpError as exc:
                if (
                    isinstance(exc, SmtpBusyError)
                    and shared.others_open(self._connection)
                    and shared.retire(self._connection)
                ):
                    log.info(
                        "run %s: the server wants fewer connections (%s)", shared.job.run_id, exc
                    )
                    self._retiring = True  # never to reconnect: no storm of refused connects
                    return False
                if attempt >= shared.policy.attempts:
                    control.request(
                        Stop.PAUSE,
                        f"Could not reach the mail server {shared.smtp.address} after "
                        f"{attempt} tries ({exc.message}). The send is paused; resume it "
                        "when the server is reachable.",
                    )
                    return False
                log.warning("run %s: cannot connect (try %s): %s", shared.job.run_id, attempt, exc)
                control.stop.wait(shared.policy.connect_delay(attempt))
                continue
            return True
        return False

    def _close(self) -> None:
        self._connection.close()

    def _look_ahead(self) -> None:
        """While the server confirms a message: take the next recipient and build its
        message, so neither waits for the 250 (never waits itself; off with a throttle,
        where slots, not the server, set the pace and a message built early would carry an
        old Date)."""
        shared = self._shared
        if self._ahead is not None or shared.control.stop.is_set() or shared.throttle.limited:
            return
        try:
            recipient = shared.dispatcher.take_now()
        except StorageError:
            return  # the normal path reads again, with its retries
        if recipient is not None:
            self._ahead = (recipient, self._build_or_error(recipient))

    def _send(  # noqa: PLR0911
        self, recipient: Recipient, message: OutgoingMessage, go: Callable[[], bool]
    ) -> Outcome | None:
        """The SMTP transaction; `go` marks the row (see `SmtpConnection.send_bytes`).
        The row's outcome, or None when `go` declined (nothing sent)."""
        shared, control = self._shared, self._shared.control
        row = recipient.delivery_id
        try:
            if not self._connection.send_bytes(
                message.sender,
                message.recipients,
                message.data,
                go=go,
                meanwhile=self._look_ahead,
            ):
                return None
        except SmtpRecipientRefused as exc:
            shared.confirmed()
            if shared.no_such_user is not None and _NO_SUCH_USER.search(exc.message):
                try:
                    shared.no_such_user(row, exc.message)
                except StorageError as storage:  # the mailbox's bounce report catches it later
                    log.warning(
                        "run %s: contact not marked bounced: %s", shared.job.run_id, storage
                    )
            return Outcome(row, DeliveryStatus.FAILED, error=exc.message)
        except SmtpUnconfirmedError as exc:
            shared.unconfirmed(exc)
            # The channel's words already say it may have been delivered and is not resent.
            return Outcome(row, DeliveryStatus.UNCONFIRMED, error=exc.message)
        except SmtpSenderRefused as exc:
            control.request(
                Stop.PAUSE,
                f"{_sentence(exc.message)} The send is paused; check the sender address, "
                "then resume it.",
            )
            return Outcome(row, DeliveryStatus.PENDING, error=exc.message)
        except SmtpAuthError as exc:
            control.request(Stop.PAUSE, _login_refused(exc))
            return Outcome(row, DeliveryStatus.PENDING, error=exc.message)
        except SmtpError as exc:
            if _asks_to_slow_down(exc):
                return self._slow_down(recipient, exc)
            replied = isinstance(exc, SmtpTransientError) and not isinstance(exc, SmtpBusyError)
            if replied and exc.code is not None:
                shared.confirmed()
                return self._deferred(recipient, exc)
            # The connection was lost (or refused) before the data went out: nothing was
            # delivered. The row goes back untried; the connection backs off.
            self._connection.close()
            self._trouble += 1
            if self._trouble >= shared.policy.attempts:
                control.request(
                    Stop.PAUSE,
                    f"Lost the connection to the mail server {self._trouble} times in a row "
                    f"({exc.message}). The send is paused; resume it when the server is "
                    "reachable.",
                )
            else:
                self._backoff = shared.policy.connect_delay(self._trouble)
                shared.waiting(
                    f"the connection to the mail server was lost ({_unsentenced(exc.message)})",
                    self._backoff,
                )
            return Outcome(row, DeliveryStatus.PENDING, error=exc.message)
        shared.confirmed()
        shared.going()
        self._trouble = self._slow_downs = 0
        return Outcome(
            row,
            DeliveryStatus.SENT,
            message_id=message.message_id,
            sent_at=shared.clock.now(),
        )

    def _slow_down(self, recipient: Recipient, exc: SmtpError) -> Outcome:
        """The server asked for fewer connections or messages (421, a 4xx rate limit).

        No recipient is at fault: the row goes back untried (the try does not count). With
        other connections open this one retires; alone, it waits longer each time, and the
        run pauses only if the server keeps refusing.
        """
        shared, control = self._shared, self._shared.control
        self._connection.close()
        self._slow_downs += 1
        if shared.retire(self._connection):
            log.info("run %s: one connection fewer: %s", shared.job.run_id, exc.message)
            self._retiring = True
        elif self._slow_downs >= SLOW_DOWNS_IN_A_ROW:
            control.request(
                Stop.PAUSE,
                f"The mail server keeps asking to slow down ({exc.message}). The send is "
                "paused; resume it later, or lower the sending rate in Settings.",
            )
        else:
            self._backoff = min(shared.policy.connect_delay(self._slow_downs), 60.0)
            shared.waiting(
                f"the mail server asked to slow down ({exc.reply or _unsentenced(exc.message)})",
                self._backoff,
            )
        return Outcome(
            recipient.delivery_id, DeliveryStatus.PENDING, error=exc.message, uncount=True
        )

    def _deferred(self, recipient: Recipient, exc: SmtpError) -> Outcome:
        """A 4xx reply: try this recipient again later in the run, or give up after the
        last try, with the server's words."""
        attempt = recipient.attempts + 1
        policy = self._shared.policy
        if attempt >= policy.attempts:
            return Outcome(
                recipient.delivery_id,
                DeliveryStatus.FAILED,
                error=f"{exc.message} (tried {attempt} times)",
            )
        delay = timedelta(seconds=policy.defer_delay(attempt))
        return Outcome(
            recipient.delivery_id,
            DeliveryStatus.PENDING,
            error=exc.message,
            retry_at=self._shared.clock.now() + delay,
        )


def _asks_to_slow_down(exc: SmtpError) -> bool:
    """A 421 or a 4xx that speaks of rates and limits: the server wants less, not "never"."""
    if isinstance(exc, SmtpBusyError):
        return True
    if not isinstance(exc, SmtpTransientError) or exc.code is None or not 400 <= exc.code < 500:
        return False
    return exc.code == 421 or any(word in exc.message.lower() for word in _SLOW_DOWN_WORDS)


def _seconds(left: float) -> str:
    """ "25 s", "3 min" (a countdown in a status line)."""
    if left < 90:
        return f"{max(1, round(left))} s"
    return f"{round(left / 60)} min"


def _unsentenced(text: str) -> str:
    """A server's words inside parentheses: without the final full stop."""
    return text.rstrip().removesuffix(".")


def _login_refused(exc: SmtpError) -> str:
    """Why a run paused on a refused login: at connect or mid-run, one wording."""
    return (
        f"The mail server refused the username or password: {_sentence(exc.message)} "
        "The send is paused; fix the account in Settings, then resume it."
    )


def _sentence(text: str) -> str:
    """`text` ending as a sentence, so that the app's next words do not run into a server's
    reply ("…credentials invalid. The send is paused")."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."
