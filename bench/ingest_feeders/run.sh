#!/usr/bin/env bash
# Full-table ingest with feeders that are not tern's own: tern agent (FIB off) vs BIRD,
# alternating, fed the same 1,000,000 routes by a real router implementation.
#
#   bird:  BIRD 2 itself, exporting a static table (gen.py: DFZ-like lengths, ~5,000
#          attribute sets made by its export filter from a per-route key), i.e. BIRD's
#          own UPDATE packing (one attribute set per UPDATE, up to 4096 octets).
#   gobgp: gobgpd with the same table loaded by `gobgp mrt inject global` (MRT
#          TABLE_DUMP_V2 written by gen.py), i.e. GoBGP's UPDATE packing and pacing.
#   tern:  the project's own feeder (bgp/examples/feeder.rs, its own table), for
#          comparison with bench/ingest.
#   bird-replay, gobgp-replay: what BIRD / GoBGP sent, recorded once by capture.py right
#          after their live rounds and sent again byte for byte by `feeder --replay` at
#          full speed: the router's real UPDATE packing without its pacing, so the time
#          is the receiver's own (a live router feeder bounds both receivers by its
#          send rate).
#
# Two namespaces joined by a veth pair: the feeder (10.0.0.2, passive) and the receiver
# (10.0.0.1, connects). The feeder is loaded once per feeder phase; each round starts a
# fresh receiver. Timed on the receiver: from its own Established (tern: the agent's
# "BGP session established" log line; BIRD: `show protocols` since, in ms) until it
# counts all routes (tern: `tern status --json` accepted; BIRD: the protocol's
# imported-routes counter, which does not walk the table), polled every 25 ms. Also the
# receiver's CPU over that window and its peak RSS.
#
# Usage: bench/ingest_feeders/run.sh [PAIRS] [FEEDERS...]   (default 5, bird gobgp)
#   TERN=path/to/tern (default target/release/tern), PREFIXES (default 1000000).
#   TERN_OLD=path/to/another/tern adds that build as a third receiver, `tern_old`, for a
#   before/after in the same run (each round then takes the receivers in a rotated
#   order); RECEIVERS="tern tern_old" leaves BIRD out. KEEP=1 keeps the work directory
#   (with the recordings bird.wire, gobgp.wire); WIRES=that/dir and the feeder
#   bird-replay (or gobgp-replay) replay a kept recording without loading the router.
# Needs root, iproute2, bird2, gobgp/gobgpd, python3. Bounded: every wait has a timeout.
set -euo pipefail

PAIRS=${1:-5}
shift || true
FEEDERS=${*:-bird gobgp}
PREFIXES=${PREFIXES:-1000000}
SETS=${SETS:-5000}
POLL=0.025
TIMEOUT_S=${TIMEOUT_S:-120}
LOAD_TIMEOUT_S=${LOAD_TIMEOUT_S:-600}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TERN=${TERN:-$ROOT/target/release/tern}
FEEDER_BIN=${FEEDER_BIN:-$ROOT/target/release/examples/feeder}
WORK=$(mktemp -d /tmp/bench-feeders.XXXXXX)
chmod 755 "$WORK"
NSF="bench-feed-$$-f"
NSR="bench-feed-$$-r"
PIDS=()
. "$ROOT/bench/lib/common.sh"
. "$ROOT/bench/lib/daemons.sh"
trap 'bench_cleanup 0.3 kill "$NSF" "$NSR"' EXIT
# A signal ends the run (the EXIT trap cleans up); a handler alone would carry on.
trap 'exit 130' INT TERM

# ISO-8601 time (with fraction, optional Z) -> ms since the epoch.
iso_ms() { date -d "$1" +%s%3N; }

ip netns add "$NSF"
ip netns add "$NSR"
ip -n "$NSF" link set lo up
ip -n "$NSR" link set lo up
ip link add "bf$$" netns "$NSF" type veth peer name "br$$" netns "$NSR"
ip -n "$NSF" addr add 10.0.0.2/24 dev "bf$$"
ip -n "$NSR" addr add 10.0.0.1/24 dev "br$$"
ip -n "$NSF" link set "bf$$" up
ip -n "$NSR" link set "br$$" up

