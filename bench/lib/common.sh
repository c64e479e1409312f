# Shared by the benchmark scripts (bench/fib, bench/ingest, bench/ingest_feeders,
# bench/routes, bench/propagation, bench/failover): the exit trap that stops what a
# script started and deletes its namespaces, the clock and /proc readers, the results
# file, and the order of a round's receivers. Source it after setting WORK and the PIDS array (and NS_LIST where used).

# The EXIT trap: bench_cleanup GRACE kill|term [NS...]. TERM to every PID in PIDS, GRACE
# seconds later (with `kill`) KILL to any still there; deletes the namespaces NS...;
# removes WORK unless KEEP is set.
bench_cleanup() {
    local grace=$1 hard=$2 p ns
    shift 2
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    sleep "$grace"
    if [ "$hard" = kill ]; then
        for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
    fi
    for ns in "$@"; do [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}

# Milliseconds since the epoch.
ms() { date +%s%3N; }

# utime+stime of PID in ms.
cpu_ms() {
    local f tck
    read -r -a f < "/proc/$1/stat"
    tck=$(getconf CLK_TCK)
    echo $(( (f[13] + f[14]) * 1000 / tck ))
}

# Time the hypervisor ran something else while this machine's CPUs wanted to run (steal,
# all CPUs together, /proc/stat), in ms: a round that saw some is slower for a reason
# that is not the daemon's.
steal_ms() {
    local f tck
    read -r -a f < /proc/stat
    tck=$(getconf CLK_TCK)
    echo $(( f[8] * 1000 / tck ))
}

# A /proc/PID/status field in KiB: kib PID VmRSS|VmHWM.
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# Polls `count_DAEMON DIR` every ${POLL:-0.05} s until the count reaches TARGET, the
# process WATCH stops (WHY is said on stderr, followed by FILE's text when given), or
# TIMEOUT_S passes. Sets COUNT (the last count) and DONE_MS (when TARGET was reached;
# empty if it never was).
wait_count() { # DAEMON DIR TARGET WATCH WHY [FILE]
    local deadline=$(( $(ms) + TIMEOUT_S * 1000 ))
    COUNT="" DONE_MS=""
    while [ "$(ms)" -lt "$deadline" ]; do
        COUNT=$("count_$1" "$2" || true)
        if [ -n "$COUNT" ] && [ "$COUNT" -ge "$3" ]; then
            DONE_MS=$(ms)
            return
        fi
        if ! kill -0 "$4" 2>/dev/null; then
            echo "$5${6:+: $(cat "$6")}" >&2
            return
        fi
        sleep "${POLL:-0.05}"
    done
}

# Starts an empty $WORK/results (RESULTS) for record.
results_init() {
    RESULTS="$WORK/results"
    : > "$RESULTS"
}

# One round's measurement: record ROUND LINE [NOTE] shows "round ROUND: LINE [NOTE]" on
# stderr and appends LINE to RESULTS.
record() {
    echo "round $1: $2${3:+ $3}" >&2
    echo "$2" >> "$RESULTS"
}

# ROUND's order of ITEMS (bench/ingest_feeders): rotated by one per round (with two:
# alternating), so that no receiver always runs in the same place of a round (a round's
# later places ran 1.2-2.1x slower on one machine, the same binary too).
rotated() { # ROUND ITEMS...
    local r=$1 i
    shift
    local items=("$@")
    for ((i = 0; i < ${#items[@]}; i++)); do
        echo "${items[$(((r - 1 + i) % ${#items[@]}))]}"
    done
}
