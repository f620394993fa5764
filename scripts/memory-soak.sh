#!/usr/bin/env bash
# Steady load on the real server for a while, sampling its resident memory, to show it does
# not grow without bound. See "Memory under steady load" in docs/RELIABILITY.md.
#
#   scripts/memory-soak.sh [seconds] [clients]      (default: 600 s, 8 clients)
#
# Each client loops over: read the plan overview, an action's history, a page of events;
# replay a keyed command (answered from the log, appends nothing); send a command a rule
# refuses (appends nothing); and every 10th round record one new progress note (the log, and
# with it the in-memory read models, grow by one event). RSS is sampled every 30 s with the
# number of events in the log, so growth can be told apart: read models grow with the log by
# design; anything else would be a leak. MEMORY_SOAK_WRITE_EVERY=N records the new note every
# Nth round instead (0: never, so the log keeps its length and memory must level off).
# Needs curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL="${1:-600}"
CLIENTS="${2:-8}"
WRITE_EVERY="${MEMORY_SOAK_WRITE_EVERY:-10}"
# STOCKTAKE_BIN runs a binary already built (any profile); otherwise a release build.
BIN="${STOCKTAKE_BIN:-}"
if [[ -z "$BIN" ]]; then
  cargo build --release -p stocktake
  BIN="${CARGO_TARGET_DIR:-target}/release/stocktake"
fi
DATA="$(mktemp -d)"
trap 'kill "${PIDS[@]}" 2>/dev/null || true; kill "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
PIDS=()
OUT="$DATA/serve.out"
RUST_LOG=warn "$BIN" serve --data-dir "$DATA/data" --listen 127.0.0.1:0 >"$OUT" 2>"$DATA/serve.err" &
SERVER=$!
for _ in $(seq 1 600); do
  grep -q 'Stocktake is listening on' "$OUT" 2>/dev/null && break
  sleep 0.1
done
BASE="$(sed -n 's/^Stocktake is listening on //p' "$OUT")"
API="$BASE/api/v1"
TOKEN="$(cat "$DATA/data/director.token")"
AUTH="Authorization: Bearer $TOKEN"
post() { curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" -H 'Content-Type: application/json' "$@" "$API/commands"; }

PLAN=$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)
AREA=$(cat /proc/sys/kernel/random/uuid)
ACTION=$(cat /proc/sys/kernel/random/uuid)
post -d "{\"type\":\"create_plan\",\"plan_id\":\"$PLAN\",\"title\":\"Memory soak\",\"organisation\":\"Croydon\"}" >/dev/null
post -d "{\"type\":\"add_priority_area\",\"plan_id\":\"$PLAN\",\"area_id\":\"$AREA\",\"number\":1,\"title\":\"Staff\",\"lead\":\"Head of Workforce\"}" >/dev/null
post -d "{\"type\":\"add_action\",\"action_id\":\"$ACTION\",\"plan_id\":\"$PLAN\",\"area_id\":\"$AREA\",\"title\":\"Recruit\",\"owner\":\"Head of Workforce\",\"due_on\":\"2030-01-31\"}" >/dev/null
post -d "{\"type\":\"change_action_status\",\"action_id\":\"$ACTION\",\"status\":\"in_progress\",\"rag\":\"green\"}" >/dev/null
post -H 'Idempotency-Key: memory-soak-replayed' -d "{\"type\":\"record_progress\",\"action_id\":\"$ACTION\",\"note\":\"replayed\"}" >/dev/null

END=$(( $(date +%s) + SECONDS_TOTAL ))
client() {
  local i=0
  while [[ $(date +%s) -lt $END ]]; do
    i=$((i + 1))
    curl -s -o /dev/null -H "$AUTH" "$API/plans/$PLAN"
    curl -s -o /dev/null -H "$AUTH" "$API/actions/$ACTION/history"
    curl -s -o /dev/null -H "$AUTH" "$API/events?after=0&limit=100"
    post -H 'Idempotency-Key: memory-soak-replayed' -d "{\"type\":\"record_progress\",\"action_id\":\"$ACTION\",\"note\":\"replayed\"}" >/dev/null
    post -d "{\"type\":\"reopen_action\",\"action_id\":\"$ACTION\",\"reason\":\"refused: it is open\"}" >/dev/null
    if (( WRITE_EVERY > 0 && i % WRITE_EVERY == 0 )); then
      post -d "{\"type\":\"record_progress\",\"action_id\":\"$ACTION\",\"note\":\"client $1 round $i\"}" >/dev/null
    fi
  done
}
for c in $(seq 1 "$CLIENTS"); do client "$c" & PIDS+=($!); done

rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
events() { curl -s "$BASE/healthz" | jq '.log.last_seq'; }
requests() { curl -s "$BASE/metrics" | awk '/^stocktake_http_requests_total/ {s += $NF} END {print s + 0}'; }
printf '%8s %10s %10s %12s\n' seconds rss_kib events requests
START=$(date +%s)
FIRST=""
while [[ $(date +%s) -lt $END ]]; do
  NOW=$(( $(date +%s) - START ))
  R=$(rss); E=$(events); Q=$(requests)
  [[ -z "$FIRST" ]] && FIRST=$R
  printf '%8s %10s %10s %12s\n' "$NOW" "$R" "$E" "$Q"
  sleep 30
done
wait "${PIDS[@]}" 2>/dev/null || true
R=$(rss); E=$(events); Q=$(requests)
printf '%8s %10s %10s %12s\n' "$(( $(date +%s) - START ))" "$R" "$E" "$Q"
echo "rss first ${FIRST} KiB, last ${R} KiB; ${E} events; ${Q} requests"
