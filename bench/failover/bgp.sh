#!/bin/bash
# BGP failover benchmark (bench/failover): a tern agent and BIRD 2 peer over eBGP across a
# Linux bridge in a third namespace, each advertising one block.
#
# Part A — failover: nftables on the bridge silently drops everything (the links stay
# up); how long until each side's kernel FIB loses the other's route? With BFD (100 ms x 3
# on both sides: tern `bfd: {interval: 100ms, multiplier: 3}`, BIRD `bfd on`) and without
# (hold time 9 s only). Both sides detect the same failure in the same run. Times come from
# `ip -ts monitor route` in each namespace (the kernel's deletion, as it happens), measured
# from the moment `nft` returned.
#
# Part B — graceful restart: a host pings the other's block every 10 ms (from an address of
# its own block) while one daemon restarts: tern with `--graceful-restart` (SIGTERM, new
# agent), tern plainly (SIGTERM without the flag, for comparison), BIRD with `birdc
# graceful restart` then `bird -R`; tern with `--graceful-restart` again with BFD on both
# sides. Counted: pings lost.
#
#   sudo bench/failover/bgp.sh                 # ROUNDS=5 (A with BFD), HOLD_ROUNDS=3, GR_ROUNDS=3
#
# Everything lives in namespaces ternbench-bgp-PID-*, deleted on exit.
set -euo pipefail
ROUNDS=${ROUNDS:-5}
HOLD_ROUNDS=${HOLD_ROUNDS:-3}
GR_ROUNDS=${GR_ROUNDS:-3}
PARTS=${PARTS:-AB}   # A, B or AB
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=ternbench-bgp-$$
WORK=$(mktemp -d /tmp/ternbench-bgp.XXXXXX)
chmod 755 "$WORK"
PIDS=()
. "$ROOT/bench/lib/common.sh"
trap 'bench_cleanup 0.5 term "$P-t" "$P-b" "$P-sw"' EXIT
# A signal ends the run (the EXIT trap cleans up); a handler alone would carry on.
trap 'exit 130' INT TERM

(cd "$ROOT" && cargo build -q --bin tern)
TERN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tern"

for n in t b sw; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip -n "$P-sw" link add br0 type bridge
ip -n "$P-sw" link set br0 up
for h in t b; do
    ip -n "$P-$h" link add eth0 type veth peer name "p$h"
    ip -n "$P-$h" link set "p$h" netns "$P-sw"
    ip -n "$P-sw" link set "p$h" master br0
    ip -n "$P-sw" link set "p$h" up
    ip -n "$P-$h" link set eth0 up
done
ip -n "$P-t" addr add 10.0.0.1/24 dev eth0
ip -n "$P-b" addr add 10.0.0.2/24 dev eth0
# A "container" address of each host's block (on lo) to ping from and to.
ip -n "$P-t" addr add 10.244.1.10/32 dev lo
ip -n "$P-b" addr add 10.244.9.10/32 dev lo

# $1: "bfd", "bfd-graceful" (BIRD: `bfd graceful`) or "" ; $2: graceful restart on BIRD ("on"/"off")
write_configs() {
    local bfd_t="" bfd_b=""
    if [ "$1" = bfd ] || [ "$1" = bfd-graceful ]; then
        bfd_t=", bfd: { interval: 100ms, multiplier: 3 }"
        bfd_b="bfd on;"
    fi
    [ "$1" = bfd-graceful ] && bfd_b="bfd graceful;"
    cat > "$WORK/node.yaml" <<EOF
nodeName: t
asNumber: 64512
routerId: 10.0.0.1
blocks: [10.244.1.0/24]
pools: [10.244.0.0/16]
peers:
  - { peerIP: 10.0.0.2, asNumber: 65000, holdTime: 9s, connectRetryTime: 1s$bfd_t }
control: { socket: "$WORK/tern.sock" }
stateDir: "$WORK/state"
EOF
    cat > "$WORK/bird.conf" <<EOF
router id 10.0.0.2;
log stderr all;
timeformat log "%F %T.%3f";
protocol device { scan time 2; }
protocol static { ipv4; route 10.244.9.0/24 blackhole; }
protocol kernel { ipv4 { export where source = RTS_BGP; }; graceful restart; }
protocol bfd { interface "eth0" { interval 100 ms; multiplier 3; }; }
protocol bgp tern {
  local 10.0.0.2 as 65000; neighbor 10.0.0.1 as 64512;
  hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 5;
  graceful restart $2; $bfd_b
  ipv4 { import all; export where source = RTS_STATIC; };
}
EOF
}

