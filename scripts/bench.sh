#!/usr/bin/env bash
# The performance suite: `just bench` runs this. Release builds only.
#
#   scripts/bench.sh                 # the whole suite; writes docs/PERFORMANCE.md and docs/perf/results.json
#   scripts/bench.sh --scale 100 --skip projections,http --dry    # a quick look, nothing written
#
# Needs PostgreSQL 15's server binaries for the peer (installed here with apt-get when missing)
# and valgrind for the profile of a missed target (perf where hardware counters work).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "bench.sh: need root to run: $*" >&2
        return 1
    fi
}

pg_bin="${STOCKTAKE_PG_BIN:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$pg_bin/initdb" ]; then
    echo "bench.sh: PostgreSQL's binaries are missing; installing them (apt-get install -y postgresql)" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    if [ ! -x "$pg_bin/initdb" ]; then
        # Another Debian release ships another major version; use what it has.
        found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
        [ -n "$found" ] && pg_bin="$found"
    fi
fi
export STOCKTAKE_PG_BIN="$pg_bin"
# `perf stat` exits 0 on a VM without hardware counters too, saying `<not supported>`.
if ! command -v valgrind >/dev/null &&
    ! perf stat -e instructions true 2>&1 | grep -q '[0-9] *instructions'; then
    echo "bench.sh: installing valgrind for the profile of missed targets" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null || true
fi

# One directory for the run, on the disk STOCKTAKE_BENCH_DIR names (else the temp dir): every
# log the suite makes and the PostgreSQL peer's data, so both sides use the same disk, and a
# killed run leaves nothing behind. The suite itself stops the server when it finishes or fails.
run_dir="$(mktemp -d "${STOCKTAKE_BENCH_DIR:-${TMPDIR:-/tmp}}/stocktake-bench-XXXXXX")"
chmod 0755 "$run_dir" # the peer runs as `postgres` when the suite runs as root
export STOCKTAKE_BENCH_DIR="$run_dir"
pg_dir="$run_dir/pg"
mkdir "$pg_dir"
export STOCKTAKE_BENCH_PG_DIR="$pg_dir"
cleanup() {
    if [ -f "$pg_dir/data/postmaster.pid" ]; then
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
        else
            "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
        fi
    fi
    rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM

target="${CARGO_TARGET_DIR:-$root/target}"
export STOCKTAKE_BIN="$target/release/stocktake"
export STOCKTAKE_BENCH_COMMAND="${STOCKTAKE_BENCH_COMMAND:-scripts/bench.sh $*}"

# The server whose start-up is timed, then the suite (which runs the crates' benches itself).
cargo build --release -p stocktake
cargo run --release -p stocktake-bench -- "$@"
