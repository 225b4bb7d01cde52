#!/bin/bash
# run-suite.sh: Crier's benchmark command. Runs every fan-out scenario of
# docs/benchmarks.md against crierd and, where a peer figure is wanted,
# against nginx + Nchan and the one-write()-per-delivery floor server
# (bench-floor.c) in the same session, then prints one table with the
# ratios. Loopback only; every run is bounded in count and time.
#
#   tests/bench/run-suite.sh [--build DIR] [--quick] [--only NAME[,NAME]] [--no-nchan]
#                            [--rounds N]
#
# --rounds N runs every chosen scenario N times, the servers interleaved, and
# reports medians (and the range of the crierd / floor ratio): on a shared
# VM one run's CPU figures move by 10-50 %.
# DIR is a meson build directory (default: build). Use a release build for
# figures: meson setup build-release -Dbuildtype=release.
# Results (one JSON line per scenario) also go to DIR/bench-results.jsonl.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build="$top/build"
quick=0
only=""
nchan=1
rounds=1

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --quick) quick=1; shift ;;
    --only) only="$2"; shift 2 ;;
    --no-nchan) nchan=0; shift ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run-suite.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

case "$rounds" in
  [1-9]|1[0-9]|20) ;;
  *) echo "run-suite.sh: --rounds must be 1..20" >&2; exit 2 ;;
esac

bench="$build/tests/bench/crier-bench"
crierd="$build/server/crierd"
floor="$build/tests/bench/bench-floor"
for f in "$bench" "$crierd" "$floor"; do
  [ -x "$f" ] || { echo "run-suite.sh: $f missing: meson compile -C $build" >&2; exit 2; }
done
if [ $nchan -eq 1 ] && { ! command -v nginx >/dev/null || [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]; }; then
  echo "run-suite.sh: no nginx + Nchan (apt-get install -y nginx-light libnginx-mod-nchan): skipping the peer" >&2
  nchan=0
fi

results="$build/bench-results.jsonl"
: > "$results"
msgs_max=20000; msgs_fixed=500; idle_n=10000
if [ $quick -eq 1 ]; then msgs_max=3000; msgs_fixed=150; idle_n=2000; fi

want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

# record NAME SERVER -- crier-bench output (last line is the JSON result)
record() {
  local name=$1 server=$2 json
  json=$(tail -n 1)
  case "$json" in
    "{"*) ;;
    *) printf '  %-28s %-7s FAILED (no result)\n' "$name" "$server" >&2; return 0 ;;
  esac
  printf '{"scenario":"%s","server":"%s","result":%s}\n' "$name" "$server" "$json" >> "$results"
  printf '  %-28s %-7s done\n' "$name" "$server" >&2
}

crier() {   # crier NAME [--set K=V ...] -- bench options
  local name=$1; shift
  local sets=()
  while [ "$1" != "--" ]; do sets+=("$1"); shift; done
  shift
  "$here/run-crierd.sh" --crierd "$crierd" --bench "$bench" "${sets[@]}" -- --json "$@" 2>/dev/null | record "$name" crierd || true
}

floor_run() {   # floor_run NAME -- bench options (URLs on @PORT@ of bench-floor)
  local name=$1; shift 2
  local tmpd pid port args=()
  tmpd=$(mktemp -d /tmp/crier-floor.XXXXXX)
  "$floor" --port-file "$tmpd/port" --max-seconds 300 2>"$tmpd/floor.log" &
  pid=$!
  for _ in $(seq 1 50); do [ -s "$tmpd/port" ] && break; sleep 0.1; done
  port=$(cat "$tmpd/port" 2>/dev/null || true)
  if [ -n "$port" ]; then
    for a in "$@"; do args+=("${a//@PORT@/$port}"); done
    "$bench" --json --server-pid "$pid" "${args[@]}" 2>/dev/null | record "$name" floor || true
  else
    printf '  %-28s %-7s FAILED (did not start)\n' "$name" floor >&2
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$tmpd"
}

nchan_run() {   # nchan_run NAME -- bench options
  local name=$1; shift 2
  [ $nchan -eq 1 ] || return 0
  "$here/run-nchan.sh" --bench "$bench" -- --json "$@" 2>/dev/null | record "$name" nchan || true
}

raw=(--set server.debug_endpoints=true)
raw_urls=(--sub-url 'ws://127.0.0.1:@PORT@/debug/ws' --pub-url 'http://127.0.0.1:@PORT@/debug/publish')
floor_urls=(--sub-url 'ws://127.0.0.1:@PORT@/sub' --pub-url 'http://127.0.0.1:@PORT@/pub')
# The bench client does not answer the protocol's "{}" pings: ping rarely.
proto=(--set auth.allow_anonymous=true --set auth.api_keys=bench --set channels.history_size=100
       --set websocket.ping_interval=10m)
