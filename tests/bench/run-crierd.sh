#!/bin/bash
# run-crierd.sh: run crier-bench against a private crierd.
#
#   tests/bench/run-crierd.sh [--crierd PATH] [--bench PATH] [--set K=V ...] -- [crier-bench options]
#
# Starts crierd on 127.0.0.1 (a free port, written to a port file) with the
# given --set overrides, runs crier-bench with the options after "--" plus
# --server-pid <crierd>, then stops crierd (SIGTERM, by PID) and cleans up.
# "@PORT@" in any crier-bench option is replaced by the port, so e.g.
#   -- --sub-url ws://127.0.0.1:@PORT@/debug/ws --pub-url http://127.0.0.1:@PORT@/debug/publish
# measures the raw engine (needs --set server.debug_endpoints=true).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
crierd="${CRIERD:-}"
bench="${CRIER_BENCH:-}"
sets=()
port_out=""

while [ $# -gt 0 ]; do
  case "$1" in
    --crierd) crierd="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    --port-out) port_out="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run-crierd.sh: unknown option $1 (crier-bench options go after --)" >&2; exit 2 ;;
  esac
done

for cand in "$here/crier-bench" "$here/../../build/tests/bench/crier-bench"; do
  if [ -z "$bench" ] && [ -x "$cand" ]; then bench="$cand"; fi
done
for cand in "$here/../../server/crierd" "$here/../../build/server/crierd"; do
  if [ -z "$crierd" ] && [ -x "$cand" ]; then crierd="$cand"; fi
done
if [ ! -x "${bench:-/nonexistent}" ] || [ ! -x "${crierd:-/nonexistent}" ]; then
  echo "run-crierd.sh: pass --bench and --crierd (or run the copy in the build directory)" >&2
  exit 2
fi

tmp=$(mktemp -d /tmp/crier-bench.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$crierd" --port-file "$tmp/ports" --set server.listen=127.0.0.1:0 --set server.log_level=warning \
  --set "admin.socket=$tmp/admin.sock" \
  --set server.drain_timeout=1s "${sets[@]}" 2>"$tmp/crierd.log" &
pid=$!
for _ in $(seq 1 100); do [ -s "$tmp/ports" ] && break; sleep 0.05; done
if [ ! -s "$tmp/ports" ]; then
  echo "run-crierd.sh: crierd did not start:" >&2
  cat "$tmp/crierd.log" >&2
  exit 1
fi
port=$(head -n 1 "$tmp/ports")
if [ -n "$port_out" ]; then echo "$port" > "$port_out"; fi

args=()
for a in "$@"; do args+=("${a//@PORT@/$port}"); done
echo "run-crierd.sh: crierd pid $pid, port $port" >&2
rc=0
"$bench" --server-pid "$pid" "${args[@]}" || rc=$?
exit $rc
