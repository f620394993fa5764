#!/usr/bin/env bash
# The crash soak of tests/soak.rs, for longer: many clients send keyed commands to the real
# server while it is SIGKILLed at random moments and restarted on the same data directory.
# See "Nothing acknowledged lost, nothing recorded twice" in docs/RELIABILITY.md.
#
#   scripts/soak.sh [cycles] [seed]      (default: 200 cycles, a fresh seed)
#
# Prints one line per kill cycle and a summary (kill cycles survived, acknowledged commands,
# in-flight commands retried, lost = 0, duplicates = 0). Exits non-zero on any failure; the
# seed it prints replays the same delays and choices (STOCKTAKE_SOAK_SEED).
set -euo pipefail
cd "$(dirname "$0")/.."
export STOCKTAKE_SOAK_CYCLES="${1:-200}"
if [[ -n "${2:-}" ]]; then export STOCKTAKE_SOAK_SEED="$2"; fi
# The test starts the stocktake binary of its own profile (the test profile here, as in CI);
# build it first. PROFILE=release runs both optimised.
if [[ "${PROFILE:-}" == release ]]; then
  cargo build --release -p stocktake
  exec cargo test --release -p stocktake-tests --test soak -- --nocapture
fi
cargo build -p stocktake
exec cargo test -p stocktake-tests --test soak -- --nocapture
