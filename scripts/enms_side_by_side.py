#!/usr/bin/env python3
"""Send one scripted sequence of eNMS REST requests to the real eNMS 4.7 and to runplane,
and write both answers side by side (a JSON file and a Markdown diff); with --record, also
write eNMS's normalised answers as the recording that tests/acceptance/test_enms_recording.py
replays on runplane.

The sequence, the normalisation and the comparison are tests/compat/enms_sequence.py.

    scripts/enms_install.sh GIT_DIR /work/enms-run          # once: eNMS and its venv
    .venv/bin/python scripts/enms_side_by_side.py --start-enms /work/enms-run --record

--start-enms RUN_DIR starts eNMS from an install of scripts/enms_install.sh on a fresh SQLite
file (user admin, password admin, made at first start) and stops it at the end;
--enms-url URL uses an eNMS already running (it must start empty: the sequence creates its
objects). runplane is always a fresh `runplane serve` on a temporary SQLite file (or
--runplane-url URL with --runplane-key KEY). A development tool, not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import Server, free_port  # noqa: E402
from tests.compat import enms_sequence as seq  # noqa: E402

RECORDING = ROOT / "tests" / "compat" / "enms_4_7" / "recording.json"


@contextmanager
def started_enms(run_dir: Path, workdir: Path) -> Iterator[str]:
    """eNMS from scripts/enms_install.sh's RUN_DIR on a fresh database; yields its URL."""
    port = free_port()
    env = {**os.environ, "SETUP_DIR": str(run_dir / "setup"), "FLASK_APP": "app.py",
           "DATABASE_URL": f"sqlite:///{workdir / 'enms.db'}"}
    log = open(workdir / "enms.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [str(run_dir / "venv" / "bin" / "flask"), "run", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=run_dir / "enms", env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # the first start creates the database
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"eNMS exited {process.returncode}: see {workdir}/enms.log")
            try:
                if httpx.get(f"{url}/rest/is_alive", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"eNMS not up after 300 s: see {workdir}/enms.log")
            time.sleep(1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()


def enms_commit(run_dir: Path | None, given: str | None) -> dict[str, str]:
    if given:
        return {"commit": given, "describe": "given on the command line"}
    if run_dir is None:
        return {"commit": "unknown", "describe": "unknown"}
    return {"commit": (run_dir / "COMMIT").read_text().strip(),
            "describe": (run_dir / "DESCRIBE").read_text().strip()}


def markdown(recorded: dict[str, Any], answered: dict[str, Any], found: list[str],
             source: dict[str, str]) -> str:
    lines = [
        "# eNMS beside runplane: the same requests",
        "",
        f"eNMS {source['describe']} (commit {source['commit']}); runplane at "
        f"{git_head()}. Answers normalised (tests/compat/enms_sequence.py).",
        "",
        f"## Differences ({len(found)})",
        "",
        *[f"- `{item}`" for item in found],
        "",
        "## Answers",
    ]
    steps = {step.name: step for step in seq.SEQUENCE}
    for name in [step.name for step in seq.SEQUENCE]:
        step = steps[name]
        lines += ["", f"### {name}: {step.method} {step.path}" + (
            f" (runplane only: {step.note or 'setup'})" if step.only else ""), ""]
        if step.body is not None:
            lines += ["request:", "```json", json.dumps(step.body, indent=1), "```"]
        for system, answers in (("eNMS", recorded), ("runplane", answered)):
            answer = answers.get(name)
            if answer is None:
                lines.append(f"{system}: not sent")
                continue
            lines += [f"{system}: {answer['status']}", "```json",
                      json.dumps(answer["body"], indent=1, sort_keys=True), "```"]
    return "\n".join(lines) + "\n"


def git_head() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


@contextmanager
def runplane_target(args: argparse.Namespace, workdir: Path) -> Iterator[seq.Target]:
    if args.runplane_url:
        yield seq.Target("runplane", args.runplane_url, "admin", args.runplane_key,
                         secrets=[args.runplane_key])
        return
    server = Server(args.executor, workdir)
    server.start()
    try:
        yield seq.Target("runplane", server.base_url, "admin", server.admin_key,
                         secrets=[server.admin_key])
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--start-enms", type=Path, metavar="RUN_DIR")
    where.add_argument("--enms-url")
    where.add_argument("--from-recording", action="store_true",
                       help="compare runplane with the committed recording (no eNMS)")
    parser.add_argument("--enms-user", default="admin")
    parser.add_argument("--enms-password", default="admin")
    parser.add_argument("--enms-commit", help="the commit of the eNMS at --enms-url")
    parser.add_argument("--runplane-url")
    parser.add_argument("--runplane-key", default="")
    parser.add_argument("--executor", default="fork")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "enms")
    parser.add_argument("--record", action="store_true",
                        help=f"write eNMS's normalised answers to {RECORDING.relative_to(ROOT)}")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="enms-side-by-side-") as scratch:
        workdir = Path(scratch)
        if args.from_recording:
            recording = json.loads(RECORDING.read_text())
            source, recorded = recording["enms"], recording["answers"]
        else:
            source = enms_commit(args.start_enms, args.enms_commit)
            with (started_enms(args.start_enms, workdir) if args.start_enms
                  else _given(args.enms_url)) as url:
                # "admin" is no secret (eNMS answers it as owner and creator): none replaced.
                enms = seq.Target("enms", url, args.enms_user, args.enms_password)
                recorded = seq.normalise_answers(seq.replay(enms))
        with runplane_target(args, workdir) as runplane:
            answered = seq.normalise_answers(seq.replay(runplane), runplane.secrets)

    found = seq.compare(recorded, answered)
    side_by_side = {"enms": source, "differences": found,
                    "answers": {name: {"enms": recorded.get(name), "runplane": answered.get(name)}
                                for name in [step.name for step in seq.SEQUENCE]}}
    (args.out / "side_by_side.json").write_text(json.dumps(side_by_side, indent=1) + "\n")
    (args.out / "side_by_side.md").write_text(markdown(recorded, answered, found, source))
    if args.record:
        RECORDING.write_text(json.dumps({
            "format": seq.RECORDING_FORMAT,
            "enms": source,
            "requests": [step.as_json() for step in seq.SEQUENCE if step.only in (None, "enms")],
            "answers": recorded,
        }, indent=1, sort_keys=False) + "\n")
        print(f"recorded {len(recorded)} answers in {RECORDING}")
    print(f"{len(found)} differences; side by side in {args.out}/side_by_side.md and .json")
    for item in found:
        print(" ", item)
    return 0


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    sys.exit(main())
