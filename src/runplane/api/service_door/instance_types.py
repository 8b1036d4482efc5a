"""What /rest/instance, /rest/query and /rest/search do for one type of object; the table
of types is put together in inventory.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from runplane.core.context import Core
from runplane.core.inventory import SaveReport
from runplane.core.search import SearchRequest
from runplane.model import Instance

Record = dict[str, Any]


@dataclass(frozen=True)
class InstanceType:
    """What /rest/instance, /rest/query and /rest/search do for one type."""

    save_one: Callable[[Core, Instance, Any], Awaitable[str]]  # answers the saved name
    save_many: Callable[[Core, Instance, list[Any]], Awaitable[SaveReport]]
    get: Callable[[Core, Instance, str], Awaitable[Record]]
    delete: Callable[[Core, Instance, str], Awaitable[Record]]  # answers it as it was
    query: Callable[[Core, Instance, dict[str, str]], Awaitable[list[Record]]]
    search: Callable[[Core, Instance, SearchRequest], Awaitable[list[Record]]]
    # An object as sent, as a `failure` entry echoes it (credentials: their secrets masked).
    as_sent: Callable[[Any], Any] = field(default=lambda given: given)
