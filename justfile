# Stocktake's everyday commands. A convenience only: each recipe is plain cargo commands or a script.

# Serve the demo plan on http://127.0.0.1:8080 (token in stocktake-data/director.token).
run:
    cargo run --release -p stocktake -- serve --demo

# Load the demo journey into a fresh data directory.
demo dir="stocktake-data":
    cargo run --release -p stocktake -- demo --data-dir {{dir}}

# Every test: unit, property, end-to-end, crash.
test:
    cargo test --workspace

lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

fmt:
    cargo fmt --all

# The performance suite (release): limits, the log, a PostgreSQL peer side by side, growth to
# 1M events, projections and HTTP benches; writes docs/PERFORMANCE.md and docs/perf/results.json.
bench *args:
    STOCKTAKE_BENCH_COMMAND="just bench {{args}}" scripts/bench.sh {{args}}
