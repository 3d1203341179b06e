"""How the GUI writes run progress: the messages the server accepted, and the sending rate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campaign_desktop.ui.common.formatting import send_rate, sent_of_total
from tests.ui.helpers import sending_run

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("per_second", "text"),
    [
        (38.4, "38 messages/s"),
        (1234.0, "1,234 messages/s"),
        (9.96, "10 messages/s"),
        (2.5, "2.5 messages/s"),
        (1.0, "1 message/s"),
        (0.5, "0.5 messages/s"),
        (0.0, "0 messages/s"),
    ],
)
def test_send_rate_is_whole_from_ten_up_and_keeps_one_decimal_below(
    per_second: float, text: str
) -> None:
    assert send_rate(per_second) == text


def test_sent_of_total_counts_only_what_the_server_accepted() -> None:
    run = sending_run(sent=1234, failed=40, skipped=3, unconfirmed=1)
    assert sent_of_total(run) == "1,234 of 4,997 sent"  # the 3 skipped are not recipients