TERN_PID=""
BIRD_PID=""
start_tern() {  # extra args
    ip netns exec "$P-t" env RUST_LOG=info "$TERN" agent --config "$WORK/node.yaml" "$@" \
        >> "$WORK/tern.log" 2>&1 &
    TERN_PID=$!
    PIDS+=("$TERN_PID")
}
start_bird() {  # extra args
    rm -f "$WORK/bird.ctl"
    TZ=UTC ip netns exec "$P-b" bird -f -c "$WORK/bird.conf" -s "$WORK/bird.ctl" \
        -P "$WORK/bird.pid" "$@" 2>> "$WORK/bird.log" &
    BIRD_PID=$!
    PIDS+=("$BIRD_PID")
}
stop_pid() {  # pid: SIGTERM and wait until gone
    kill -TERM "$1" 2>/dev/null || true
    while kill -0 "$1" 2>/dev/null; do sleep 0.01; done
}
now_ms() { date +%s%3N; }
wait_until() {  # SECONDS CMD...
    local end=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || { echo "timed out: $*" >&2; tail -n 20 "$WORK/bird.log" "$WORK/tern.log" >&2; exit 1; }
        sleep 0.05
    done
}
routes_up() {
    ip -n "$P-t" route show 10.244.9.0/24 | grep -q via &&
        ip -n "$P-b" route show 10.244.1.0/24 | grep -q via
}
bfd_up() {
    "$TERN" status --json --socket "$WORK/tern.sock" 2>/dev/null | grep -Eq '"bfd": ?"Up"' &&
        birdc -s "$WORK/bird.ctl" show bfd sessions 2>/dev/null | grep -q "10.0.0.1 .* Up"
}
cut_path() {
    ip netns exec "$P-sw" nft -f - <<'EOF'
table bridge cut {
  chain silence {
    type filter hook forward priority 0; policy drop;
  }
}
EOF
}
heal_path() { ip netns exec "$P-sw" nft delete table bridge cut; }
# Unix ms of the Nth "Deleted PREFIX" line in an `ip -ts monitor` log.
deleted_ms() {  # file prefix n
    grep "Deleted $2" "$1" | sed -n "${3}p" | python3 -c 'import sys,datetime
l=sys.stdin.read()
ts=l[l.index("[")+1:l.index("]")]
print(int(datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f").timestamp()*1000))'
}
count_deleted() { grep -c "Deleted $2" "$1" || true; }
deleted_at_least() { [ "$(count_deleted "$1" "$2")" -ge "$3" ]; }

echo "machine: $(nproc) cores, kernel $(uname -r), $(bird --version 2>&1), tern (debug build)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- part A
partA() {  # mode rounds
    local mode=$1 rounds=$2
    write_configs "$mode" off
    : > "$WORK/tern.log"; : > "$WORK/bird.log"
    start_bird
    start_tern
    ip -ts -n "$P-t" monitor route > "$WORK/mon-t.log" 2>&1 &
    PIDS+=($!); local mt=$!
    ip -ts -n "$P-b" monitor route > "$WORK/mon-b.log" 2>&1 &
    PIDS+=($!); local mb=$!
    echo
    echo "### Part A, $([ "$mode" = bfd ] && echo "BFD 100 ms x 3 + hold 9 s" || echo "hold time 9 s, no BFD")"
    echo
    echo "| round | BIRD's route left tern's FIB (ms) | tern's route left BIRD's FIB (ms) |"
    echo "|---|---|---|"
    local T=() B=()
    for r in $(seq 1 "$rounds"); do
        wait_until 60 routes_up
        [ "$mode" = bfd ] && wait_until 60 bfd_up
        sleep 2
        # Deletions seen so far (a session that flapped between rounds adds some).
        local nt nb
        nt=$(( $(count_deleted "$WORK/mon-t.log" 10.244.9.0/24) + 1 ))
        nb=$(( $(count_deleted "$WORK/mon-b.log" 10.244.1.0/24) + 1 ))
        routes_up || { echo "| $r | (a route left before the cut: round skipped) | |"; continue; }
        cut_path
        local t1; t1=$(now_ms)
        wait_until 60 deleted_at_least "$WORK/mon-t.log" 10.244.9.0/24 "$nt"
        wait_until 60 deleted_at_least "$WORK/mon-b.log" 10.244.1.0/24 "$nb"
        local td=$(( $(deleted_ms "$WORK/mon-t.log" 10.244.9.0/24 "$nt") - t1 ))
        local bd=$(( $(deleted_ms "$WORK/mon-b.log" 10.244.1.0/24 "$nb") - t1 ))
        T+=("$td"); B+=("$bd")
        echo "| $r | $td | $bd |"
        heal_path
    done
    python3 - "${T[*]}" "${B[*]}" <<'PY'
import sys, statistics as st
for name, xs in (("tern (BIRD's route out of tern's FIB)", sys.argv[1]), ("BIRD (tern's route out of BIRD's FIB)", sys.argv[2])):
    v = [int(x) for x in xs.split()]
    if not v:
        print(f"\n{name}: no rounds", end="")
        continue
    print(f"\n{name}: min {min(v)} ms, median {st.median(v):.0f} ms, max {max(v)} ms over {len(v)} rounds", end="")
print()
PY
    kill "$mt" "$mb" 2>/dev/null || true
    stop_pid "$TERN_PID"
    stop_pid "$BIRD_PID"
    ip -n "$P-t" route flush proto 201 2>/dev/null || true
}
if [[ "$PARTS" == *A* ]]; then
partA bfd "$ROUNDS"
partA hold "$HOLD_ROUNDS"
fi
[[ "$PARTS" == *B* ]] || exit 0

# ---------------------------------------------------------------- part B
echo
echo "### Part B, pings lost across a restart (10 ms interval, 1,500 pings, restart after 2 s)"
echo
echo "| restart | round | sent | received | lost | back Established after (ms) |"
echo "|---|---|---|---|---|---|"
write_configs "" on
: > "$WORK/tern.log"; : > "$WORK/bird.log"
start_bird
start_tern --graceful-restart
tern_established() {
    "$TERN" status --json --socket "$WORK/tern.sock" 2>/dev/null | grep -Eq '"state": ?"Established"'
}
bird_established() {
    birdc -s "$WORK/bird.ctl" show protocols tern 2>/dev/null | grep -q Established
}
ping_round() {  # label round restart-function
    wait_until 60 routes_up
    wait_until 60 tern_established
    wait_until 60 bird_established
    sleep 1
    ip netns exec "$P-t" ping -n -q -i 0.01 -W 1 -c 1500 -I 10.244.1.10 10.244.9.10 \
        > "$WORK/ping.log" 2>&1 &
    local ping=$!
    sleep 2
    local t0; t0=$(now_ms)
    "$3"
    wait_until 60 tern_established
    wait_until 60 bird_established
    local back=$(( $(now_ms) - t0 ))
    wait "$ping" || true
    local line; line=$(grep "packets transmitted" "$WORK/ping.log")
    local sent recv
    sent=$(echo "$line" | awk '{print $1}')
    recv=$(echo "$line" | awk '{print $4}')
    echo "| $1 | $2 | $sent | $recv | $((sent - recv)) | $back |"
}
restart_tern_gr() { stop_pid "$TERN_PID"; start_tern --graceful-restart; }
restart_bird_gr() {
    birdc -s "$WORK/bird.ctl" graceful restart > /dev/null 2>&1 || true
    while kill -0 "$BIRD_PID" 2>/dev/null; do sleep 0.01; done
    start_bird -R
}
for r in $(seq 1 "$GR_ROUNDS"); do ping_round "tern --graceful-restart" "$r" restart_tern_gr; done
for r in $(seq 1 "$GR_ROUNDS"); do ping_round "BIRD graceful restart + bird -R" "$r" restart_bird_gr; done
# tern stopped without the flag (Cease): for comparison.
stop_pid "$TERN_PID"; start_tern
restart_tern_plain_real() { stop_pid "$TERN_PID"; start_tern; }
for r in $(seq 1 "$GR_ROUNDS"); do ping_round "tern plain SIGTERM (Cease)" "$r" restart_tern_plain_real; done
# BFD on both sides: the stopping agent's AdminDown must keep BIRD's BGP session in
# graceful restart (RFC 5882 3.2) instead of tearing it down.
write_configs bfd on
birdc -s "$WORK/bird.ctl" configure > /dev/null
stop_pid "$TERN_PID"; start_tern --graceful-restart
wait_until 60 bfd_up
for r in $(seq 1 "$GR_ROUNDS"); do ping_round "tern --graceful-restart, BFD on both sides (BIRD bfd on)" "$r" restart_tern_gr; done
# BIRD ends its BGP session when the neighbour's BFD goes AdminDown, unless told to treat
# a BFD down as a graceful restart (`bfd graceful`).
write_configs bfd-graceful on
birdc -s "$WORK/bird.ctl" configure > /dev/null
wait_until 60 bfd_up
for r in $(seq 1 "$GR_ROUNDS"); do ping_round "tern --graceful-restart, BFD on both sides (BIRD bfd graceful)" "$r" restart_tern_gr; done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
