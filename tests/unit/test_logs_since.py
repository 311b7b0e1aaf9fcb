"""inv logs --since: a duration before now (30s, 10m, 2h, 1d) or an ISO 8601 time; anything
else is refused in one line (exit 2) before a log is read."""

from __future__ import annotations

import datetime as dt

import pytest

from shipyard.errors import UsageError
from shipyard.operations.logs import parse_since

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "before"),
    [
        ("30s", dt.timedelta(seconds=30)),
        ("10m", dt.timedelta(minutes=10)),
        ("2h", dt.timedelta(hours=2)),
        ("1d", dt.timedelta(days=1)),
        (" 0s ", dt.timedelta(0)),
    ],
)
def test_durations_count_back_from_now(text: str, before: dt.timedelta) -> None:
    assert parse_since(text, NOW) == NOW - before


def test_iso_times_with_and_without_a_zone() -> None:
    assert parse_since("2026-02-28T23:00:00Z", NOW) == dt.datetime(2026, 2, 28, 23, tzinfo=dt.UTC)
    assert parse_since("2026-02-28T23:00:00+09:00", NOW) == dt.datetime(
        2026, 2, 28, 14, tzinfo=dt.UTC
    )
    local = parse_since("2026-02-28T23:00:00", NOW)
    assert local.tzinfo is not None  # this machine's time zone
    assert local.replace(tzinfo=None) == dt.datetime(2026, 2, 28, 23)


@pytest.mark.parametrize("text", ["10", "10 minutes", "1w", "-5m", "yesterday", "", "m10"])
def test_anything_else_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_since(text, NOW)
    assert err.value.exit_code == 2
    assert "30s, 10m, 2h, 1d" in err.value.one_line()
    assert "\n" not in err.value.one_line()
