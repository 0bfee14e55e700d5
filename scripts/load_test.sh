#!/usr/bin/env bash
# Load and soak tests of `embed serve` (release build) on loopback. Bounded: every run stops by
# itself. Run it on a quiet machine; on a shared one, under `nice -n 19`.
#
#   scripts/load_test.sh load [SECONDS_PER_LEVEL] [CONCURRENCIES]   default: 15 "1 8 32 128"
#   scripts/load_test.sh soak [SECONDS] [CONCURRENCY] [RSS_BOUND_MIB] default: 600 16 800
#
# load: wrk (Debian's `wrk` package) sends single-text /v1/embeddings requests of mixed lengths
#   (1 to 250 words) at each concurrency for a fixed time, and prints one table row per level:
#   requests/s, latency percentiles, responses by status and socket errors. The queue is capped
#   (--max-queued-inputs 64, --max-inputs-per-request 64) so the highest level is above capacity: there, 429 is the only
#   error allowed. A level with any other status or a socket error fails the run.
# soak: the checking client (crates/embed-server/examples/load.rs --url) sends requests of 1 to
#   8 texts of mixed lengths to the three embedding endpoints for SECONDS, compares every
#   vector with the library's vector for its text, and samples the server's resident memory
#   (VmRSS) every 10 s; it fails on any wrong vector, any status but 200/429, or RSS above
#   RSS_BOUND_MIB.
#
# Both run the server with its embedding cache off (--cache-size 0), so every request is
# computed. Environment: MODEL_CACHE_DIR as for the tests; EMBED_LOAD_PORT (default 18080).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-load}"
port="${EMBED_LOAD_PORT:-18080}"
base="http://127.0.0.1:$port"
workdir="$(mktemp -d)"
server_pid=""

cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

start_server() {
  target/release/embed serve --port "$port" --cache-size 0 --log-level warn "$@" 2>"$workdir/server.log" &
  server_pid=$!
  for _ in $(seq 1 600); do
    if curl -fsS "$base/health" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$workdir/server.log" >&2
      echo "the server exited before becoming healthy" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "the server did not become healthy in 60 s" >&2
  exit 1
}

stop_server() {
  kill -TERM "$server_pid"
  local code=0
  wait "$server_pid" || code=$?
  server_pid=""
  if [[ "$code" != 0 ]]; then
    cat "$workdir/server.log" >&2
    echo "the server exited with $code after SIGTERM" >&2
    exit 1
  fi
}

rss_mib() {
  awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

write_wrk_script() {
  cat >"$workdir/embed.lua" <<'LUA'
-- Single-text /v1/embeddings requests of mixed lengths; counts responses by status.
local words = { "rust", "embeds", "text", "quickly", "vectors", "feed", "search", "and", "clustering", "today" }
local lengths = { 1, 8, 30, 90, 250 }
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  counter = id * 100003
end

function request()
  counter = counter + 1
  local n = lengths[counter % #lengths + 1]
  local parts = { "request", tostring(counter) }
  for w = 1, n do
    parts[#parts + 1] = words[(counter + w) % #words + 1]
  end
  local body = '{"input":"' .. table.concat(parts, " ") .. '"}'
  return wrk.format("POST", "/v1/embeddings", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      codes[status] = (codes[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(codes) do
    parts[#parts + 1] = status .. ":" .. count
  end
  table.sort(parts)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT %d %.1f %.1f %.1f %.1f %.1f %.1f %s %d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, table.concat(parts, ","), e.connect + e.read + e.write + e.timeout))
end
LUA
}

run_load() {
  local seconds="${1:-15}"
  local levels="${2:-1 8 32 128}"
  command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
  cargo build --release --quiet -p embed-cli
  write_wrk_script
  start_server --max-queued-inputs 64 --max-inputs-per-request 64
  echo "rss after warm-up: $(rss_mib "$server_pid") MiB"
  echo
  echo "| concurrency | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | responses by status | socket errors |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
  local failed=0
  for c in $levels; do
    local threads=$((c < 2 ? c : 2))
    local line
    line="$(wrk -t "$threads" -c "$c" -d "${seconds}s" --timeout 30s -s "$workdir/embed.lua" "$base" | grep '^RESULT')"
    read -r _ requests secs rps p50 p90 p99 max statuses errors <<<"$line"
    echo "| $c | $requests | $rps | $p50 | $p90 | $p99 | $max | $statuses | $errors |"
    if [[ "$errors" != 0 ]] || tr ',' '\n' <<<"$statuses" | grep -qvE '^(200|429):'; then
      failed=1
    fi
  done
  echo
  echo "rss at the end: $(rss_mib "$server_pid") MiB"
  stop_server
  if [[ "$failed" != 0 ]]; then
    echo "FAILED: a status other than 200 or 429, or a socket error" >&2
    exit 1
  fi
}

run_soak() {
  local seconds="${1:-600}"
  local concurrency="${2:-16}"
  local bound="${3:-800}"
  cargo build --release --quiet -p embed-cli
  cargo build --release --quiet -p embed-server --example load
  start_server
  echo "soak: $seconds s, $concurrency clients, server pid $server_pid, rss bound $bound MiB, $(date -u +%Y-%m-%dT%H:%MZ)"
  target/release/examples/load --url "$base" --seconds "$seconds" --concurrency "$concurrency" \
    --rss-pid "$server_pid" --rss-every 10 --rss-bound-mib "$bound"
  stop_server
}

case "$mode" in
  load) shift || true; run_load "$@" ;;
  soak) shift; run_soak "$@" ;;
  *) echo "usage: $0 load [SECONDS_PER_LEVEL] [CONCURRENCIES] | soak [SECONDS] [CONCURRENCY] [RSS_BOUND_MIB]" >&2; exit 2 ;;
esac
