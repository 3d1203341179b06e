"""A real IMAP server for tests: Dovecot (`dovecot-imapd`) from a config in a temporary folder.

One Maildir user with a password file, plaintext login on 127.0.0.1 and a free port, no TLS;
run as an unprivileged user (the `dovecot` system user when the tests run as root, else the
user running them), in the foreground (`dovecot -F`), stopped by terminating that process.

Usage::

    server = DovecotServer.start()          # or the reason why not: `find_dovecot()`
    server.settings()                       # ImapSettings to log in with
    server.append(raw_bytes)                # a message into INBOX, by IMAP APPEND
    server.stop()
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from campaign_desktop.channels.imap import ImapMailbox, ImapSettings
from campaign_desktop.domain.status import SmtpSecurity
from tests.smtp_server import HOST, free_port, make_self_signed_cert

USERNAME = "replies@shop.example"
PASSWORD = "imap-secret-ü"  # non-ASCII on purpose: the keyring and LOGIN carry it
#: Dovecot refuses nothing as root, but a test server has no business running as root.
SYSTEM_USER = "dovecot"
DOVECOT = "/usr/sbin/dovecot"

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = {host}
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    user = {user}
  }}
  unix_listener stats-writer {{
    user = {user}
  }}
}}
"""


def find_dovecot() -> str | None:
    """None when Dovecot can run here, else the reason (for a skip)."""
    if not Path(DOVECOT).is_file():
        return "Dovecot is not installed: `apt-get install dovecot-imapd` to run the IMAP tests"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root and there is no `{SYSTEM_USER}` user to run Dovecot as"
    return None


@dataclass
class DovecotServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    tls_port: int = 0  # IMAPS (and STARTTLS on `port`) when started with `tls=True`
    ca_file: Path | None = None  # the self-signed certificate to verify it with

    @classmethod
    def start(cls, *, tls: bool = False) -> DovecotServer:
        """Start a server; with `tls`, a self-signed certificate for 127.0.0.1 serves IMAPS
        on `tls_port` and STARTTLS on `port` (verify with `ca_file`)."""
        user = pwd.getpwnam(SYSTEM_USER) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        root = Path(tempfile.mkdtemp(prefix="cd-dovecot-"))
        port = free_port()
        tls_port = free_port() if tls else 0
        ssl = "ssl = no"
        cert = None
        if tls:
            cert, key = make_self_signed_cert(root)
            ssl = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
        home = root / "home"
        for folder in (root / "run", root / "state", home):
            folder.mkdir()
        (root / "users").write_text(
            f"{USERNAME}:{{PLAIN}}{PASSWORD}:{user.pw_uid}:{user.pw_gid}::{home}::\n",
            encoding="utf-8",
        )
        config = root / "dovecot.conf"
        config.write_text(
            _CONFIG.format(
                root=root,
                host=HOST,
                port=port,
                tls_port=tls_port,
                ssl=ssl,
                user=user.pw_name,
                group=_group_name(user.pw_gid),
                uid=user.pw_uid,
                gid=user.pw_gid,
            ),
            encoding="utf-8",
        )
        for path in [root, *root.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            user=user.pw_uid if os.geteuid() == 0 else None,
            group=user.pw_gid if os.geteuid() == 0 else None,
            extra_groups=[] if os.geteuid() == 0 else None,
        )
        server = cls(root, port, process, tls_port, cert)
        try:
            server._wait_until_listening()
        except BaseException:
            server.stop()
            raise
        return server

    def settings(self, password: str = PASSWORD) -> ImapSettings:
        return ImapSettings(
            host=HOST,
            port=self.port,
            security=SmtpSecurity.NONE,
            username=USERNAME,
            password=password,
            timeout=10.0,
        )

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message into `folder` by IMAP APPEND (as a mail server would deliver it)."""
        with ImapMailbox(self.settings()) as mailbox:
            mailbox.append(folder, raw)

    def folder_uids(self, folder: str) -> list[int]:
        """The UIDs in `folder` ([] when it does not exist)."""
        with ImapMailbox(self.settings()) as mailbox:
            if not mailbox.client.folder_exists(folder):
                return []
            mailbox.client.select_folder(folder, readonly=True)
            return sorted(mailbox.client.search(["ALL"]))

    def unseen_count(self, folder: str = "INBOX") -> int:
        with ImapMailbox(self.settings()) as mailbox:
            mailbox.client.select_folder(folder, readonly=True)
            return len(mailbox.client.search(["UNSEEN"]))

    def clear(self) -> None:
        """Empty every folder of the user (between tests sharing the server)."""
        with ImapMailbox(self.settings()) as mailbox:
            client = mailbox.client
            for _flags, _delimiter, name in client.list_folders():
                client.select_folder(name)
                uids = client.search(["ALL"])
                if uids:
                    client.delete_messages(uids)
                    client.expunge()
                if name != "INBOX":
                    client.close_folder()
                    client.delete_folder(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait_until_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Dovecot ended at start: {self._log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as probe:
                    if probe.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.05)  # a poll of a process starting up: there is no event to wait on
        raise RuntimeError(f"Dovecot did not listen within {timeout} s: {self._log()}")

    def _log(self) -> str:
        log = self.root / "dovecot.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


def _group_name(gid: int) -> str:
    return grp.getgrgid(gid).gr_name
