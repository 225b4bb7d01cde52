#!/bin/bash
# run-two-nodes.sh single|cluster: two crier-bench runs (N SSE subscribers
# each, /sub/b1 on node 1 and /sub/b2 on node 2, both publishing to node 1
# at R/s) against two crierd nodes sharing a private redis-server
# ("cluster") or one node holding both halves ("single"). Loopback only;
# every process is stopped by PID. docs/benchmarks.md "Two nodes + Redis".
# N (default 500), R (default 50) and M (messages, default 1500) come from
# the environment: the bench clients must not saturate the CPU themselves.
set -euo pipefail
B=${CRIER_BENCH:-build/tests/bench/crier-bench}; D=${CRIERD:-build/server/crierd}
N=${N:-500}; R=${R:-50}; M=${M:-1500}
RP=$((20000 + RANDOM % 10000)); dir=$(mktemp -d)
redis-server --port $RP --bind 127.0.0.1 --save '' --appendonly no --dir $dir >/dev/null &
RPID=$!; sleep 0.5
common=(--set server.listen=127.0.0.1:0 --set auth.api_keys=k --set auth.allow_anonymous=true --set channels.history_size=100)
[ "$1" = cluster ] && common+=(--set broker.redis=127.0.0.1:$RP)
$D "${common[@]}" --set server.node_name=n1 --set admin.socket=$dir/a1 --port-file $dir/p1 2>$dir/l1 & P1=$!
$D "${common[@]}" --set server.node_name=n2 --set admin.socket=$dir/a2 --port-file $dir/p2 2>$dir/l2 & P2=$!
sleep 1.5; A=$(head -1 $dir/p1); Bp=$(head -1 $dir/p2)
PB=$P2
[ "$1" = single ] && Bp=$A && PB=$P1
$B --json -q --transport sse --sub-url http://127.0.0.1:$A/sub/b1 --pub-url http://127.0.0.1:$A/pub/b1 -H 'X-API-Key: k' -n $N -r $R -m $M -d 40 --server-pid $P1 > $dir/r1 &
J1=$!
$B --json -q --transport sse --sub-url http://127.0.0.1:$Bp/sub/b2 --pub-url http://127.0.0.1:$A/pub/b2 -H 'X-API-Key: k' -n $N -r $R -m $M -d 40 --server-pid $PB > $dir/r2 &
J2=$!
wait $J1 $J2 || true
echo "== $1"; cat $dir/r1; cat $dir/r2
kill $P1 $P2 $RPID; wait $P1 $P2 $RPID 2>/dev/null || true; rm -rf $dir
