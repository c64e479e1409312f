#!/usr/bin/env bash
# FIB on, end to end: time from Established until all N prefixes a feeder sends are
# routes in the kernel (table 100 of a private namespace), tern agent vs BIRD 2 with its
# kernel protocol, alternating in the same run, and each daemon's peak RSS.
#
# The feeder (bgp/examples/feeder.rs: ~30 prefixes per UPDATE, ~5,000 attribute sets,
# DFZ-like lengths, `--next-hop 127.0.0.2`: on lo, so the kernel accepts it) blasts the table over loopback inside
# namespace bench-fibe2e-PID-* (lo only; removed on exit). "Done" is when the daemon says
# every route is in the kernel: tern's `status --json` fib.installed (acknowledged by
# the kernel), BIRD's kernel protocol export count (BIRD waits for each route's netlink
# answer); polled every 50 ms. After that the kernel's table 100 is counted once with
# `ip route show` (not timed) and must hold N routes, or the round fails.
#
# Usage: bench/fib/e2e.sh [ROUNDS] [DAEMONS...]   (default: 3 rounds, tern bird)
#        PREFIXES=100000 bench/fib/e2e.sh 1       (a quick run)
#        TERN=/path/to/tern bench/fib/e2e.sh     (another build of tern)
#        THREADS=1 bench/fib/e2e.sh 1 tern     (also each thread's user/system CPU)
#        PERF=/tmp/p bench/fib/e2e.sh 1 tern    (perf record of the daemon: /tmp/p.tern.1)
#        TERN_OLD=/path/to/old/tern bench/fib/e2e.sh 3 tern_old tern bird   (before/after)
#        bench/fib/e2e.sh 3 tern tern_via bird   (tern_via: fib.nexthopObjects false)
#        DUMP=/tmp/t bench/fib/e2e.sh 1 tern    (the kernel's table 100 after the load: /tmp/t.tern.1)
#        WITHDRAW=1 bench/fib/e2e.sh 3          (then the feeder goes away: also the time
#                                               from its end until the daemon counts no
#                                               route and the kernel's table 100 is
#                                               empty, the daemon's CPU over it and its
#                                               slowest answer to the count query meanwhile)
# Needs root, iproute2, bird2. Prints a Markdown table and the raw numbers.
set -euo pipefail

ROUNDS=${1:-3}
shift || true
DAEMONS=${*:-tern bird}
PREFIXES=${PREFIXES:-1000000}
POLL=0.05
TIMEOUT_S=${TIMEOUT_S:-300}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FEEDER=${FEEDER:-$ROOT/target/release/examples/feeder}
TERN=${TERN:-$ROOT/target/release/tern}
WORK=$(mktemp -d /tmp/bench-fibe2e.XXXXXX)
chmod 755 "$WORK"
NS_LIST=()
PIDS=()
. "$ROOT/bench/lib/common.sh"
. "$ROOT/bench/lib/daemons.sh"
trap 'bench_cleanup 0.3 kill "${NS_LIST[@]:-}"' EXIT
# A signal ends the run (the EXIT trap cleans up); a handler alone would carry on.
trap 'exit 130' INT TERM

[ -x "$FEEDER" ] || (cd "$ROOT" && cargo build --release -q -p bgp --example feeder)
[ -x "$TERN" ] || (cd "$ROOT" && cargo build --release -q -p tern)

start_tern() {
    feeder_node_yaml "{ table: 100, protocol: 201, ecmp: true${FIB_EXTRA:-} }" "$2/tern.sock" 127.0.0.1:9469 \
        > "$2/node.yaml"
    ip netns exec "$1" "$TERN" agent --config "$2/node.yaml" > "$2/agent.log" 2>&1 &
    DPID=$!
}
count_tern() {
    "$TERN" status --json --socket "$1/tern.sock" 2>/dev/null | tr -d ' \n' |
        sed -n 's/.*"fib":{[^}]*"installed":\([0-9]*\).*/\1/p' | head -n 1
}