proto_urls=(--sub-url 'ws://127.0.0.1:@PORT@/connection/websocket'
            --ws-init '{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"bench"}}'
            --pub-url 'http://127.0.0.1:@PORT@/pub/bench' -H 'X-API-Key: bench')

echo "run-suite.sh: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), build $build" >&2

# httplat NAME -- bench options: 200 `GET /healthz`, each on a new
# connection (http-probe.py: connect to last body byte, 20 per second)
# while the bench holds its clients; median and p99.
httplat() {
  local name=$1; shift 2
  local tmpd runner port
  tmpd=$(mktemp -d /tmp/crier-httplat.XXXXXX)
  "$here/run-crierd.sh" --crierd "$crierd" --bench "$bench" "${raw[@]}" --port-out "$tmpd/port" -- --json \
    "$@" > "$tmpd/bench.json" 2>/dev/null &
  runner=$!
  for _ in $(seq 1 100); do [ -s "$tmpd/port" ] && break; sleep 0.1; done
  sleep 8
  port=$(cat "$tmpd/port")
  "$here/http-probe.py" --port "$port" --path /healthz --count 200 --interval 0 > "$tmpd/times-b2b"
  "$here/http-probe.py" --port "$port" --path /healthz --count 200 --interval 0.05 > "$tmpd/times"
  wait $runner || true
  python3 - "$name" "$tmpd/times" "$tmpd/times-b2b" "$tmpd/bench.json" >> "$results" <<'PY'
import json, sys
def stats(path):
    t = sorted(float(x) for x in open(path) if x.strip())
    return {"p50": t[len(t) // 2], "p99": t[int(len(t) * 0.99) - 1], "n": len(t)} if t else None
b = open(sys.argv[4]).read().strip().splitlines()
r = json.loads(b[-1]) if b else {}
r["http_ms"] = stats(sys.argv[2])
r["http_ms_back_to_back"] = stats(sys.argv[3])
print(json.dumps({"scenario": sys.argv[1], "server": "crierd", "result": r}))
PY
  rm -rf "$tmpd"
  printf '  %-28s %-7s done\n' "$name" crierd >&2
}
for round in $(seq 1 "$rounds"); do
  [ "$rounds" -eq 1 ] || echo "round $round of $rounds" >&2
  if want max; then
    crier ws-max-rate "${raw[@]}" -- "${raw_urls[@]}" --clients 1000 --messages $msgs_max --inflight 8 --duration 120
    nchan_run ws-max-rate -- --clients 1000 --messages $msgs_max --inflight 8 --duration 120
    floor_run ws-max-rate -- "${floor_urls[@]}" --clients 1000 --messages $msgs_max --inflight 8 --duration 120
  fi
  if want fixed; then
    crier ws-50-per-s "${raw[@]}" -- "${raw_urls[@]}" --clients 1000 --rate 50 --messages $msgs_fixed --duration 60
    nchan_run ws-50-per-s -- --clients 1000 --rate 50 --messages $msgs_fixed --duration 60
    floor_run ws-50-per-s -- "${floor_urls[@]}" --clients 1000 --rate 50 --messages $msgs_fixed --duration 60
  fi
  if want proto; then
    crier proto-ws-max-rate "${proto[@]}" -- "${proto_urls[@]}" --clients 1000 --messages $msgs_max --inflight 8 --duration 120
  fi
  if want sse; then
    crier plain-sse-max-rate --set auth.allow_anonymous=true --set auth.api_keys=bench --set channels.history_size=100 -- \
      --transport sse --sub-url 'http://127.0.0.1:@PORT@/sub/bench' --pub-url 'http://127.0.0.1:@PORT@/pub/bench' \
      -H 'X-API-Key: bench' --clients 1000 --messages $msgs_max --inflight 8 --duration 120
    crier plain-ws-max-rate --set auth.allow_anonymous=true --set auth.api_keys=bench --set channels.history_size=100 -- \
      --sub-url 'ws://127.0.0.1:@PORT@/sub/bench' --pub-url 'http://127.0.0.1:@PORT@/pub/bench' \
      -H 'X-API-Key: bench' --clients 1000 --messages $msgs_max --inflight 8 --duration 120
    nchan_run sse-max-rate -- --transport sse --clients 1000 --messages $msgs_max --inflight 8 --duration 120
  fi
  if want longpoll; then
    crier plain-longpoll-50-per-s --set auth.allow_anonymous=true --set auth.api_keys=bench --set channels.history_size=1000 -- \
      --transport longpoll --sub-url 'http://127.0.0.1:@PORT@/sub/bench' --pub-url 'http://127.0.0.1:@PORT@/pub/bench' \
      -H 'X-API-Key: bench' --clients 1000 --rate 50 --messages $msgs_fixed --duration 60
    nchan_run longpoll-50-per-s -- --transport longpoll --clients 1000 --rate 50 --messages $msgs_fixed --duration 60
  fi
  if want idle; then
    crier ws-idle "${raw[@]}" -- --sub-url 'ws://127.0.0.1:@PORT@/debug/ws' --clients $idle_n --idle-only --duration 60
    nchan_run ws-idle -- --clients $idle_n --idle-only --duration 60
  fi
  if want httplat; then
    # A baseline with one client; with 10,000 idle WebSocket clients
    # (connected, no traffic); then with the same clients each receiving one
    # publication per second.
    httplat http-latency-1-client -- --sub-url 'ws://127.0.0.1:@PORT@/debug/ws' \
      --clients 1 --idle-only --hold-ms 25000 --duration 60
    httplat http-latency-10k-idle -- --sub-url 'ws://127.0.0.1:@PORT@/debug/ws' \
      --clients $idle_n --idle-only --hold-ms 25000 --duration 60
    httplat http-latency-10k-1msg-per-s -- "${raw_urls[@]}" --clients $idle_n --rate 1 --messages 25 --duration 60
  fi
  if want slow; then
    crier ws-slow-readers "${raw[@]}" --set limits.outbound_soft_limit=256KiB --set limits.outbound_hard_limit=1MiB -- \
      "${raw_urls[@]}" --clients 100 --slow 5 --messages 20000 --size 1000 --inflight 4 --duration 90
  fi
done

python3 - "$results" "$rounds" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rounds = int(sys.argv[2])
by = {}
for r in rows:
    by.setdefault(r["scenario"], {}).setdefault(r["server"], []).append(r["result"])

def med(runs, key, sub=None):
    vals = []
    for r in runs:
        v = r.get(key)
        if sub is not None:
            v = (v or {}).get(sub)
        if v is not None:
            vals.append(v)
    return statistics.median(vals) if vals else None

def f(v, fmt="{:.0f}"):
    return "-" if v is None else fmt.format(v)

print()
if rounds > 1:
    print(f"medians over {rounds} rounds")
print(f"{'scenario':<26} {'server':<7} {'deliv/s':>9} {'lost':>6} {'dup':>4} {'p50 ms':>7} {'p99 ms':>7} {'p99.9':>7} "
      f"{'us/deliv':>8} {'conn/s':>7} {'B/conn':>7} {'evicted':>7} {'rss peak':>8}")
for name, servers in by.items():
    for server, runs in servers.items():
        lost = sum(r.get("lost") or 0 for r in runs)
        dup = sum(r.get("duplicated") or 0 for r in runs)
        print(f"{name:<26} {server:<7} {f(med(runs, 'deliveries_per_sec')):>9} {lost:>6} {dup:>4} "
              f"{f(med(runs, 'latency_ms', 'p50'), '{:.2f}'):>7} {f(med(runs, 'latency_ms', 'p99'), '{:.2f}'):>7} "
              f"{f(med(runs, 'latency_ms', 'p999'), '{:.2f}'):>7} "
              f"{f(med(runs, 'server_cpu_us_per_delivery'), '{:.2f}'):>8} {f(med(runs, 'connects_per_sec')):>7} "
              f"{f(med(runs, 'rss_per_conn_bytes')):>7} {f(med(runs, 'slow_evicted')):>7} {f(med(runs, 'server_rss_peak_kb')):>8}")
        for key, how in (("http_ms", "20/s"), ("http_ms_back_to_back", "back to back")):
            if med(runs, key, "p50") is not None:
                print(f"{'':<26} {'':<7} GET /healthz ({how}) with {runs[0].get('clients')} WebSockets open: "
                      f"p50 {med(runs, key, 'p50'):.2f} ms, p99 {med(runs, key, 'p99'):.2f} ms")
print()
for name, servers in by.items():
    c, fl = servers.get("crierd", []), servers.get("floor", [])
    ratios = [a["server_cpu_us_per_delivery"] / b["server_cpu_us_per_delivery"]
              for a, b in zip(c, fl)
              if a.get("server_cpu_us_per_delivery") and b.get("server_cpu_us_per_delivery")]
    if ratios:
        spread = f" (per round {min(ratios):.2f}x..{max(ratios):.2f}x)" if len(ratios) > 1 else ""
        print(f"crierd / floor, {name}: CPU per delivery {med(c, 'server_cpu_us_per_delivery'):.2f} / "
              f"{med(fl, 'server_cpu_us_per_delivery'):.2f} us, ratio {statistics.median(ratios):.2f}x{spread}")
for name, servers in by.items():
    c, n = servers.get("crierd"), servers.get("nchan")
    if not c or not n:
        continue
    parts = []
    for key, label, better in (("deliveries_per_sec", "deliveries/s", "higher"),
                               ("server_cpu_us_per_delivery", "CPU per delivery", "lower"),
                               ("rss_per_conn_bytes", "RSS per connection", "lower"),
                               ("connects_per_sec", "connects/s", "higher")):
        a, b = med(c, key), med(n, key)
        if a and b:
            parts.append(f"{label} {a / b:.2f}x ({better} is better)")
    if parts:
        print(f"crierd / Nchan, {name}: " + "; ".join(parts))
PY
