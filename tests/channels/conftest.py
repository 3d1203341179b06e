"""Fixtures for the channel tests: a real SMTP server and a self-signed TLS certificate.

The shared ones may move to tests/conftest.py once other layers need them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtp_server import SmtpServer, make_self_signed_cert, running_smtp_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain, fault-free server that accepts everything (no TLS, no login)."""
    with running_smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(certificate, key) of a self-signed certificate for 127.0.0.1, made once per run."""
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))
