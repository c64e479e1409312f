#!/usr/bin/env bash
# Fan-in: N peers (default 10) each send the same 1,000,000 prefixes with their own next
# hop (and their own AS); tern agent (FIB off) vs BIRD 2 as the receiver, in turn.
#
# Feeders: bgp/examples/feeder.rs, one per peer, from 127.0.0.(1+i) inside one private
# namespace (lo only); each pre-encodes its table, then retries connecting every 100 ms
# until the receiver (127.0.0.1, started once all have encoded) accepts them all.
# Measured per receiver:
#   time  from the first feeder's Established until the receiver holds N x 1M paths
#         (tern: sum of `accepted` over peers in `tern status --json`; BIRD: sum of the
#         protocols' imported-routes counters), polled every 50 ms;
#   RSS   VmRSS once all paths are in (and VmHWM), for 1 peer and for N peers:
#         bytes per extra path = (RSS_N - RSS_1) / ((N - 1) x 1M).
#
# Usage: bench/ingest_feeders/fanin.sh [ROUNDS] [N]   (default 1 round, 10 peers)
#   TERN=path/to/tern, FEEDER_BIN=path/to/feeder, PREFIXES (default 1000000),
#   TERN_OLD=path/to/another/tern adds that build as the receiver `tern_old` (before/after
#   in the same run), RECEIVERS (default "tern bird", with TERN_OLD "tern_old tern
#   bird"; each round starts with the next one), BIRD_EXPORT (default none; "all" makes BIRD pass
#   every best path on to the other peers as tern does: tern has no export switch).
# Needs root, iproute2, bird2. Bounded: every wait has a timeout.
set -euo pipefail

ROUNDS=${1:-1}
N=${2:-10}
PREFIXES=${PREFIXES:-1000000}
TIMEOUT_S=${TIMEOUT_S:-120}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TERN=${TERN:-$ROOT/target/release/tern}
FEEDER_BIN=${FEEDER_BIN:-$ROOT/target/release/examples/feeder}
WORK=$(mktemp -d /tmp/bench-fanin.XXXXXX)
chmod 755 "$WORK"
NS="bench-fanin-$$"
PIDS=()
. "$ROOT/bench/lib/common.sh"
. "$ROOT/bench/lib/daemons.sh"
trap 'bench_cleanup 0.3 kill "$NS"' EXIT
# A signal ends the run (the EXIT trap cleans up); a handler alone would carry on.
trap 'exit 130' INT TERM

# CPU ms of PID, 0 once it has exited.
cpu_ms_or_0() { if [ -r "/proc/$1/stat" ]; then cpu_ms "$1"; else echo 0; fi; }

ip netns add "$NS"
ip -n "$NS" link set lo up

