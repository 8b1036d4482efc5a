"""Importing an inventory file: JSON, CSV or YAML rows of devices and pools.

JSON and YAML hold a list of objects (devices, or what `kind` says) or
`{"devices": [...], "pools": [...]}`. CSV holds one kind: a header row of field names, then
one object per row; an empty cell is a field not given. A pool's `devices` cell lists names
separated by commas or semicolons. Each row is checked on its own: bad rows are reported
(row number and message) and the good ones kept.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runplane.core.context import Core
from runplane.core.inventory import SaveReport, save_devices
from runplane.core.pools import save_pools
from runplane.model import Instance

DEVICE = "device"
POOL = "pool"
KINDS = (DEVICE, POOL)
FORMATS = {".json": "json", ".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}
NAME_SEPARATORS = re.compile(r"[;,]")


class UnreadableFile(Exception):
    """The file cannot be read or parsed at all: nothing is imported."""


@dataclass(frozen=True)
class ImportRow:
    number: int  # 1-based position among the rows of its kind
    data: Any
    line: int | None = None  # CSV: the line the row ends on


@dataclass(frozen=True)
class InventoryFile:
    devices: list[ImportRow]
    pools: list[ImportRow]


@dataclass(frozen=True)
class RowError:
    kind: str
    row: int
    line: int | None
    name: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.kind} row {self.row}" + (f" (line {self.line})" if self.line else "")
        named = f" '{self.name}'" if self.name else ""
        return f"{where}{named}: {self.message}"


@dataclass(frozen=True)
class ImportReport:
    devices: int
    pools: int
    errors: list[RowError]

    @property
    def summary(self) -> str:
        return (f"imported {self.devices} devices, {self.pools} pools; "
                f"{len(self.errors)} errors")


def _plain(value: Any) -> Any:
    """YAML dates and times as ISO text: custom properties are JSON values."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _rows(items: Any, what: str) -> list[ImportRow]:
    if not isinstance(items, list):
        raise UnreadableFile(f"{what} must be a list of objects")
    return [ImportRow(number=index + 1, data=item) for index, item in enumerate(items)]


def _from_document(document: Any, kind: str | None) -> InventoryFile:
    if isinstance(document, list):
        rows = _rows(document, "the file")
        return InventoryFile(devices=rows if kind != POOL else [],
                             pools=rows if kind == POOL else [])
    if isinstance(document, dict) and ({"devices", "pools"} & document.keys()):
        devices = _rows(document.get("devices", []), "devices") if kind != POOL else []
        pools = _rows(document.get("pools", []), "pools") if kind != DEVICE else []
        return InventoryFile(devices=devices, pools=pools)
    raise UnreadableFile('expected a list of objects, or {"devices": [...], "pools": [...]}')


def _csv_rows(text: str, kind: str) -> list[ImportRow]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise UnreadableFile("the CSV file has no header row")
    rows: list[ImportRow] = []
    for record in reader:
        data: dict[str, Any] = {}
        for key, value in record.items():
            if key is None:
                data[""] = "row has more cells than the header has names"
            elif isinstance(value, str) and value.strip() != "":
                data[key.strip()] = value.strip()
        if kind == POOL and isinstance(data.get("devices"), str):
            names = NAME_SEPARATORS.split(data["devices"])
            data["devices"] = [name.strip() for name in names if name.strip()]
        rows.append(ImportRow(number=len(rows) + 1, data=data, line=reader.line_num))
    return rows


def read_inventory_file(path: Path, kind: str | None = None) -> InventoryFile:
    """Parse `path` (by its extension); UnreadableFile if it cannot be used at all."""
    file_format = FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise UnreadableFile(f"unknown file type {path.suffix!r}: use .json, .csv, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableFile(str(error)) from error
    try:
        if file_format == "csv":
            rows = _csv_rows(text, kind or DEVICE)
            return InventoryFile(devices=rows if kind != POOL else [],
                                 pools=rows if kind == POOL else [])
        if file_format == "json":
            return _from_document(json.loads(text), kind)
        return _from_document(_plain(yaml.safe_load(text)), kind)
    except (ValueError, yaml.YAMLError, csv.Error) as error:
        raise UnreadableFile(f"cannot parse {path.name}: {error}") from error


def _errors(kind: str, rows: Sequence[ImportRow], report: SaveReport) -> list[RowError]:
    return [
        RowError(kind=kind, row=rows[failure.index].number, line=rows[failure.index].line,
                 name=failure.name, message=failure.error)
        for failure in report.failure
    ]


def _has_extra_cells(row: ImportRow) -> bool:
    """A CSV row with more cells than names is refused as it is (its data is unsure)."""
    return isinstance(row.data, dict) and "" in row.data


async def import_inventory(
    core: Core, instance: Instance, *, devices: Sequence[ImportRow] = (),
    pools: Sequence[ImportRow] = (),
) -> ImportReport:
    """Save the valid rows (devices first, in one transaction; then pools) and report the rest."""
    errors: list[RowError] = []
    counts: dict[str, int] = {}
    for kind, rows, save in ((DEVICE, devices, save_devices), (POOL, pools, save_pools)):
        usable: list[ImportRow] = []
        for row in rows:
            if _has_extra_cells(row):
                name = row.data.get("name")
                errors.append(RowError(kind, row.number, row.line,
                                       name if isinstance(name, str) else None, row.data[""]))
            else:
                usable.append(row)
        report = await save(core, instance, [row.data for row in usable])
        errors += _errors(kind, usable, report)
        counts[kind] = len(report.success)
    errors.sort(key=lambda error: (KINDS.index(error.kind), error.row))
    return ImportReport(devices=counts[DEVICE], pools=counts[POOL], errors=errors)
