"""Users' regular expressions (pool filters, searches), matched by RE2 in time linear in the
text, so that no pattern can hold a thread, the event loop or the database for long (Python's
re takes exponential time on `(a+)+$` against "aaa…!"). A pattern RE2 cannot run
(backreferences, lookarounds) is refused when it is saved; see `unsupported`."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, _OPTIONS)


def unsupported(pattern: str) -> str | None:
    """Why RE2 cannot run `pattern`, or None if it can."""
    try:
        _compiled(pattern)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        return reason.decode() if isinstance(reason, bytes) else str(reason)
    return None


def search(pattern: str, text: str | None) -> bool | None:
    """re.search's verdict, in linear time (None for a NULL text, as SQL has it)."""
    if text is None:
        return None
    return _compiled(pattern).search(text) is not None