# Starts n feeders (127.0.0.2 ..), waits until each has encoded its table.
start_feeders() {
    local n=$1 i t
    FEEDER_PIDS=()
    rm -f "$WORK"/feeder.*.out "$WORK"/feeder.*.err
    for i in $(seq 1 "$n"); do
        ip netns exec "$NS" "$FEEDER_BIN" --connect 127.0.0.1:179 --bind "127.0.0.$((1 + i))" \
            --as $((65000 + i)) --router-id "10.255.1.$i" --next-hop "10.255.0.$i" \
            --prefixes "$PREFIXES" --stay 900 --timeout 300 \
            > "$WORK/feeder.$i.out" 2> "$WORK/feeder.$i.err" &
        FEEDER_PIDS+=($!)
        PIDS+=($!)
    done
    t=$(( $(ms) + 300000 ))
    for i in $(seq 1 "$n"); do
        until grep -q encoded "$WORK/feeder.$i.out" 2>/dev/null; do
            [ "$(ms)" -lt "$t" ] || { echo "feeder $i did not encode" >&2; return 1; }
            sleep 0.2
        done
    done
}
stop_feeders() {
    local p
    for p in "${FEEDER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${FEEDER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
first_established() {
    cat "$WORK"/feeder.*.out | sed -n 's/.*"established","t":\([0-9]*\).*/\1/p' | sort -n | head -n 1
}

start_tern() { # DIR N
    local i
    {
        cat <<CONF
nodeName: bench
asNumber: 64512
routerId: 10.255.0.254
listen: { address: 127.0.0.1, port: 179 }
blocks: []
pools: [0.0.0.0/0]
nodeToNodeMesh: { enabled: false }
fib: { enabled: false }
metrics: { listen: 127.0.0.1:9469 }
control: { socket: $1/tern.sock }
peers:
CONF
        for i in $(seq 1 "$2"); do
            echo "  - { peerIP: 127.0.0.$((1 + i)), asNumber: $((65000 + i)), passive: true, holdTime: 240s }"
        done
    } > "$1/node.yaml"
    ip netns exec "$NS" "$TERN" agent --config "$1/node.yaml" > "$1/agent.log" 2>&1 &
    DPID=$!
}
start_tern_old() { TERN="$TERN_OLD" start_tern "$@"; }
count_tern_old() { count_tern "$@"; }
count_tern() {
    "$TERN" status --json --socket "$1/tern.sock" 2>/dev/null | tr -d ' \n' |
        grep -o '"accepted":[0-9]*' | awk -F: '{s+=$2} END {if (NR) print s}'
}

start_bird() { # DIR N
    local i
    {
        cat <<CONF
router id 10.255.0.254;
protocol device {}
CONF
        for i in $(seq 1 "$2"); do
            cat <<CONF
protocol bgp feeder$i {
    local 127.0.0.1 as 64512;
    neighbor 127.0.0.$((1 + i)) as $((65000 + i));
    multihop;
    passive on;
    hold time 240;
    ipv4 { import all; export ${BIRD_EXPORT:-none}; };
}
CONF
        done
    } > "$1/bird.conf"
    run_bird "$NS" "$1"
}
count_bird() { bird_imported "$1/bird.ctl" | awk '{s+=$1} END {if (NR) print s}'; }

# One measurement: appends "receiver peers wall_ms cpu_ms rss_kib hwm_kib" to $RESULTS.
measure() {
    local d=$1 n=$2 round=$3 dir
    dir="$WORK/$d.$n.$round"
    mkdir -p "$dir"
    chmod 755 "$dir"
    start_feeders "$n"
    "start_$d" "$dir" "$n"
    local dpid=$DPID want=$(( n * PREFIXES )) cpu0
    PIDS+=("$dpid")
    cpu0=$(cpu_ms_or_0 "$dpid")
    wait_count "$d" "$dir" "$want" "$dpid" "$d exited"
    local c=$COUNT done_ms=$DONE_MS
    local cpu1 rss hwm est
    cpu1=$(cpu_ms_or_0 "$dpid")
    sleep 2 # let freed batches settle before the steady RSS
    rss=$(kib "$dpid" VmRSS)
    hwm=$(kib "$dpid" VmHWM)
    est=$(first_established)
    kill "$dpid" 2>/dev/null || true
    wait "$dpid" 2>/dev/null || true
    stop_feeders
    if [ -z "$done_ms" ] || [ -z "$est" ]; then
        echo "$d/$n round $round: incomplete (count ${c:-none} of $want)" >&2
        return 1
    fi
    record "$round" "$d $n $((done_ms - est)) $((cpu1 - cpu0)) $rss $hwm"
}

if [ -n "${TERN_OLD:-}" ]; then
    RECEIVERS=${RECEIVERS:-tern_old tern bird}
else
    RECEIVERS=${RECEIVERS:-tern bird}
fi
results_init
for round in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2086 # RECEIVERS is a list of words
    for d in $(rotated "$round" $RECEIVERS); do
        measure "$d" 1 "$round" || true
        measure "$d" "$N" "$round" || true
    done
done

echo
echo "| receiver | peers | wall (s) min–max | CPU (s) | RSS after (MiB) | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
awk '{k=$1" "$2; n[k]++; if (!(k in wmin) || $3<wmin[k]) wmin[k]=$3; if ($3>wmax[k]) wmax[k]=$3;
      c[k]=$4; r[k]=$5; h[k]=$6}
     END {for (k in n) {split(k, a, " "); printf "| %s | %s | %.2f–%.2f | %.2f | %.0f | %.0f |\n", a[1], a[2], wmin[k]/1000, wmax[k]/1000, c[k]/1000, r[k]/1024, h[k]/1024}}' "$RESULTS" | sort
echo
for d in $RECEIVERS; do
    awk -v d="$d" -v n="$N" -v p="$PREFIXES" '$1==d && $2==1 {r1=$5; h1=$6} $1==d && $2==n {rn=$5; hn=$6; w=$3}
        END { if (r1 && rn) printf "%s: bytes per extra path %.0f (RSS), %.0f (peak); %d peers in %.2f s\n",
              d, (rn-r1)*1024/((n-1)*p), (hn-h1)*1024/((n-1)*p), n, w/1000 }' "$RESULTS"
done
echo
echo "raw (receiver peers wall_ms cpu_ms VmRSS_KiB VmHWM_KiB):"
cat "$RESULTS"