case " $FEEDERS " in
*" bird "* | *" gobgp "*)
    echo "generating the table ($PREFIXES prefixes, $SETS attribute sets)" >&2
    python3 "$ROOT/bench/ingest_feeders/gen.py" "$WORK/table" "$PREFIXES" "$SETS" >&2
    ;;
esac

# --- feeders -------------------------------------------------------------------------
start_feeder_bird() {
    cat > "$WORK/feed-bird.conf" <<CONF
router id 10.255.0.1;
protocol device {}
include "$WORK/table/static.conf";
protocol bgp receiver {
    local 10.0.0.2 as 65001;
    neighbor 10.0.0.1 as 64512;
    passive on;
    hold time 240;
    error wait time 1, 2;
    ipv4 { import none; export filter feed_out; next hop self; };
}
CONF
    ip netns exec "$NSF" bird -f -c "$WORK/feed-bird.conf" -s "$WORK/feed-bird.ctl" \
        > "$WORK/feed-bird.log" 2>&1 &
    FPID=$!
    PIDS+=("$FPID")
    local deadline=$(( $(ms) + LOAD_TIMEOUT_S * 1000 )) n="" t0
    t0=$(ms)
    while [ "$(ms)" -lt "$deadline" ]; do
        n=$(bird_imported "$WORK/feed-bird.ctl" feed | head -n 1 || true)
        if [ -n "$n" ] && [ "$n" -ge "$PREFIXES" ]; then
            echo "bird feeder: $n routes loaded in $(( $(ms) - t0 )) ms" >&2
            EXPECT=$PREFIXES
            return 0
        fi
        sleep 1
    done
    echo "BIRD feeder did not load the table (last count ${n:-none})" >&2
    return 1
}
feeder_idle_bird() {
    ! birdc -s "$WORK/feed-bird.ctl" show protocols receiver 2>/dev/null | grep -q Established
}

start_feeder_gobgp() {
    {
        gobgp_toml 65001 10.255.0.1 10.0.0.2 10.0.0.1 64512
        cat <<CONF
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = 240
    idle-hold-time-after-reset = 1
CONF
    } > "$WORK/feed-gobgp.toml"
    ip netns exec "$NSF" gobgpd -f "$WORK/feed-gobgp.toml" --api-hosts 127.0.0.1:50051 \
        > "$WORK/feed-gobgp.log" 2>&1 &
    FPID=$!
    PIDS+=("$FPID")
    sleep 2
    # `gobgp mrt inject` (3.10) loses ~1-2 % of the paths it streams, at random: inject
    # twice (re-adding a path only replaces it) and take what gobgpd holds as the table.
    local t0 n="" i
    t0=$(ms)
    for i in 1 2; do
        timeout "$LOAD_TIMEOUT_S" ip netns exec "$NSF" gobgp -u 127.0.0.1 -p 50051 \
            mrt inject global "$WORK/table/table.mrt" >> "$WORK/inject.log" 2>&1
        sleep 1
        n=$(ip netns exec "$NSF" gobgp -u 127.0.0.1 -p 50051 global rib summary -a ipv4 2>/dev/null |
            sed -n 's/.*Destination: \([0-9]*\).*/\1/p' || true)
        echo "gobgp feeder: ${n:-?} routes after inject $i, $(( $(ms) - t0 )) ms" >&2
        [ -n "$n" ] && [ "$n" -ge "$PREFIXES" ] && break
    done
    [ -n "$n" ] && [ "$n" -gt 0 ] && EXPECT=$n
}
feeder_idle_gobgp() {
    ! ip netns exec "$NSF" gobgp -u 127.0.0.1 -p 50051 neighbor 2>/dev/null | grep -q Establ
}

