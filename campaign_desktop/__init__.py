"""Campaign Desktop: write, schedule and send email campaigns from one desktop app.

The package is layered (domain → persistence/channels → services → scheduling → ui);
see docs/architecture.md.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("campaign-desktop")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