start_bird() {
    cat > "$2/bird.conf" <<EOF
router id 10.255.0.2;
protocol device {}
protocol direct { ipv4; interface "lo"; }
protocol kernel k4 {
    kernel table 100;
    ipv4 { import none; export all; };
}
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
count_bird() { bird_exported "$1/bird.ctl" k4; }

# Another build of tern (TERN_OLD), for before/after in the same run.
start_tern_old() { TERN="$TERN_OLD" start_tern "$@"; }
count_tern_old() { count_tern "$@"; }
# The same build with fib.nexthopObjects false: every route carries its gateway.
start_tern_via() { FIB_EXTRA=", nexthopObjects: false" start_tern "$@"; }
count_tern_via() { count_tern "$@"; }

kernel_routes() { ip -n "$1" -4 route show table 100 | wc -l; }

# wait_zero DAEMON DIR NS: polls until the daemon counts no route in the kernel and then
# until the kernel's table 100 in NS is empty (a daemon's count can fall before its
# deletions reach the kernel: tern counts the routes it wants that the kernel
# confirmed, and no longer wants these); ZERO_MS then, empty when TIMEOUT_S passed
# first. SLOW_MS: the slowest of the daemon's answers to the count query meanwhile
# (`tern status`, `birdc`: a daemon busy with the withdrawal answers late).
wait_zero() {
    local deadline=$(( $(ms) + TIMEOUT_S * 1000 )) n q0 q
    ZERO_MS=""
    SLOW_MS=0
    while [ "$(ms)" -lt "$deadline" ]; do
        q0=$(ms)
        n=$("count_$1" "$2" || true)
        q=$(( $(ms) - q0 ))
        [ "$q" -le "$SLOW_MS" ] || SLOW_MS=$q
        [ "$n" = 0 ] && break
        sleep "$POLL"
    done
    while [ "$(ms)" -lt "$deadline" ]; do
        if [ "$(kernel_routes "$3")" -eq 0 ]; then
            ZERO_MS=$(ms)
            return
        fi
        sleep "$POLL"
    done
}

measure() {
    local d=$1 round=$2 dir ns
    dir="$WORK/$d.$round"
    mkdir -p "$dir"
    ns="bench-fibe2e-$$-$d$round"
    ip netns add "$ns"
    NS_LIST+=("$ns")
    ip -n "$ns" link set lo up
    "start_$d" "$ns" "$dir"
    local dpid=$DPID
    PIDS+=("$dpid")
    sleep 1
    kill -0 "$dpid" 2>/dev/null || { echo "$d did not start:" >&2; tail "$dir"/*.log >&2; return 1; }
    local base cpu0 perfpid=""
    if [ -n "${PERF:-}" ]; then # a profile of the daemon over the load: $PERF.DAEMON.ROUND
        perf record -q -F 999 -g -p "$dpid" -o "$PERF.$d.$round" 2>/dev/null &
        perfpid=$!
        sleep 0.5
    fi
    base=$(kib "$dpid" VmRSS)
    cpu0=$(cpu_ms "$dpid")
    ip netns exec "$ns" "$FEEDER" --connect 127.0.0.1:179 --bind 127.0.0.2 \
        --next-hop 127.0.0.2 --prefixes "$PREFIXES" --stay 900 --timeout 30 > "$dir/feeder.out" 2> "$dir/feeder.err" &
    local fpid=$!
    PIDS+=("$fpid")
    wait_count "$d" "$dir" "$PREFIXES" "$fpid" "feeder ended early" "$dir/feeder.err"
    local n=$COUNT done_ms=$DONE_MS
    local cpu1 hwm est k
    cpu1=$(cpu_ms "$dpid")
    [ -z "$perfpid" ] || { kill -INT "$perfpid"; wait "$perfpid" || true; }
    if [ -n "${THREADS:-}" ]; then # per thread: name, user and system CPU (ticks)
        for t in /proc/"$dpid"/task/*; do
            awk '{ sub(/^[0-9]+ \(/, ""); sub(/\) /, " "); print }' "$t/stat" |
                awk -v d="$d" '{ printf "  %s thread %-16s user %d sys %d\n", d, $1, $13, $14 }' >&2
        done
    fi
    hwm=$(kib "$dpid" VmHWM)
    est=$(sed -n 's/.*"established","t":\([0-9]*\).*/\1/p' "$dir/feeder.out")
    k=$(kernel_routes "$ns")
    # DUMP=path: the kernel's table 100 after the load, to DUMP.DAEMON.ROUND
    [ -z "${DUMP:-}" ] || ip -n "$ns" -4 route show table 100 > "$DUMP.$d.$round"
    local gone=""
    if [ -n "${WITHDRAW:-}" ] && [ -n "$done_ms" ]; then
        # The feeder goes away (its socket closes): the session is down at once.
        local t0 c0 left
        if [ -n "${PERF:-}" ]; then # and of the withdrawal: $PERF.DAEMON.ROUND.withdraw
            perf record -q -F 999 -g -p "$dpid" -o "$PERF.$d.$round.withdraw" 2>/dev/null &
            perfpid=$!
            sleep 0.5
        fi
        c0=$(cpu_ms "$dpid")
        t0=$(ms)
        kill "$fpid" 2>/dev/null || true
        wait "$fpid" 2>/dev/null || true
        wait_zero "$d" "$dir" "$ns"
        left=$(kernel_routes "$ns")
        [ -z "$perfpid" ] || { kill -INT "$perfpid"; wait "$perfpid" || true; }
        if [ -n "${THREADS:-}" ]; then # per thread after the withdrawal: user and system CPU
            for t in /proc/"$dpid"/task/*; do
                awk '{ sub(/^[0-9]+ \(/, ""); sub(/\) /, " "); print }' "$t/stat" |
                    awk -v d="$d" '{ printf "  %s thread %-16s user %d sys %d (after the withdrawal)\n", d, $1, $13, $14 }' >&2
            done
        fi
        if [ -z "$ZERO_MS" ] || [ "$left" -ne 0 ]; then
            echo "$d round $round: withdrawal incomplete (kernel $left routes)" >&2
            gone=" - - -"
        else
            gone=" $((ZERO_MS - t0)) $(( $(cpu_ms "$dpid") - c0 )) $SLOW_MS"
        fi
    fi
    kill "$fpid" "$dpid" 2>/dev/null || true
    wait "$fpid" "$dpid" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    if [ -z "$done_ms" ] || [ -z "$est" ]; then
        echo "$d round $round: incomplete (last count ${n:-none}, kernel $k)" >&2
        return 1
    fi
    if [ "$k" -lt "$PREFIXES" ]; then
        echo "$d round $round: daemon said $n but the kernel has $k routes in table 100" >&2
        return 1
    fi
    record "$round" "$d $((done_ms - est)) $((cpu1 - cpu0)) $hwm $base $k$gone" \
        "(load $(cut -d' ' -f1-3 /proc/loadavg))"
}

results_init
for round in $(seq 1 "$ROUNDS"); do
    for d in $DAEMONS; do
        measure "$d" "$round" || echo "$d round $round failed" >&2
    done
done

echo
echo "| daemon | Established → $PREFIXES in kernel (s) min–max [median] | daemon CPU (s) | peak RSS (MiB) max | vs BIRD (median) |"
echo "|---|---|---|---|---|"
bird_med=$(awk '$1=="bird"{print $2}' "$RESULTS" | sort -n | awk '{a[NR]=$1} END{if(NR) print a[int((NR+1)/2)]}')
for d in $DAEMONS; do
    awk -v d="$d" -v bm="${bird_med:-0}" '
        $1==d { w[++k]=$2; c[k]=$3; h[k]=$4 }
        function srt(a, m,   i, j, t) { for (i=1;i<=m;i++) for (j=i+1;j<=m;j++) if (a[j]<a[i]) {t=a[i];a[i]=a[j];a[j]=t} }
        END {
            if (!k) exit
            srt(w,k); srt(c,k); srt(h,k)
            med=w[int((k+1)/2)]
            ratio=(bm>0)? sprintf("%.2f×", med/bm) : "–"
            printf "| %s | %.2f–%.2f [%.2f] | %.2f–%.2f | %.0f | %s |\n", d, w[1]/1000, w[k]/1000, med/1000, c[1]/1000, c[k]/1000, h[k]/1024, ratio
        }' "$RESULTS"
done
if [ -n "${WITHDRAW:-}" ]; then
    echo
    echo "| daemon | feeder gone → table 100 empty (s) min–max [median] | daemon CPU (s) min–max | slowest status answer meanwhile (ms) min–max |"
    echo "|---|---|---|---|"
    for d in $DAEMONS; do
        awk -v d="$d" '
            $1==d && $7 != "-" && $7 != "" { w[++k]=$7; c[k]=$8; q[k]=$9 }
            function srt(a, m,   i, j, t) { for (i=1;i<=m;i++) for (j=i+1;j<=m;j++) if (a[j]<a[i]) {t=a[i];a[i]=a[j];a[j]=t} }
            END {
                if (!k) exit
                srt(w,k); srt(c,k); srt(q,k)
                printf "| %s | %.2f–%.2f [%.2f] | %.2f–%.2f | %s–%s |\n", d, w[1]/1000, w[k]/1000, w[int((k+1)/2)]/1000, c[1]/1000, c[k]/1000, q[1], q[k]
            }' "$RESULTS"
    done
fi
echo
echo "raw (daemon wall_ms cpu_ms VmHWM_KiB RSS_before_KiB kernel_routes [withdraw_ms withdraw_cpu_ms slowest_answer_ms]):"
cat "$RESULTS"
