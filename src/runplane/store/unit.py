"""The handle of one unit of work: a transaction that the core composes store operations in.

The core holds a `Tx` only to hand it to store functions, inside a function it gives to
`Database.read` / `Database.write`. That it is a SQLAlchemy `Connection` is the store's
business: no module outside store/ imports SQLAlchemy (an import-linter contract in CI).
"""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy import Connection

Tx: TypeAlias = Connection
