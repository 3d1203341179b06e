"""Campaign Desktop: write, schedule and send email campaigns from one desktop app.

The package is layered (domain → persistence/channels → services → scheduling → ui);
see docs/architecture.md.

`__version__` is read from the package metadata when first asked for (the About dialog),
not on import: `importlib.metadata` scans every installed distribution, which every start
would pay before its first paint (issue 16).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    __version__: str


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("campaign-desktop")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
