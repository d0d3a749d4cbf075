#!/usr/bin/env bash
# The test command: installs what the tests need (idempotent, cached), then runs every test
# against real servers started by the suite on 127.0.0.1, plus formatting and lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-test-env.sh

# Cache the build beside the other slow artefacts so a fresh clone on this machine builds fast.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kgents-gate/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check
echo "==> cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --all-targets --quiet -- -D warnings
echo "==> cargo test" >&2
# One test binary at a time keeps the 2-core machine responsive; each binary shares one
# control plane (and other servers) between its tests.
cargo test --all-targets -- --test-threads="${KGENTS_GATE_TEST_THREADS:-4}"
