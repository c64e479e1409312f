#!/usr/bin/env bash
# Full-table ingest benchmark: tern vs BIRD 2, GoBGP and FRR bgpd, fed the same bytes.
#
# The feeder (bgp/examples/feeder.rs) pre-encodes 1,000,000 IPv4 prefixes (~30 per
# UPDATE, ~5,000 attribute sets, AS paths of 2-6 hops) and blasts them at each daemon
# over loopback inside a private network namespace (lo only; removed on exit). For each
# daemon: time from Established (the feeder's stamp) until the daemon reports all
# prefixes (polled every 50 ms), the daemon's CPU time over that window, its peak RSS
# (VmHWM) and bytes per route (VmHWM minus the RSS before the feed, over 1M).
# No kernel export anywhere: BIRD has no kernel protocol, GoBGP has no zebra, FRR runs
# with -n -Z, `tern agent` runs with `fib: { enabled: false }`, and `tern` is
# `bgp::speaker` alone (bgp/examples/rib_speaker.rs) pulling its change stream.
#
# Usage: bench/ingest/run.sh [ROUNDS] [DAEMONS...]   (default: 3 rounds, tern bird gobgp frr;
#        also tern_agent: the whole agent, FIB off (fib.enabled false);
#        tern_agent_fib: the agent installing into table 100 of the namespace;
#        tern_nochanges: bgp::speaker with its change stream closed)
# Needs root, iproute2, bird2, gobgp/gobgpd, frr (optional). Prints a Markdown table.
set -euo pipefail

ROUNDS=${1:-3}
shift || true
DAEMONS=${*:-tern bird gobgp frr}
PREFIXES=${PREFIXES:-1000000}
POLL=0.05
TIMEOUT_S=${TIMEOUT_S:-120}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/target/release/examples
TERN=${TERN:-$ROOT/target/release/tern}
WORK=$(mktemp -d /tmp/bench-ingest.XXXXXX)
chmod 755 "$WORK" # FRR drops privileges to the frr user
NS_LIST=()
PIDS=()
. "$ROOT/bench/lib/common.sh"
. "$ROOT/bench/lib/daemons.sh"
trap 'bench_cleanup 0.2 kill "${NS_LIST[@]:-}"' EXIT
# A signal ends the run (the EXIT trap cleans up); a handler alone would carry on.
trap 'exit 130' INT TERM

(cd "$ROOT" && cargo build --release -q -p bgp --example feeder --example rib_speaker)

new_ns() { # sets NS (no subshell: the cleanup trap must see NS_LIST)
    NS="bench-ingest-$$-$1"
    ip netns add "$NS"
    NS_LIST+=("$NS")
    ip -n "$NS" link set lo up
}

# --- daemons: start_X NS DIR -> sets DPID; count_X DIR -> prints prefixes ---------
start_tern() {
    ip netns exec "$1" "$BIN/rib_speaker" --listen 127.0.0.1:179 --peer 127.0.0.2 \
        --peer-as 65001 --expect "$PREFIXES" --linger 600 --timeout 600 \
        > "$2/tern.out" 2> "$2/tern.err" &
    DPID=$!
}
count_tern() { tail -n 1 "$1/tern.out" 2>/dev/null | sed -n 's/.*"loc_rib":\([0-9]*\).*/\1/p'; }

# The same with the best-path change stream closed (nobody consumes it): what the
# speaker and RIB cost without the per-prefix RouteChange queue.
start_tern_nochanges() {
    ip netns exec "$1" "$BIN/rib_speaker" --listen 127.0.0.1:179 --peer 127.0.0.2 \
        --peer-as 65001 --expect "$PREFIXES" --linger 600 --timeout 600 --drop-changes \
        > "$2/tern.out" 2> "$2/tern.err" &
    DPID=$!
}
count_tern_nochanges() { count_tern "$@"; }

# `tern agent` itself, with the kernel left alone like the other daemons.
start_tern_agent() {
    feeder_node_yaml "${AGENT_FIB:-"{ enabled: false }"}" "$2/tern.sock" 127.0.0.1:9469 > "$2/node.yaml"
    ip netns exec "$1" "$TERN" agent --config "$2/node.yaml" > "$2/agent.log" 2>&1 &
    DPID=$!
}
# The same agent with its FIB on (table 100 of the benchmark's namespace): the kernel
# takes ~25 s for 1M routes, so the changes wait in the RIB's change log meanwhile.
start_tern_agent_fib() {
    AGENT_FIB="{ table: 100, protocol: 201, ecmp: true }" start_tern_agent "$@"
}
count_tern_agent_fib() { count_tern_agent "$@"; }
count_tern_agent() {
    "$TERN" status --json --socket "$1/tern.sock" 2>/dev/null |
        tr -d ' \n' | sed -n 's/.*"accepted":\([0-9]*\).*/\1/p' | head -n 1
}

start_bird() {
    cat > "$2/bird.conf" <<EOF
router id 10.255.0.2;
protocol device {}
protocol bgp feeder {
    local 127.0.0.1 as 64512;
    neighbor 127.0.0.2 as 65001;
    multihop;
    hold time 240;
    ipv4 { import all; export none; };
}
EOF
    run_bird "$1" "$2"
}
count_bird() {
    birdc -s "$1/bird.ctl" show route count 2>/dev/null |
        sed -n 's/.* for \([0-9]*\) networks.*/\1/p' | head -n 1
}

