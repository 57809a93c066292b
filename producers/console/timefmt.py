"""Times as the console shows them: always with their zone, in the viewer's zone and in UTC."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def known_zone(name: str | None, default: str) -> str:
    if name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return default


def zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def stamp(value: datetime | None, zone: str) -> str:
    """``2026-12-03 14:05 CET (13:05 UTC)``; UTC once when the viewer's zone is UTC."""
    if value is None:
        return "—"
    utc = value.astimezone(UTC)
    local = value.astimezone(ZoneInfo(zone))
    if local.utcoffset() == utc.utcoffset() and zone in ("UTC", "Etc/UTC"):
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    same_day = local.date() == utc.date()
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({utc:%H:%M} UTC{'' if same_day else f' {utc:%d %b}'})"


def left(value: datetime | None, now: datetime) -> str:
    """Time left until ``value``: ``41 h 12 min left``, or ``overdue by 3 h 5 min``."""
    if value is None:
        return "not started"
    seconds = int((value - now).total_seconds())
    minutes = abs(seconds) // 60
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    span = (f"{days} d " if days else "") + (f"{hours} h " if days or hours else "") + f"{mins} min"
    return f"{span} left" if seconds >= 0 else f"overdue by {span}"
