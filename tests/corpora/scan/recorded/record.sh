#!/usr/bin/env bash
# Records the real pip-audit and Safety reports in this folder. Tools go to the test cache
# (~/.cache/kgents-gate), never into the repository. Run from anywhere; rerunning overwrites.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CACHE="${KGENTS_GATE_CACHE:-$HOME/.cache/kgents-gate}"

# pip-audit 2.10.1. --no-deps --disable-pip: audit exactly the pinned lines without a pip resolve
# (requests 2.19.0 pins urllib3<1.24, so a resolve of this file is impossible by design).
if [ ! -x "$CACHE/pip-audit-venv/bin/pip-audit" ]; then
  python3 -m venv "$CACHE/pip-audit-venv"
  "$CACHE/pip-audit-venv/bin/pip" install -q --disable-pip-version-check "pip-audit==2.10.1"
fi
# Run outside any git checkout: Safety records the git branch and commit of its working directory.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/requirements.txt" "$work/"
cd "$work"
"$CACHE/pip-audit-venv/bin/pip-audit" -r requirements.txt -f json --progress-spinner off \
  --no-deps --disable-pip -o "$here/pip-audit-2.10.1.json" || true

# Safety 2.1.1 against the open database that PyPI ships as safety-db 2021.7.17 (offline, no
# account). packaging<22: Safety 2.1 imports LegacyVersion, removed in packaging 22.
if [ ! -x "$CACHE/safety-2.1-venv/bin/safety" ]; then
  python3 -m venv "$CACHE/safety-2.1-venv"
  "$CACHE/safety-2.1-venv/bin/pip" install -q --disable-pip-version-check \
    "safety==2.1.1" "safety-db==2021.7.17" "packaging<22"
fi
db="$("$CACHE/safety-2.1-venv/bin/python" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("safety_db").origin))')"
"$CACHE/safety-2.1-venv/bin/safety" check -r requirements.txt --db "$db" --output json \
  > safety-raw.json || true
# The database's advisory texts are CC BY-NC-SA 4.0: blank them, keep everything else as written
# (Safety writes json.dumps(..., indent=4), so re-serialising the same way changes nothing else).
python3 - safety-raw.json "$here/safety-2.1.1.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for v in report["vulnerabilities"] + report["ignored_vulnerabilities"]:
    v["advisory"] = "(advisory text of safety-db removed: CC BY-NC-SA 4.0)"
open(sys.argv[2], "w").write(json.dumps(report, indent=4) + "\n")
PY