# The project's own feeder listens and serves one receiver per process: restarted per
# round (it pre-encodes its table before it listens, so the restart is not timed).
start_feeder_tern() { FPID=""; EXPECT=$PREFIXES; }
feeder_idle_tern() {
    [ -n "${FPID:-}" ] && { kill "$FPID" 2>/dev/null || true; wait "$FPID" 2>/dev/null || true; }
    ip netns exec "$NSF" "$FEEDER_BIN" --listen 10.0.0.2:179 --next-hop 10.0.0.2 \
        --prefixes "$PREFIXES" --stay 600 --timeout 120 > "$WORK/feed-tern.out" 2> "$WORK/feed-tern.err" &
    FPID=$!
    PIDS+=("$FPID")
    local t=$(( $(ms) + 60000 ))
    until grep -q encoded "$WORK/feed-tern.out" 2>/dev/null; do
        [ "$(ms)" -lt "$t" ] || return 1
        sleep 0.2
    done
}

# Replays of a live feeder's recording ($WORK/FEEDER.wire): one feeder process per round.
replay_round() {
    [ -n "${FPID:-}" ] && { kill "$FPID" 2>/dev/null || true; wait "$FPID" 2>/dev/null || true; }
    ip netns exec "$NSF" "$FEEDER_BIN" --listen 10.0.0.2:179 --replay "$1" \
        --stay 600 --timeout 120 > "$WORK/feed-replay.out" 2> "$WORK/feed-replay.err" &
    FPID=$!
    PIDS+=("$FPID")
    local t=$(( $(ms) + 60000 ))
    until grep -q encoded "$WORK/feed-replay.out" 2>/dev/null; do
        [ "$(ms)" -lt "$t" ] || { cat "$WORK/feed-replay.err" >&2; return 1; }
        sleep 0.2
    done
    [ -n "$EXPECT" ] ||
        EXPECT=$(sed -n 's/.*"encoded".*"prefixes":\([0-9]*\).*/\1/p' "$WORK/feed-replay.out")
}
feeder_idle_bird-replay() { replay_round "$WORK/bird.wire"; }
feeder_idle_gobgp-replay() { replay_round "$WORK/gobgp.wire"; }
# A recording kept from an earlier run (KEEP=1 leaves the work directory): WIRES=DIR
# with the feeder bird-replay or gobgp-replay replays DIR/bird.wire or DIR/gobgp.wire
# without loading the router (the expected count is what the recording announces).
start_recorded() {
    [ -f "${WIRES:-}/$1.wire" ] || { echo "no recording ${WIRES:-(WIRES unset)}/$1.wire" >&2; return 1; }
    ln -sf "$(realpath "$WIRES/$1.wire")" "$WORK/$1.wire"
    FPID=""
    EXPECT=""
}
start_feeder_bird-replay() { start_recorded bird; }
start_feeder_gobgp-replay() { start_recorded gobgp; }

# Records what the live feeder $1 sends into $WORK/$1.wire (it must be idle).
capture() {
    local t=$(( $(ms) + 60000 ))
    until "feeder_idle_$1"; do
        [ "$(ms)" -lt "$t" ] || return 1
        sleep 0.2
    done
    sleep 1
    ip netns exec "$NSR" timeout 600 python3 "$ROOT/bench/ingest_feeders/capture.py" \
        10.0.0.2 10.0.0.1 "$WORK/$1.wire" "$EXPECT" 60 500 >&2
}

# --- receivers: start_X DIR -> DPID; count_X DIR; est_X DIR -> ms of Established -------
start_tern() {
    cat > "$1/node.yaml" <<CONF
nodeName: bench
asNumber: 64512
routerId: 10.255.0.2
listen: { address: 10.0.0.1, port: 179 }
blocks: []
pools: [0.0.0.0/0]
nodeToNodeMesh: { enabled: false }
peers:
  - { peerIP: 10.0.0.2, asNumber: 65001, holdTime: 240s }
fib: { enabled: false }
metrics: { listen: 127.0.0.1:9469 }
control: { socket: $1/tern.sock }
CONF
    RUST_LOG=info ip netns exec "$NSR" "$TERN" agent --config "$1/node.yaml" > "$1/agent.log" 2>&1 &
    DPID=$!
}
# Another build of tern (TERN_OLD), for before/after in the same run.
start_tern_old() { TERN="$TERN_OLD" start_tern "$@"; }
count_tern_old() { count_tern "$@"; }
est_tern_old() { est_tern "$@"; }