start_gobgp() {
    {
        gobgp_toml 64512 10.255.0.2 127.0.0.1 127.0.0.2 65001
        cat <<EOF
  [neighbors.timers.config]
    hold-time = 240
EOF
    } > "$2/gobgp.toml"
    ip netns exec "$1" gobgpd -f "$2/gobgp.toml" --api-hosts 127.0.0.1:50051 \
        > "$2/gobgp.log" 2>&1 &
    DPID=$!
    GOBGP_NS=$1
}
count_gobgp() {
    ip netns exec "$GOBGP_NS" gobgp -u 127.0.0.1 -p 50051 global rib summary -a ipv4 2>/dev/null |
        sed -n 's/.*Destination: \([0-9]*\).*/\1/p'
}

start_frr() {
    mkdir -p "$2/frr"
    chmod 777 "$2/frr"
    cat > "$2/frr/bgpd.conf" <<EOF
router bgp 64512
 bgp router-id 10.255.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 127.0.0.2 remote-as 65001
 neighbor 127.0.0.2 timers 80 240
 neighbor 127.0.0.2 ebgp-multihop 2
EOF
    ip netns exec "$1" /usr/lib/frr/bgpd -n -Z -f "$2/frr/bgpd.conf" -i "$2/frr/bgpd.pid" \
        --vty_socket "$2/frr" -A 127.0.0.1 -P 2605 -u frr -g frr \
        > "$2/frr.log" 2>&1 &
    DPID=$!
    FRR_NS=$1
}
count_frr() {
    ip netns exec "$FRR_NS" vtysh --vty_socket "$1/frr" -d bgpd \
        -c 'show bgp ipv4 unicast summary json' 2>/dev/null |
        sed -n 's/.*"pfxRcd":\([0-9]*\).*/\1/p' | head -n 1
}

have() {
    case $1 in
        tern) [ -x "$BIN/rib_speaker" ] ;;
        tern_agent | tern_agent_fib) [ -x "$TERN" ] ;;
        tern_nochanges) [ -x "$BIN/rib_speaker" ] ;;
        bird) command -v bird > /dev/null && command -v birdc > /dev/null ;;
        gobgp) command -v gobgpd > /dev/null && command -v gobgp > /dev/null ;;
        frr) [ -x /usr/lib/frr/bgpd ] && command -v vtysh > /dev/null ;;
    esac
}

# One measurement; appends "daemon wall_ms cpu_ms hwm_kib base_kib" to $RESULTS.
measure() {
    local d=$1 round=$2 ns dir
    dir="$WORK/$d.$round"
    mkdir -p "$dir"
    chmod 755 "$dir"
    new_ns "$d$round"
    ns=$NS
    "start_$d" "$ns" "$dir"
    local dpid=$DPID
    PIDS+=("$dpid")
    sleep 1
    kill -0 "$dpid" 2>/dev/null || { echo "$d did not start:" >&2; tail "$dir"/*.log "$dir"/*.err >&2 2>/dev/null; return 1; }
    local base cpu0
    base=$(kib "$dpid" VmRSS)
    cpu0=$(cpu_ms "$dpid")
    ip netns exec "$ns" "$BIN/feeder" --connect 127.0.0.1:179 --bind 127.0.0.2 \
        --prefixes "$PREFIXES" --stay 600 --timeout 30 > "$dir/feeder.out" 2> "$dir/feeder.err" &
    local fpid=$!
    PIDS+=("$fpid")
    wait_count "$d" "$dir" "$PREFIXES" "$fpid" "feeder ended early" "$dir/feeder.err"
    local n=$COUNT done_ms=$DONE_MS
    local cpu1 hwm est
    cpu1=$(cpu_ms "$dpid")
    hwm=$(kib "$dpid" VmHWM)
    est=$(sed -n 's/.*"established","t":\([0-9]*\).*/\1/p' "$dir/feeder.out")
    kill "$fpid" "$dpid" 2>/dev/null || true
    wait "$fpid" "$dpid" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    if [ -z "$done_ms" ] || [ -z "$est" ]; then
        echo "$d round $round: incomplete (last count ${n:-none})" >&2
        return 1
    fi
    record "$round" "$d $((done_ms - est)) $((cpu1 - cpu0)) $hwm $base"
}

results_init
for round in $(seq 1 "$ROUNDS"); do
    for d in $DAEMONS; do
        if ! have "$d"; then
            echo "skipping $d (not installed)" >&2
            continue
        fi
        measure "$d" "$round" || echo "$d round $round failed" >&2
    done
done

echo
echo "| daemon | wall time (s) min–max [median] | daemon CPU (s) min–max | peak RSS (MiB) | bytes/route | wall vs BIRD |"
echo "|---|---|---|---|---|---|"
bird_med=$(awk '$1=="bird"{print $2}' "$RESULTS" | sort -n | awk '{a[NR]=$1} END{if(NR) print a[int((NR+1)/2)]}')
for d in $DAEMONS; do
    awk -v d="$d" -v n="$PREFIXES" -v bm="${bird_med:-0}" '
        $1==d { w[++k]=$2; c[k]=$3; h[k]=$4; b[k]=$5 }
        function srt(a, m,   i, j, t) { for (i=1;i<=m;i++) for (j=i+1;j<=m;j++) if (a[j]<a[i]) {t=a[i];a[i]=a[j];a[j]=t} }
        END {
            if (!k) exit
            srt(w,k); srt(c,k); srt(h,k)
            med=w[int((k+1)/2)]
            bpr=(h[k]-b[1])*1024/n
            ratio=(bm>0)? sprintf("%.2f×", med/bm) : "–"
            printf "| %s | %.2f–%.2f [%.2f] | %.2f–%.2f | %.0f | %.0f | %s |\n", d, w[1]/1000, w[k]/1000, med/1000, c[1]/1000, c[k]/1000, h[k]/1024, bpr, ratio
        }' "$RESULTS"
done
echo
echo "raw (daemon wall_ms cpu_ms VmHWM_KiB RSS_before_KiB):"
cat "$RESULTS"
