"""UTC times as Kumo stores (naive UTC datetimes) and renders them (ISO 8601)."""
from __future__ import annotations

import datetime as dt

UTC = dt.timezone.utc


def utcnow() -> dt.datetime:
    """Now, as a naive UTC datetime (how the database stores times)."""
    return dt.datetime.now(UTC).replace(tzinfo=None)


def from_timestamp(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def to_timestamp(value: dt.datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp()


def isotime(value: dt.datetime | None, subsecond: bool = True) -> str | None:
    """``2015-11-05T21:00:33.819948Z`` (or without the fraction); None stays None."""
    if value is None:
        return None
    if value.tzinfo is None and value.year >= 1000:
        # isoformat is several times faster than strftime (lists render thousands).
        return value.isoformat(timespec="microseconds" if subsecond else "seconds") + "Z"
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if subsecond else "%Y-%m-%dT%H:%M:%SZ"
    return value.strftime(fmt)


def parse_isotime(text: str) -> dt.datetime:
    """Parse an ISO 8601 time (``Z`` or offset, or none meaning UTC) to naive UTC.

    Raises ``ValueError`` for anything else, including a time that does not exist in
    UTC (before year 1 or after year 9999 once the offset is applied).
    """
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise ValueError(f"{text!r} is out of range in UTC") from None
    return value
