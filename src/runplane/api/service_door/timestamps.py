"""eNMS's way of writing a record's created_at and updated_at."""

from __future__ import annotations

from datetime import datetime

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def render_time(value: datetime) -> str:
    return value.strftime(TIMESTAMP_FORMAT)
