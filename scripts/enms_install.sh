#!/usr/bin/env bash
# Install the real eNMS 4.7 (eNMS-automation/eNMS, v4.7.1-4) beside runplane, for
# scripts/enms_side_by_side.py. Development tool only: nothing of eNMS is committed.
#
#   scripts/enms_install.sh GIT_DIR [RUN_DIR]
#
# GIT_DIR is a bare git directory of eNMS (e.g. from `git clone --bare
# https://github.com/eNMS-automation/eNMS`); RUN_DIR (default /work/enms-run) receives
# the source tree (enms/), a Python 3.11 venv (venv/) and the configuration (setup/).
# Start it afterwards with scripts/enms_side_by_side.py --start-enms RUN_DIR, or by hand:
#   cd RUN_DIR/enms && SETUP_DIR=RUN_DIR/setup DATABASE_URL=sqlite:///RUN_DIR/enms.db \
#     FLASK_APP=app.py RUN_DIR/venv/bin/flask run --host 127.0.0.1 --port 8942
set -euo pipefail
GIT_DIR=${1:?usage: enms_install.sh GIT_DIR [RUN_DIR]}
RUN_DIR=${2:-/work/enms-run}
PYTHON=${PYTHON:-python3.11}
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)

# 1. The source tree (the snapshot may lack the example spreadsheets; they are not needed).
rm -rf "$RUN_DIR/enms" "$RUN_DIR/tmp-clone"
mkdir -p "$RUN_DIR/enms"
git --git-dir="$GIT_DIR" archive HEAD -- . ':(exclude)files/spreadsheets/*.xls' | tar -x -C "$RUN_DIR/enms"
# 2. eNMS reads its own commit at import (Repo(search_parent_directories=True)): make it a repo.
git clone -q --no-checkout --shared "$GIT_DIR" "$RUN_DIR/tmp-clone"
mv "$RUN_DIR/tmp-clone/.git" "$RUN_DIR/enms/.git"
rm -rf "$RUN_DIR/tmp-clone"
git --git-dir="$RUN_DIR/enms/.git" rev-parse HEAD > "$RUN_DIR/COMMIT"
git --git-dir="$RUN_DIR/enms/.git" describe --tags > "$RUN_DIR/DESCRIBE" 2>/dev/null || echo unknown > "$RUN_DIR/DESCRIBE"

# 3. The venv: eNMS's requirements, ruamel.yaml.clib (else 'no attribute CLoader'), and the
#    Flask 2 era pins (with Flask 3 / Werkzeug 3 every authenticated REST call is a 500).
[ -x "$RUN_DIR/venv/bin/python" ] || "$PYTHON" -m venv "$RUN_DIR/venv"
"$RUN_DIR/venv/bin/pip" install -q -r "$RUN_DIR/enms/build/requirements/requirements.txt"
"$RUN_DIR/venv/bin/pip" install -q ruamel.yaml.clib \
  flask==2.2.5 werkzeug==2.2.3 sqlalchemy==2.0.28 flask-wtf==1.2.1 wtforms==3.1.2

# 4. Configuration: no example inventory, no git repository cloned from the internet.
rm -rf "$RUN_DIR/setup"
cp -r "$RUN_DIR/enms/setup" "$RUN_DIR/setup"
"$RUN_DIR/venv/bin/python" - "$RUN_DIR/setup/settings.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    settings = json.load(f)
settings["app"]["startup_migration"] = "default"
settings["app"]["git_repository"] = ""
with open(path, "w") as f:
    json.dump(settings, f, indent=2)
PY
echo "eNMS $(cat "$RUN_DIR/DESCRIBE") ($(cat "$RUN_DIR/COMMIT")) installed in $RUN_DIR"
