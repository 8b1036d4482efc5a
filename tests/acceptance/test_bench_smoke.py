"""Every benchmark the README names runs: `python -m bench.X --smoke` as a subprocess, exit 0,
and the JSON it wrote has every row with figures that make sense (the figures themselves,
on tiny sizes and a shared machine, decide nothing)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import admin_url, in_ci

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def smoke(module: str, out: Path, *args: str) -> dict[str, Any]:
    """`python -m <module> --smoke --out <out> ARGS`, its JSON (the module named in full, as
    the README names it)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RUNPLANE_")}
    done = subprocess.run(
        [sys.executable, "-m", module, "--smoke", "--out", str(out), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def sane_ms(value: float) -> bool:
    return 0 < value < 60_000


def check_latency(figures: dict[str, Any], calls: int) -> None:
    assert (figures["calls"], figures["errors"]) == (calls, 0), figures
    assert sane_ms(figures["p50_ms"]) and figures["p50_ms"] <= figures["p99_ms"], figures


def test_every_benchmark_the_readme_names_has_a_smoke_test() -> None:
    named = set(re.findall(r"python -m bench\.([a-z_]+)", (ROOT / "README.md").read_text()))
    tested = {name.removeprefix("test_bench_").removesuffix("_smoke")
              for name in globals() if name.startswith("test_bench_")}
    assert named and named <= tested


def test_bench_run_smoke(tmp_path: Path) -> None:
    document = smoke("bench.run", tmp_path / "run.json")
    results = document["results"]
    assert document["smoke"] is True and list(results) == ["fork", "spawn", "celery"]
    for executor in ("fork", "spawn"):
        row = results[executor]
        assert row["available"] is True and row["error"] is False, row
        check_latency(row["sync"], 10)
        assert (row["async"]["runs"], row["async"]["failures"]) == (20, 0)
        assert row["async"]["runs_per_s"] > 0 and 0 < row["peak_rss_mb"] < 2000
    memory = results["fork"]["memory"]
    assert [sample["runs"] for sample in memory["samples"]] == [32, 52]
    assert memory["failures_of_extra_runs"] == 0 and memory["error"] is None
    celery = results["celery"]
    if not celery["available"] and not in_ci() and not redis_reachable():
        assert "Redis" in celery["reason"]  # no local Redis here: the row says so
        return
    assert celery["available"] is True, celery
    check_latency(celery["sync"], 10)
    assert (celery["async"]["runs"], celery["async"]["failures"]) == (20, 0)


def test_bench_run_confinement_rows_smoke(tmp_path: Path) -> None:
    # The README's command for what confinement costs: the same executor with runs confined
    # (the default) and unconfined, side by side.
    document = smoke("bench.run", tmp_path / "confine.json", "--executors",
                     "fork,fork-unconfined", "--no-celery", "--memory-executors", "")
    assert list(document["results"]) == ["fork", "fork-unconfined"]
    for row in document["results"].values():
        assert row["available"] is True and row["error"] is False, row
        check_latency(row["sync"], 10)


def test_bench_services_smoke(tmp_path: Path) -> None:
    document = smoke("bench.services", tmp_path / "services.json")
    assert document["plan"]["smoke"] is True
    for executor in ("fork", "spawn"):
        row = document["results"][executor]
        assert row["available"] is True, row
        check_latency(row["sync"]["script_door"], 10)
        check_latency(row["sync"]["service_door"], 10)
        fan_out = row["fan_out"]
        assert fan_out["stopped_at_time_limit"] is False, fan_out
        assert (fan_out["devices"], fan_out["finished"], fan_out["succeeded"],
                fan_out["failed"]) == (20, 20, 20, 0)
        assert fan_out["targets_per_s"] > 0
    assert len(document["targets"]) == 6


def test_bench_batch_smoke(database_url: str, tmp_path: Path) -> None:
    # On SQLite as the README runs it (a temporary file of its own); on PostgreSQL in a
    # database with no key yet, so that its server's first start prints one.
    database = database_url.split(":")[0]
    args = ("--database", database_url) if database == "postgresql" else ()
    document = smoke("bench.batch", tmp_path / "batch.json", *args)
    assert document["database"] == database
    assert document["cases"].keys() == {"device.create", "script.run"}
    for case, jobs in (("device.create", 20), ("script.run", 10)):
        row = document["cases"][case]
        assert (row["jobs"], row["job_errors"]) == (jobs, 0), row
        assert 0 < row["callback_s"] < 120 and row["jobs_per_s"] > 0


def test_bench_pool_resolution_smoke(tmp_path: Path) -> None:
    document = smoke("bench.pool_resolution", tmp_path / "pools.json", "--postgres", admin_url())
    dialects = ["sqlite", "postgresql"]
    if "unavailable" in document["postgresql"] and not in_ci():
        dialects = ["sqlite"]  # no PostgreSQL here; CI has one
    for dialect in dialects:
        result = document[dialect]
        assert result["inventory"] == 300
        pools = {row["pool"]: row for row in result["pools"]}
        assert len(pools) == 8
        for row in pools.values():
            assert row["devices"] == row["count_check"] > 0, row
            assert 0 < row["resolve_median_s"] < 60
        assert pools["name regex (100 devices)"]["devices"] == 100
        assert pools["all devices (empty match, inverted)"]["devices"] == 300


def test_bench_regex_stall_smoke(database_url: str, tmp_path: Path) -> None:
    # On SQLite as the README runs it; on PostgreSQL in a database with no key yet.
    database = database_url.split(":")[0]
    args = ("--database-url", database_url) if database == "postgresql" else ()
    document = smoke("bench.regex_stall", tmp_path / "regex_stall.json", *args)
    assert (document["database"], document["smoke"]) == (database, True)
    measured = document["measured"]
    for phase in ("baseline", "during"):
        figures = measured["tenant_b"][phase]
        assert figures.keys() == {"script_get", "sync_run"}
        for kind in figures.values():
            check_latency(kind, 10)
    lengths = document["plan"]["lengths"]
    assert 25 in lengths and 10_000 in lengths
    assert measured["tenant_a"].keys() == {f"{kind}_L{length}" for length in lengths
                                           for kind in ("pool_get", "search")}
    assert measured["tenant_a_passes"] >= 1
    for figures in measured["tenant_a"].values():
        assert figures["errors"] == 0 and figures["calls"] >= 1, figures
        assert sane_ms(figures["p50_ms"]), figures
    timed = [row for row in document["in_process"] if row["python_re_s"] is not None]
    assert [row["length"] for row in timed] == document["plan"]["python_lengths"]
    assert all(row["python_re_s"] > 0 and row["re2_s"] > 0 for row in timed)


def test_bench_keepalive_smoke(tmp_path: Path) -> None:
    document = smoke("bench.keepalive", tmp_path / "keepalive.json")
    assert set(document["rows"]) == {"keep_alive_5s", "keep_alive_75s"}
    for row in document["rows"].values():
        assert row["requests"] == 60, row
        # Pauses of at most 0.2 s: far from either keep-alive, so no reset.
        assert row["resets"] == 0, row["reset_requests"]
        assert sum(row["answers"].values()) == 60, row["answers"]
        assert all(answer.endswith((" 200", " 404")) for answer in row["answers"]), row


def test_bench_ab_smoke(tmp_path: Path) -> None:
    """Old against new, here with this checkout on both sides: every round of each side is
    kept and each figure shown has both medians."""
    out = tmp_path / "ab.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.ab", "--old", str(ROOT), "--new", str(ROOT), "--smoke",
         "--out", str(out), "pool_resolution"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    document = json.loads(out.read_text())
    assert document["rounds"] == 1
    assert len(document["old_rounds"]) == len(document["new_rounds"]) == 1
    shown = {row["figure"]: row for row in document["figures"]}
    assert "sqlite.update_10k_s" in shown and not any("target" in name for name in shown)
    row = shown["sqlite.update_10k_s"]
    assert row["old"] > 0 and row["new"] > 0
    assert abs(row["new_over_old"] - row["new"] / row["old"]) < 1e-9
