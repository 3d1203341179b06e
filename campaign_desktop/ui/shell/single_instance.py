"""One Campaign Desktop per data folder: a second launch asks the first to show its window.

The first launch listens on a local socket (a Unix socket file / a Windows named pipe) named
after the data folder and the user; a later launch connects, sends "show" and exits. This
runs before the database opens, so a second launch never becomes a second scheduler (the
scheduler's lock file stays as the last line of defence, e.g. for a folder on a network
drive shared by two machines).
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal, Slot
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

log = logging.getLogger("campaign_desktop.ui.shell.single_instance")

SHOW_MESSAGE = b"show\n"
_CONNECT_TIMEOUT_MS = 1000
# How long `acquire` waits for another launch that is itself in the middle of `acquire`.
_CHECK_LOCK_TIMEOUT_MS = 5000


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (some containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


def server_name(data_dir: Path) -> str:
    """The socket's name for `data_dir`: one per resolved folder and user, short and safe.

    Hashed because the raw path may be long (Unix socket paths max out near 100 bytes) or
    hold characters a pipe name cannot.
    """
    key = f"{_user()}\0{Path(data_dir).expanduser().resolve()}"
    return "campaign-desktop-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


class SingleInstance(QObject):
    """Claim `data_dir` for this process, or hand over to the process that has it.

    ``acquire()`` returns True when this process is now the one instance (it listens from
    then on and emits `activation_requested` when a later launch says "show"), and False
    when another instance was told to show itself: the caller should exit.
    """

    activation_requested = Signal()

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(data_dir)
        self._server: QLocalServer | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.isListening()

    def acquire(self) -> bool:
        # Two launches at the same instant must not both find no listener and both listen:
        # the check-then-listen step runs under a short-lived lock file.
        guard = QLockFile(str(Path(tempfile.gettempdir()) / f"{self.name}.lock"))
        if not guard.tryLock(_CHECK_LOCK_TIMEOUT_MS):
            log.warning("could not take %s; checking for another instance anyway", guard)
        try:
            if self.notify_running():
                return False
            self._listen()
            return True
        finally:
            guard.unlock()

    def notify_running(self) -> bool:
        """Tell a running instance to show its window; False when none answers."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(_CONNECT_TIMEOUT_MS):
            return False
        socket.write(SHOW_MESSAGE)
        socket.flush()
        socket.waitForBytesWritten(_CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(_CONNECT_TIMEOUT_MS)
        log.info("another instance runs on this data folder; asked it to show its window")
        return True

    def close(self) -> None:
        """Stop listening (the socket file goes away with it)."""
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None

    def _listen(self) -> None:
        server = QLocalServer(self)
        # Only this user may talk to the socket.
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if (
            not server.listen(self.name)
            and server.serverError() == QAbstractSocket.SocketError.AddressInUseError
        ):
            # Nobody answered `notify_running`, so the socket file is what a crashed
            # instance left behind: remove it and listen again.
            log.info("removing the stale instance socket %s", self.name)
            QLocalServer.removeServer(self.name)
            server.listen(self.name)
        if not server.isListening():
            # Not fatal: the app still works, only a second launch cannot find this one.
            log.warning("cannot listen for other launches: %s", server.errorString())
            server.deleteLater()
            return
        server.newConnection.connect(self._on_new_connection)
        self._server = server
        log.info("listening for other launches on %s", server.fullServerName())

    @Slot()
    def _on_new_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._on_ready_read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._on_ready_read(socket)

    def _on_ready_read(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            line = bytes(socket.readLine().data())
            if line == SHOW_MESSAGE:
                log.info("a second launch asked this window to show itself")
                self.activation_requested.emit()
            else:
                log.warning("ignoring an unknown message from another launch: %r", line[:40])
