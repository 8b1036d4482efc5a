"""Pool resolution over a large inventory: how long `resolve_targets` takes for one pool.

    .venv/bin/python -m bench.pool_resolution [--devices 100000] [--repeat 5] [--smoke]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--out FILE]

For each database (SQLite in a temporary file; PostgreSQL when reachable, in a database made
for the run and dropped after) it imports the inventory through the core (timed: the bulk
upsert), saves one pool per kind of filter, then times `resolve_targets(pools=[pool])` (which
answers full device records, as a run needs them) and the SQL alone (the pool read and its
members counted, no device materialised). It prints a table and writes every figure to
bench/results/pool_resolution.json. Target: <= 0.5 s per pool.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from runplane.core.context import Core, open_core
from runplane.core.instances import create as create_instance
from runplane.core.inventory import save_devices
from runplane.core.pools import get_pool, save_pool
from runplane.core.targets import resolve_targets
from runplane.model import Instance
from runplane.settings import Settings
from runplane.store.migrate import upgrade

TARGET_SECONDS = 0.5
VENDORS = ("Cisco", "Juniper", "Arista", "Nokia")
ROLES = ("core", "edge", "access", "lab")
POOLS: dict[str, dict[str, Any]] = {
    "vendor equality (25%)": {"device_vendor": "Cisco", "device_vendor_match": "equality"},
    "location inclusion (11%)": {"device_location": "site1"},
    "name regex (100 devices)": {"device_name": "^dev0000[0-9]{2}$",
                                 "device_name_match": "regex"},
    "custom property equality (2%)": {"device_rack": "r7", "device_rack_match": "equality"},
    "custom property regex, inverted (50%)": {
        "device_role": "^(core|edge)$", "device_role_match": "regex", "device_role_invert": True,
    },
    "two filters ANDed (6%)": {"device_vendor": "Juniper", "device_vendor_match": "equality",
                               "device_os_version": "15."},
    "all devices (empty match, inverted)": {"device_vendor_match": "empty",
                                            "device_vendor_invert": True},
    "manual, 1,000 members": {},
}


def device(index: int) -> dict[str, Any]:
    return {
        "name": f"dev{index:06d}", "ip_address": f"10.{index // 65536}.{index // 256 % 256}."
        f"{index % 256}", "vendor": VENDORS[index % 4], "model": f"m{index % 10}",
        "os_version": f"{15 + index % 3}.{index % 7}", "location": f"site{index % 100}",
        "port": 22, "rack": f"r{index % 50}", "role": ROLES[index % 4], "tier": index % 3,
    }


async def timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await action
    return time.perf_counter() - started, result


async def measure(core: Core, instance: Instance, count: int, repeat: int) -> dict[str, Any]:
    devices = [device(index) for index in range(count)]
    first = min(10_000, count)
    import_10k, _ = await timed(save_devices(core, instance, devices[:first]))
    import_rest, _ = await timed(save_devices(core, instance, devices[first:]))
    update_10k, _ = await timed(save_devices(
        core, instance, [{**item, "model": "changed"} for item in devices[:first]]
    ))
    rows = []
    for label, filters in POOLS.items():
        name = f"p{len(rows)}"
        if filters:
            await save_pool(core, instance, {"name": name, **filters})
        else:
            members = [item["name"] for item in devices[:: max(1, count // 1000)]][:1000]
            await save_pool(core, instance, {"name": name, "manually_defined": True,
                                             "devices": members})
        runs = []
        found = 0
        for _ in range(repeat):
            seconds, resolved = await timed(resolve_targets(
                core, instance, devices=[], pools=[name], ip_addresses=[], ignore_invalid=False
            ))
            runs.append(seconds)
            found = len(resolved.devices)
        counts = []
        for _ in range(repeat):
            count_seconds, view = await timed(get_pool(core, instance, name))
            counts.append(count_seconds)
        rows.append({
            "pool": label, "devices": found, "count_check": view.device_count,
            "resolve_median_s": round(statistics.median(runs), 4),
            "resolve_min_s": round(min(runs), 4), "resolve_max_s": round(max(runs), 4),
            # The SQL alone: the pool read and its members counted, no device materialised.
            "membership_sql_median_s": round(statistics.median(counts), 4),
            "met": statistics.median(runs) <= TARGET_SECONDS,
        })
    return {
        "inventory": count,
        "import_first_10k_s": round(import_10k, 3),
        f"import_next_{count - first}_s": round(import_rest, 3),
        "update_10k_s": round(update_10k, 3),
        "pools": rows,
    }


async def run_on(url: str, count: int, repeat: int) -> dict[str, Any]:
    upgrade(url)
    core = await open_core(Settings(database=url, workers=0))
    try:
        instance = await create_instance(core, None, {"name": "bench"})
        return await measure(core, instance, count, repeat)
    finally:
        await core.database.close()


def postgres_database(admin_url: str) -> tuple[str, str] | None:
    name = f"rp_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        return None
    return name, admin_url.rpartition("/")[0] + "/" + name


def drop_postgres(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def print_table(dialect: str, result: dict[str, Any]) -> None:
    print(f"\n{dialect}: {result['inventory']:,} devices; import first 10k "
          f"{result['import_first_10k_s']} s, update 10k {result['update_10k_s']} s")
    print(f"  {'pool':40} {'devices':>8} {'resolve s':>9} {'min s':>7} {'max s':>7} "
          f"{'SQL only s':>10}  target")
    for row in result["pools"]:
        print(f"  {row['pool']:40} {row['devices']:>8,} {row['resolve_median_s']:>9.4f} "
              f"{row['resolve_min_s']:>7.4f} {row['resolve_max_s']:>7.4f} "
              f"{row['membership_sql_median_s']:>10.4f}  {'met' if row['met'] else 'MISSED'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, help="the inventory (100,000; smoke 300)")
    parser.add_argument("--repeat", type=int, help="resolutions timed per pool (5; smoke 1)")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: every pool on both databases over a tiny inventory")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                              "pool_resolution.json"))
    args = parser.parse_args(argv)
    if args.devices is None:
        args.devices = 300 if args.smoke else 100_000
    if args.repeat is None:
        args.repeat = 1 if args.smoke else 5
    results: dict[str, Any] = {
        "smoke": args.smoke,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(),
                    # Other work on the machine inflates every figure: note how busy it was.
                    "load_average_at_start": [round(value, 2) for value in os.getloadavg()]},
        "target_seconds": TARGET_SECONDS,
    }
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        results["sqlite"] = asyncio.run(run_on(url, args.devices, args.repeat))
        print_table("sqlite", results["sqlite"])
    made = postgres_database(args.postgres)
    if made is None:
        results["postgresql"] = {"unavailable": f"no PostgreSQL at {args.postgres}"}
        print(f"\npostgresql: unavailable (no server at {args.postgres})")
    else:
        try:
            results["postgresql"] = asyncio.run(run_on(made[1], args.devices, args.repeat))
            print_table("postgresql", results["postgresql"])
        finally:
            drop_postgres(args.postgres, made[0])
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
