#!/usr/bin/env bash
# The benchmark (BENCHMARKS.md): a release build of kgents-gate against seeded synthetic
# clusters (scripts/synth.py, sizes S, M, L) and the np-guard corpora, with the peers installed
# from PyPI and run on the same inputs in the same run. Prints wall time and peak memory of each
# task and the ratios, checks that the audit's verdicts are the ones recorded in
# benches/verdicts.sha256, and that the peers' answers agree (scripts/bench_compare.py).
#
#   bash scripts/bench.sh             # everything
#   BENCH_SIZES="S M" bash scripts/bench.sh
#   bash scripts/bench.sh --record    # record the verdict digests (after a deliberate change)
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${KGENTS_GATE_CACHE:-$HOME/.cache/kgents-gate}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
BENCH="$CACHE/bench"
TOOLS="$CACHE/bench-tools"
SIZES="${BENCH_SIZES:-S M L}"
RECORD=0
[ "${1:-}" = "--record" ] && RECORD=1
mkdir -p "$BENCH" "$TOOLS"

echo "==> release build" >&2
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/kgents-gate"

echo "==> peers from PyPI" >&2
if [ ! -x "$TOOLS/nca/bin/nca" ]; then
  python3 -m venv "$TOOLS/nca" && "$TOOLS/nca/bin/pip" install -q --disable-pip-version-check network-config-analyzer==2.1.0
fi
if [ ! -x "$TOOLS/ds/bin/detect-secrets" ]; then
  python3 -m venv "$TOOLS/ds" && "$TOOLS/ds/bin/pip" install -q --disable-pip-version-check detect-secrets==1.5.0
fi

echo "==> synthetic snapshots" >&2
GEN=$(sha256sum scripts/synth.py | cut -c1-12)
snap() { echo "$BENCH/$1-$GEN"; }
for s in $SIZES; do
  [ -d "$(snap "$s")" ] || python3 scripts/synth.py "$s" "$(snap "$s")"
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
RESULTS="$TMP/results"
: > "$RESULTS"
# measure NAME CMD...: wall seconds and peak RSS (MB) of one run, appended to RESULTS.
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" || true
  read -r wall kb < <(tail -n 1 "$TMP/time")
  printf '%s %s %s\n' "$name" "$wall" "$((kb / 1024))" >> "$RESULTS"
  printf '  %-28s %8.2f s %8d MB\n' "$name" "$wall" "$((kb / 1024))" >&2
}

# Fixed date and no terminal: the verdicts depend on the inputs only.
export KGENTS_GATE_TODAY=2026-12-01 NO_COLOR=1
echo "==> offline audit" >&2
for s in $SIZES; do
  d=$(snap "$s")
  rm -rf "$TMP/out-$s"
  measure "audit-$s" "$BIN" audit --checklist "$d/checklist.toml" --manifests "$d/manifests" --offline \
    --format json --out-dir "$TMP/out-$s" --timeout 1h --item-timeout 1h
  digest=$(python3 scripts/bench_compare.py verdicts "$TMP/out-$s/kgents-gate-report.json")
  if [ "$RECORD" = 1 ]; then
    grep -v "^$s " benches/verdicts.sha256 > "$TMP/v" 2>/dev/null || true
    echo "$s $digest" >> "$TMP/v"; sort "$TMP/v" > benches/verdicts.sha256
  elif grep -q "^$s " benches/verdicts.sha256; then
    want=$(grep "^$s " benches/verdicts.sha256 | cut -d' ' -f2)
    [ "$digest" = "$want" ] || { echo "bench: the verdicts on $s changed ($digest, recorded $want)" >&2; exit 1; }
    echo "  verdicts on $s: identical to the recorded ones" >&2
  fi
done

if echo "$SIZES" | grep -q M; then
  d=$(snap M)
  echo "==> credential scan of the M ConfigMaps" >&2
  measure "secrets-scan-M" "$BIN" secrets scan --manifests "$d/configmaps.yaml" --format json
  cp "$TMP/secrets-scan-M.out" "$TMP/ours.json"
  # detect-secrets reports nothing for files given by absolute path outside the working
  # directory: it is run from the snapshot, on the relative path.
  measure "detect-secrets-M" env -C "$d" "$TOOLS/ds/bin/detect-secrets" scan --all-files configmaps
  cp "$TMP/detect-secrets-M.out" "$TMP/theirs.json"
  python3 scripts/bench_compare.py secrets "$TMP/ours.json" "$TMP/theirs.json" "$d/configmaps" >&2
fi

echo "==> workload readiness beside checkov" >&2
CHECKOV="$CACHE/checkov"
[ -d "$CHECKOV/checkov" ] || bash scripts/setup-test-env.sh >&2
CHECKOV_SIZES=${BENCH_CHECKOV_SIZES:-S M}
for s in $SIZES; do
  d=$(snap "$s")
  measure "workloads-$s" "$BIN" audit --checklist "$d/checklist.toml" --manifests "$d/manifests" --offline \
    --only resources.workloads --format json --out-dir "$TMP/wl-$s" --timeout 1h --item-timeout 1h
  if echo "$CHECKOV_SIZES" | grep -qw "$s"; then
    measure "checkov-$s" env PYTHONPATH="$CHECKOV" python3 -m checkov.main -d "$d/manifests" --framework kubernetes \
      --quiet --compact -o json --check CKV_K8S_8,CKV_K8S_9,CKV_K8S_10,CKV_K8S_11,CKV_K8S_12,CKV_K8S_13,CKV_K8S_14,CKV_K8S_43
  fi
done

echo "==> NetworkPolicy connectivity of the np-guard corpora" >&2
CORPUS=tests/corpora/netpol/np-guard-netpol-analyzer
mkdir -p "$TMP/matrix-ours" "$TMP/matrix-nca"
# The corpus name by parameter expansion: no process is started besides the tool itself.
ours() { for c in "$CORPUS"/*/; do n=${c%/}; n=${n##*/}; "$BIN" netpol matrix --manifests "$c/input" --format text > "$TMP/matrix-ours/$n.txt" 2>/dev/null || true; done; }
theirs() { for c in "$CORPUS"/*/; do n=${c%/}; n=${n##*/}; "$TOOLS/nca/bin/nca" --connectivity -r "$c/input" -o txt_no_fw_rules > "$TMP/matrix-nca/$n.txt" 2>/dev/null || true; done; }
export -f ours theirs; export BIN TOOLS CORPUS TMP
measure "netpol-matrix-38" bash -c ours
measure "nca-connectivity-38" bash -c theirs
python3 scripts/bench_compare.py matrix "$TMP/matrix-ours" "$TMP/matrix-nca" >&2

echo "==> results" >&2
python3 scripts/bench_compare.py table "$RESULTS"