count_tern() {
    "$TERN" status --json --socket "$1/tern.sock" 2>/dev/null |
        tr -d ' \n' | sed -n 's/.*"accepted":\([0-9]*\).*/\1/p' | head -n 1
}
est_tern() {
    local t
    t=$(grep -m1 "BGP session established" "$1/agent.log" | sed 's/\x1b\[[0-9;]*m//g' | awk '{print $1}')
    [ -n "$t" ] && iso_ms "$t"
}

start_bird() {
    cat > "$1/bird.conf" <<CONF
router id 10.255.0.2;
timeformat protocol iso long ms;
protocol device {}
protocol bgp feeder {
    local 10.0.0.1 as 64512;
    neighbor 10.0.0.2 as 65001;
    hold time 240;
    connect delay time 1;
    ipv4 { import all; export none; };
}
CONF
    run_bird "$NSR" "$1"
}
count_bird() { bird_imported "$1/bird.ctl" feeder | head -n 1; }
est_bird() {
    local t
    t=$(birdc -s "$1/bird.ctl" show protocols feeder 2>/dev/null |
        awk '$1 == "feeder" && $7 == "Established" {print $5 " " $6}')
    [ -n "$t" ] && iso_ms "$t"
}

# One measurement: appends "feeder receiver wall_ms cpu_ms hwm_kib feeder_cpu_ms
# steal_ms" to $RESULTS (the feeder's CPU from the receiver's start to its count: how
# busy the feeder itself was; steal: the hypervisor's, both CPUs, same window).
measure() {
    local f=$1 d=$2 round=$3 dir
    dir="$WORK/$f.$d.$round"
    mkdir -p "$dir"
    chmod 755 "$dir"
    local t_idle=$(( $(ms) + 60000 ))
    until "feeder_idle_$f"; do
        [ "$(ms)" -lt "$t_idle" ] || { echo "feeder still Established" >&2; return 1; }
        sleep 0.2
    done
    sleep 1
    "start_$d" "$dir"
    local dpid=$DPID
    PIDS+=("$dpid")
    local cpu0 fcpu0 st0
    cpu0=$(cpu_ms "$dpid")
    fcpu0=$(cpu_ms "$FPID" 2>/dev/null || echo 0)
    st0=$(steal_ms)
    wait_count "$d" "$dir" "$EXPECT" "$dpid" "$d exited"
    local n=$COUNT done_ms=$DONE_MS
    local cpu1 fcpu1 hwm est st1
    st1=$(steal_ms)
    cpu1=$(cpu_ms "$dpid")
    fcpu1=$(cpu_ms "$FPID" 2>/dev/null || echo 0)
    hwm=$(kib "$dpid" VmHWM)
    est=$("est_$d" "$dir" || true)
    kill "$dpid" 2>/dev/null || true
    wait "$dpid" 2>/dev/null || true
    if [ -z "$done_ms" ] || [ -z "$est" ]; then
        echo "$f/$d round $round: incomplete (last count ${n:-none}, est ${est:-none})" >&2
        return 1
    fi
    record "$round" "$f $d $((done_ms - est)) $((cpu1 - cpu0)) $hwm $((fcpu1 - fcpu0)) $((st1 - st0))"
}

# The receivers, each round in an order rotated by one (with two: alternating).
if [ -n "${TERN_OLD:-}" ]; then
    RECEIVERS=${RECEIVERS:-tern_old tern bird}
else
    RECEIVERS=${RECEIVERS:-tern bird}
fi

rounds() { # FEEDER: PAIRS rounds, rotating which receiver goes first
    local f=$1 round d
    for round in $(seq 1 "$PAIRS"); do
        # shellcheck disable=SC2086 # RECEIVERS is a list of words
        for d in $(rotated "$round" $RECEIVERS); do
            measure "$f" "$d" "$round" || echo "$f/$d round $round failed" >&2
        done
    done
}

