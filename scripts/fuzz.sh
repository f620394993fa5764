#!/usr/bin/env bash
# Fuzzes Stocktake's three input boundaries for a fixed time each and prints executions per
# target. See "Fuzzing and an outside client" in docs/RELIABILITY.md.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default: 60 s; command envelope import)
#
# Targets (fuzz/fuzz_targets/, bodies in fuzz/src/lib.rs):
#   command   bytes -> JSON -> Command (as the gateway reads it) -> deciders on a fixed plan
#   envelope  bytes -> StoredEvent -> the domain upcaster -> projections' envelope decoding
#   import    bytes -> Log::import into an empty log (a refused file must leave it empty)
#
# Needs cargo-fuzz (installed from crates.io when missing) and a nightly toolchain for
# libFuzzer's instrumentation flags; without nightly it uses the stable toolchain with
# RUSTC_BOOTSTRAP=1. The sanitizer is off by default (the code under test is safe Rust and we
# look for panics); FUZZ_SANITIZER=address turns AddressSanitizer on. Debug assertions and
# overflow checks are on, so an arithmetic overflow is a crash too.
#
# Seeds are regenerated on every run into fuzz/corpus/<target> (git-ignored; the corpus grows
# across runs): the JSON examples of docs/EVENTS.md, an export of the demo journey, and the
# inputs of bugs found before (fuzz/regressions/<target>/).
# Exits non-zero if any target finds a crash; the input is kept in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(command envelope import); fi
sanitizer=${FUZZ_SANITIZER:-none}

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    echo "no nightly toolchain: using stable with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

echo "== seeds"
cargo build -p stocktake --quiet
bin="${CARGO_TARGET_DIR:-$root/target}/debug/stocktake"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" demo --data-dir "$work/demo" >/dev/null 2>&1
"$bin" export --data-dir "$work/demo" --out "$work/demo.jsonl" 2>/dev/null
python3 - "$root" "$work/demo.jsonl" <<'PY'
import json, re, sys, hashlib, pathlib
root, export = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
corpus = root / "fuzz" / "corpus"
def seed(target, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    data = data.encode() if isinstance(data, str) else data
    (d / ("seed-" + hashlib.sha1(data).hexdigest())).write_bytes(data)
catalogue = (root / "docs" / "EVENTS.md").read_text()
examples = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", catalogue, re.S)]
commands = [e for e in examples if e.get("type", "").islower()]
events = [e for e in examples if e.get("type", "")[:1].isupper()]
for c in commands:
    seed("command", json.dumps(c))
    seed("command", json.dumps(dict(c, effective_at="2018-07-24")))
seed("command", json.dumps(commands))
lines = export.read_text().splitlines()
first = json.loads(lines[0])
for e in events:
    seed("envelope", json.dumps(dict(first, type=e["type"], data=e["data"]), separators=(",", ":")))
for line in lines[:: max(1, len(lines) // 40)]:
    seed("envelope", line)
for n in (1, 2, 5, 20, 60):
    seed("import", "".join(l + "\n" for l in lines[:n]))
seed("import", export.read_text())
for kept in (root / "fuzz" / "regressions").glob("*/*"):
    seed(kept.parent.name, kept.read_bytes())
print(f"{len(commands)} commands, {len(events)} events, demo export of {len(lines)} lines")
PY

status=0
declare -A execs
declare -A outcome
for target in "${targets[@]}"; do
    echo "== fuzz $target for ${seconds}s (sanitizer: $sanitizer)"
    log="$work/$target.log"
    # The fuzz workspace builds into fuzz/target, never into the main workspace's target dir.
    if (cd fuzz && unset CARGO_TARGET_DIR && cargo "${toolchain[@]}" fuzz run --sanitizer "$sanitizer" --debug-assertions "$target" \
        "corpus/$target" -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1) \
        >"$log" 2>&1; then
        outcome[$target]=ok
    else
        outcome[$target]=FAILED
        status=1
        tail -n 60 "$log"
    fi
    execs[$target]=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    grep -E '^#[0-9]+.*DONE' "$log" || tail -n 3 "$log"
done

echo "== summary (${seconds}s each)"
printf '%-10s %14s  %s\n' target executions result
for target in "${targets[@]}"; do
    printf '%-10s %14s  %s\n' "$target" "${execs[$target]}" "${outcome[$target]}"
done
exit $status
