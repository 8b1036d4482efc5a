"""Building many records at once without the cyclic garbage collector in the way.

Materialising a pool of 100,000 devices allocates a few hundred thousand containers, and
each allocation burst triggers collections that walk every live object: a third of the
time. None of these records forms a cycle, so while they are built the collector is held
off (counted, so that concurrent builders on several threads re-enable it only when the last
one is done, and only if it was enabled to begin with).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