results_init
SHOWN=""
for f in $FEEDERS; do
    echo "feeder $f: loading" >&2
    EXPECT=""
    "start_feeder_$f" || { echo "feeder $f did not load" >&2; continue; }
    echo "$f: $EXPECT routes to receive" >&2
    SHOWN="$SHOWN $f"
    [ -n "${REPLAY_ONLY:-}" ] && [ "$f" != tern ] || rounds "$f"
    if [ "$f" != tern ] && [ "${f%-replay}" = "$f" ] && [ -z "${NO_REPLAY:-}" ]; then
        if capture "$f"; then
            [ -n "${FPID:-}" ] && { kill "$FPID" 2>/dev/null || true; wait "$FPID" 2>/dev/null || true; }
            FPID=""
            rounds "$f-replay"
            SHOWN="$SHOWN $f-replay"
        else
            echo "could not record $f" >&2
        fi
    fi
    [ -n "${FPID:-}" ] && { kill "$FPID" 2>/dev/null || true; wait "$FPID" 2>/dev/null || true; }
    FPID=""
done
FEEDERS=$SHOWN

echo
echo "| feeder | receiver | wall (s) min–max [median] | receiver CPU (s) min–max | peak RSS (MiB) | feeder CPU (s) min–max |"
echo "|---|---|---|---|---|---|"
for f in $FEEDERS; do
    for d in $RECEIVERS; do
        awk -v f="$f" -v d="$d" '
            $1==f && $2==d { w[++k]=$3; c[k]=$4; h[k]=$5; fc[k]=$6 }
            function srt(a, m,   i, j, t) { for (i=1;i<=m;i++) for (j=i+1;j<=m;j++) if (a[j]<a[i]) {t=a[i];a[i]=a[j];a[j]=t} }
            END { if (!k) exit; srt(w,k); srt(c,k); srt(h,k); srt(fc,k)
                printf "| %s | %s | %.2f–%.2f [%.2f] | %.2f–%.2f | %.0f | %.2f–%.2f |\n", f, d, w[1]/1000, w[k]/1000, (w[int((k+1)/2)] + w[int(k/2)+1])/2000, c[1]/1000, c[k]/1000, h[k]/1024, fc[1]/1000, fc[k]/1000 }' "$RESULTS"
    done
done
echo
# A pair counts as clean when neither of its rounds saw more than STEAL_MAX_MS of steal.
STEAL_MAX_MS=${STEAL_MAX_MS:-20}
ratios() { # FEEDER A B LABEL: A's time over B's, round by round (in run order)
    awk -v f="$1" -v num="$2" -v den="$3" -v l="$4" -v smax="$STEAL_MAX_MS" '
        $1==f && $2==num {t[++a]=$3; ts[a]=$7} $1==f && $2==den {b[++c]=$3; bs[c]=$7}
        function med(x, m,   i, j, y) { for (i=1;i<=m;i++) for (j=i+1;j<=m;j++) if (x[j]<x[i]) {y=x[i];x[i]=x[j];x[j]=y}; return (x[int((m+1)/2)] + x[int(m/2)+1]) / 2 }
        END { n=(a<c)?a:c; s=""; k=0
              for (i=1;i<=n;i++) { r[i]=t[i]/b[i]; s=s sprintf("%.2f%s ", r[i], (ts[i]>smax||bs[i]>smax)?"*":"")
                                   if (ts[i]<=smax && bs[i]<=smax) q[++k]=r[i] }
              if (!n) exit
              printf "%s feeder: %s per pair: %s(median %.2f×", f, l, s, med(r, n)
              if (k) printf "; %d clean pairs: median %.2f×", k, med(q, k)
              printf ")\n" }' "$RESULTS"
}
for f in $FEEDERS; do
    ratios "$f" tern bird tern/BIRD
    ratios "$f" tern tern_old tern/tern_old
done
echo
echo "* a round of the pair saw more than ${STEAL_MAX_MS} ms of steal time (hypervisor)"
echo "raw (feeder receiver wall_ms cpu_ms VmHWM_KiB feeder_cpu_ms steal_ms):"
cat "$RESULTS"
