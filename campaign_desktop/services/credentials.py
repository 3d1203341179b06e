"""The passwords' one home: the operating system's keyring (service "campaign-desktop").

The SMTP password under its username; a team database's (PostgreSQL) under
``database:<user>@<host>:<port>/<database>``. No keyring, no password: the error says what
to install instead of falling back to a file.

`keyring` is imported when a password is first read or written, not with this module: the
first paint needs no password, and keyring pulls in its backends' metadata (issue 16).
"""

from __future__ import annotations

import logging
import sys

from sqlalchemy import URL

from campaign_desktop.domain.errors import CredentialsError

log = logging.getLogger("campaign_desktop.credentials")

SERVICE_NAME = "campaign-desktop"


def keyring_help() -> str:
    """What this platform needs for a working keyring, in words a marketer can act on."""
    if sys.platform.startswith("linux"):
        return (
            "No system keyring is available to store the SMTP password. Install and unlock "
            "a Secret Service keyring (GNOME Keyring or KWallet, e.g. `sudo apt install "
            "gnome-keyring`), then try again."
        )
    if sys.platform == "darwin":
        return "The macOS Keychain refused access. Allow Campaign Desktop in Keychain Access."
    return "Windows Credential Manager is not available. Check that you are signed in normally."


class CredentialStore:
    """Reads and writes the SMTP password for one username in the keyring."""

    def __init__(self, service: str = SERVICE_NAME) -> None:
        self._service = service

    def available(self) -> bool:
        """True when a real (non-failing) keyring backend is configured."""
        import keyring  # noqa: PLC0415  (see the module docstring)

        backend = keyring.get_keyring()
        return float(getattr(backend, "priority", 0)) > 0

    def set_password(self, username: str, password: str) -> None:
        import keyring  # noqa: PLC0415  (see the module docstring)
        from keyring.errors import KeyringError, NoKeyringError  # noqa: PLC0415

        try:
            if password:
                keyring.set_password(self._service, self._key(username), password)
            else:
                self.delete_password(username)
        except NoKeyringError:
            raise CredentialsError(keyring_help()) from None
        except KeyringError as exc:
            # The backend's message names the backend, never the secret.
            raise CredentialsError(f"The keyring refused to store the password ({exc}).") from None

    def get_password(self, username: str) -> str:
        import keyring  # noqa: PLC0415  (see the module docstring)
        from keyring.errors import KeyringError, NoKeyringError  # noqa: PLC0415

        try:
            return keyring.get_password(self._service, self._key(username)) or ""
        except NoKeyringError:
            raise CredentialsError(keyring_help()) from None
        except KeyringError as exc:
            raise CredentialsError(f"The keyring refused to give the password ({exc}).") from None

    def delete_password(self, username: str) -> None:
        import keyring  # noqa: PLC0415  (see the module docstring)
        from keyring.errors import NoKeyringError, PasswordDeleteError  # noqa: PLC0415

        try:
            keyring.delete_password(self._service, self._key(username))
        except PasswordDeleteError:
            pass  # nothing stored: already the state asked for
        except NoKeyringError:
            raise CredentialsError(keyring_help()) from None

    def database_login(self, url: URL) -> URL:
        """`url` with the password to log in to the team database with.

        A password written in the URL is moved into the keyring (a command line or an
        environment variable is no place to keep one) and used; otherwise the keyring's
        is used, if it has one. Without a working keyring, a password in the URL still
        serves this session (with a warning); none is ever written to a file or logged.
        """
        import keyring  # noqa: PLC0415  (see the module docstring)
        from keyring.errors import KeyringError  # noqa: PLC0415

        key = database_key(url)
        if url.password:
            try:
                keyring.set_password(self._service, key, str(url.password))
                log.info("stored the password of %s in the keyring", key)
            except KeyringError as exc:  # NoKeyringError too
                log.warning("the database password is not kept: %s", exc.__class__.__name__)
            return url
        try:
            password = keyring.get_password(self._service, key)
        except KeyringError as exc:
            log.warning("no database password from the keyring: %s", exc.__class__.__name__)
            return url
        return url.set(password=password) if password else url

    def has_database_password(self, url: URL) -> bool:
        """True when the keyring holds a password for the team database at `url` (False
        without a working keyring). Never returns the password itself."""
        import keyring  # noqa: PLC0415  (see the module docstring)
        from keyring.errors import KeyringError  # noqa: PLC0415

        try:
            return bool(keyring.get_password(self._service, database_key(url)))
        except KeyringError:  # NoKeyringError too
            return False

    def forget_database_login(self, url: URL) -> None:
        """Remove the team database's password from the keyring (nothing stored: no error)."""
        import keyring  # noqa: PLC0415  (see the module docstring)
        from keyring.errors import NoKeyringError, PasswordDeleteError  # noqa: PLC0415

        try:
            keyring.delete_password(self._service, database_key(url))
        except PasswordDeleteError:
            pass
        except NoKeyringError:
            raise CredentialsError(keyring_help()) from None

    @staticmethod
    def _key(username: str) -> str:
        # An SMTP server without AUTH still gets an entry name, so one store serves both.
        return username or "(no username)"


def database_key(url: URL) -> str:
    """The keyring entry of a team database's password: ``database:user@host:port/db``."""
    return (
        f"database:{url.username or ''}@{url.host or 'localhost'}:{url.port or 5432}/{url.database}"
    )
