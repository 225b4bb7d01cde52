#!/bin/bash
# run-nchan.sh: run crier-bench against a private nginx + Nchan instance.
#
#   tests/bench/run-nchan.sh [--port N] [--channel NAME] [--bench PATH] -- [crier-bench options]
#
# Starts nginx with nchan.conf.in (1 worker, in-memory, 127.0.0.1:PORT, runtime
# files in a mktemp directory), waits until it answers, runs crier-bench with
# the options after "--" plus --server-pid <nginx worker>, then stops nginx by
# the PID in its pid file and removes the directory.
#
# Unless given, --sub-url and --pub-url default to
#   ws://127.0.0.1:PORT/sub/CHANNEL   (http:// with --transport sse|longpoll)
#   http://127.0.0.1:PORT/pub/CHANNEL
# and "@PORT@" in any crier-bench option is replaced by the port.
#
# crier-bench is taken from --bench, $CRIER_BENCH, or next to this script
# (e.g. when the script is copied into the build directory).
# Needs: apt-get install -y nginx-light libnginx-mod-nchan
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=""
channel="bench"
bench="${CRIER_BENCH:-}"

while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --channel) channel="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run-nchan.sh: unknown option $1 (crier-bench options go after --)" >&2; exit 2 ;;
  esac
done

if [ -z "$bench" ]; then
  for cand in "$here/crier-bench" "$here/../../build/tests/bench/crier-bench" "$here/../../_build/tests/bench/crier-bench"; do
    if [ -x "$cand" ]; then bench="$cand"; break; fi
  done
fi
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
  echo "run-nchan.sh: crier-bench not found; pass --bench PATH or set CRIER_BENCH" >&2
  exit 2
fi
if ! command -v nginx >/dev/null || [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
  echo "run-nchan.sh: needs nginx and Nchan: apt-get install -y nginx-light libnginx-mod-nchan" >&2
  exit 2
fi
case "$channel" in
  *[!A-Za-z0-9_]*|"") echo "run-nchan.sh: channel must match \\w+" >&2; exit 2 ;;
esac

port_free() {
  [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}

if [ -z "$port" ]; then
  for _ in $(seq 1 50); do
    cand=$((20000 + RANDOM % 12000))
    if port_free "$cand"; then port=$cand; break; fi
  done
  if [ -z "$port" ]; then echo "run-nchan.sh: no free port in 20000-32000" >&2; exit 2; fi
elif ! port_free "$port"; then
  echo "run-nchan.sh: port $port is in use" >&2
  exit 2
fi

tmp=$(mktemp -d /tmp/crier-nchan.XXXXXX)
chmod 755 "$tmp"   # the worker may run as an unprivileged user
rundir="$tmp"
pidfile="$rundir/nchan-$port.pid"
master=""

cleanup() {
  local pid="" i
  if [ -s "$pidfile" ]; then pid=$(cat "$pidfile"); fi
  if [ -z "$pid" ]; then pid="$master"; fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sed -e "s|@PORT@|$port|g" -e "s|@RUNDIR@|$rundir|g" "$here/nchan.conf.in" > "$rundir/nchan.conf"
# nginx warns that worker_connections exceed the fd limit (intended, see
# nchan.conf.in); its start-up messages are only shown when it fails.
if ! nginx -q -e "$rundir/nchan-$port-error.log" -c "$rundir/nchan.conf" -p "$rundir/" \
     2>"$rundir/nginx-start.log"; then
  cat "$rundir/nginx-start.log" "$rundir/nchan-$port-error.log" >&2 || true
  exit 1
fi

# wait for the pid file, the worker process and an HTTP answer (at most 10 s)
worker=""
for _ in $(seq 1 100); do
  if [ -z "$master" ] && [ -s "$pidfile" ]; then master=$(cat "$pidfile"); fi
  if [ -n "$master" ] && [ -z "$worker" ]; then
    worker=$(ps -o pid=,args= --ppid "$master" 2>/dev/null | awk '/worker process/ { print $1; exit }')
  fi
  if [ -n "$worker" ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/pub/crier_bench_ready" || true)
    if [ "$code" != "000" ] && [ -n "$code" ]; then break; fi
  fi
  sleep 0.1
done
if [ -z "$worker" ]; then
  echo "run-nchan.sh: nginx did not start" >&2
  cat "$rundir/nchan-$port-error.log" >&2 || true
  exit 1
fi

# default URLs, @PORT@ substitution
transport=ws
have_sub=0
have_pub=0
idle=0
args=()
prev=""
for a in "$@"; do
  a="${a//@PORT@/$port}"
  case "$a" in
    --sub-url|--sub-url=*) have_sub=1 ;;
    --pub-url|--pub-url=*) have_pub=1 ;;
    --idle-only) idle=1 ;;
    --transport=*) transport="${a#--transport=}" ;;
  esac
  if [ "$prev" = "--transport" ]; then transport="$a"; fi
  prev="$a"
  args+=("$a")
done
scheme=ws
if [ "$transport" != "ws" ]; then scheme=http; fi
if [ $have_sub -eq 0 ]; then args+=(--sub-url "$scheme://127.0.0.1:$port/sub/$channel"); fi
if [ $have_pub -eq 0 ] && [ $idle -eq 0 ]; then args+=(--pub-url "http://127.0.0.1:$port/pub/$channel"); fi

echo "run-nchan.sh: nginx master $master, worker $worker, port $port" >&2
rc=0
"$bench" --server-pid "$worker" "${args[@]}" || rc=$?
if grep -q -E '\[(alert|crit|emerg)\]' "$rundir/nchan-$port-error.log" 2>/dev/null; then
  echo "run-nchan.sh: nginx error log:" >&2
  grep -E '\[(alert|crit|emerg)\]' "$rundir/nchan-$port-error.log" | tail -5 >&2
fi
exit $rc
