#!/usr/bin/env bash
# Builds the kgents-gate image as an OCI archive, without a container engine (scripts/oci_image.py
# says what is in it; the Containerfile builds the same layout for a registry).
#
#   bash scripts/build-image.sh [--binary PATH] [--tag REF] [--out FILE]
#
# Default: a release build of this checkout, tagged localhost/kgents-gate:VERSION, written to
# $CARGO_TARGET_DIR/kgents-gate-image.oci.tar. Import it with
#   ctr -n k8s.io images import FILE     (containerd)   or   podman load -i FILE
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
target="${CARGO_TARGET_DIR:-$HOME/.cache/kgents-gate/target}"
binary="" tag="localhost/kgents-gate:$version" out="$target/kgents-gate-image.oci.tar"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--tag NAME:TAG] [--out FILE]" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  CARGO_TARGET_DIR="$target" cargo build --release --locked --bin kgents-gate
  binary="$target/release/kgents-gate"
fi
[ -x "$binary" ] || { echo "not an executable: $binary" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# Stripped as the Containerfile strips it (a debug build shrinks several times).
strip -o "$work/kgents-gate" "$binary"
mkdir -p "$(dirname "$out")"
python3 scripts/oci_image.py "$work/kgents-gate" "$out" "$tag"
