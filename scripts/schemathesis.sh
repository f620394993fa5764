#!/usr/bin/env bash
# An outside client: schemathesis generates requests from the served OpenAPI document
# (/api/v1/openapi.json) and checks every response against it. See "Fuzzing and an outside
# client" in docs/RELIABILITY.md.
#
#   scripts/schemathesis.sh [max-examples-per-operation]      (default 100)
#
# Installs schemathesis 4 from PyPI into a virtualenv when missing ($SCHEMATHESIS_VENV,
# default schemathesis-venv in the cargo target directory), builds the binary (debug), serves the demo journey from
# a temporary data directory on a free port with its director token, runs schemathesis, stops
# the server. Exits non-zero when schemathesis finds a failure or the server does not start.
# The live event stream (/api/v1/events/stream) is left out: it never ends, by design.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
examples=${1:-100}
venv=${SCHEMATHESIS_VENV:-${CARGO_TARGET_DIR:-$root/target}/schemathesis-venv}
checks=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance

if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "== installing schemathesis into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4.3,<5'
fi
"$venv/bin/schemathesis" --version

echo "== building stocktake"
cargo build -p stocktake --quiet
bin="${CARGO_TARGET_DIR:-$root/target}/debug/stocktake"

work=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== serving the demo"
RUST_LOG=warn "$bin" serve --demo --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
server=$!
base=
for _ in $(seq 1 600); do
    base=$(sed -n 's/^Stocktake is listening on //p' "$work/serve.log" | head -n 1)
    if [ -n "$base" ]; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then break; fi
    sleep 0.2
done
if [ -z "$base" ]; then
    echo "stocktake serve did not start:" >&2
    cat "$work/serve.log" >&2
    exit 1
fi
token=$(cat "$work/data/director.token")
echo "serving $base"

echo "== schemathesis ($examples examples per operation; checks: $checks)"
status=0
(cd "$work" && "$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks "$checks" \
    --max-examples "$examples" \
    --exclude-path /api/v1/events/stream \
    --request-timeout 30 \
    --workers 2 \
    --seed "${SCHEMATHESIS_SEED:-20170920}" \
    --no-color) || status=$?

if ! kill -0 "$server" 2>/dev/null; then
    echo "the server died during the run:" >&2
    tail -n 40 "$work/serve.log" >&2
    status=1
fi
if grep -q "panicked" "$work/serve.log"; then
    echo "the server panicked:" >&2
    grep -A5 "panicked" "$work/serve.log" >&2
    status=1
fi
exit $status
