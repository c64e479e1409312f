#!/bin/bash
# BFD detection benchmark (the pure-BFD part of bench/failover): how long after a path
# silently stops forwarding does each side declare the neighbour down? tern's BFD driver
# (bfd/examples/bfdping.rs) and BIRD 2 (`protocol bfd`) run a session with each other at
# 100 ms x 3 across a Linux bridge; nftables on the bridge then drops UDP 3784 both ways
# (the links stay up), so both sides detect the same failure in the same run.
#
#   sudo bench/failover/bfd.sh              # ROUNDS=10, INTERVAL=100 (ms), MULT=3
#   ROUNDS=30 INTERVAL=50 sudo bench/failover/bfd.sh
#
# tern's time is the `down` event's timestamp from bfdping; BIRD's comes from its own log
# line "Session to ... changed state from Up to Down" (millisecond timestamps). Both are
# measured from the moment `nft` returned (the rule is live a little before that; the
# table shows how long `nft` took). Everything lives in namespaces
# ternbench-bfd-PID-*, deleted on exit.
set -euo pipefail
ROUNDS=${ROUNDS:-10}
INTERVAL=${INTERVAL:-100}
MULT=${MULT:-3}
PROFILE=${PROFILE:-debug}   # the work is timer-bound; `release` builds with LTO
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=ternbench-bfd-$$
WORK=$(mktemp -d /tmp/ternbench-bfd.XXXXXX)
chmod 755 "$WORK"
PIDS=()
. "$ROOT/bench/lib/common.sh"
trap 'bench_cleanup 0.3 term "$P-t" "$P-d" "$P-sw"' EXIT
# A signal ends the run (the EXIT trap cleans up); a handler alone would carry on.
trap 'exit 130' INT TERM

if [ "$PROFILE" = release ]; then
    (cd "$ROOT" && cargo build --release -q -p bfd --example bfdping)
else
    (cd "$ROOT" && cargo build -q -p bfd --example bfdping)
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/examples/bfdping"

for n in t d sw; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip -n "$P-sw" link add br0 type bridge
ip -n "$P-sw" link set br0 up
for h in t d; do
    ip -n "$P-$h" link add eth0 type veth peer name "p$h"
    ip -n "$P-$h" link set "p$h" netns "$P-sw"
    ip -n "$P-sw" link set "p$h" master br0
    ip -n "$P-sw" link set "p$h" up
    ip -n "$P-$h" link set eth0 up
done
ip -n "$P-t" addr add 10.78.0.1/24 dev eth0
ip -n "$P-d" addr add 10.78.0.2/24 dev eth0

cat > "$WORK/bird.conf" <<EOF
router id 10.78.0.2;
log stderr all;
timeformat log "%F %T.%3f";
protocol device { scan time 2; }
protocol bfd {
  debug { events };
  interface "eth0" { interval $INTERVAL ms; multiplier $MULT; };
  neighbor 10.78.0.1;
}
EOF
TZ=UTC ip netns exec "$P-d" bird -f -c "$WORK/bird.conf" -s "$WORK/bird.ctl" -P "$WORK/bird.pid" \
    2> "$WORK/bird.log" &
PIDS+=($!)
ip netns exec "$P-t" "$BIN" --local 10.78.0.1 --peer 10.78.0.2 --interval-ms "$INTERVAL" \
    --multiplier "$MULT" > "$WORK/tern.log" 2>&1 &
PIDS+=($!)

now_ms() { date +%s%3N; }
bird_state() { birdc -s "$WORK/bird.ctl" show bfd sessions 2>/dev/null | awk '$1=="10.78.0.1" {print $3}'; }
count() { grep -c "\"event\":\"$1\"" "$WORK/tern.log" || true; }
# Unix ms of the Nth "changed state from Up to Down" line in BIRD's log (UTC times).
bird_down_ms() {
    grep "changed state from Up to Down" "$WORK/bird.log" | sed -n "${1}p" |
        python3 -c 'import sys,datetime
l=sys.stdin.read().split()
t=datetime.datetime.strptime(l[0]+" "+l[1], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
print(int(t.timestamp()*1000))'
}
wait_until() {  # SECONDS CMD...
    local end=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || { echo "timed out: $*" >&2; tail -n 5 "$WORK/bird.log" "$WORK/tern.log" >&2; exit 1; }
        sleep 0.05
    done
}
both_up() { [ "$(bird_state)" = Up ] && [ "$(count up)" -gt "$(count down)" ]; }
bird_downs() { [ "$(grep -c 'changed state from Up to Down' "$WORK/bird.log" || true)" -ge "$1" ]; }
tern_downs() { [ "$(count down)" -ge "$1" ]; }

echo "machine: $(nproc) cores, kernel $(uname -r), $(bird --version 2>&1), bfdping ($PROFILE)"
echo "session: ${INTERVAL} ms x ${MULT} both ways (detection time $((INTERVAL * MULT)) ms), rounds: $ROUNDS"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| round | tern down after (ms) | BIRD down after (ms) | tern diag | nft took (ms) |"
echo "|---|---|---|---|---|"
T=(); B=()
for r in $(seq 1 "$ROUNDS"); do
    wait_until 60 both_up
    sleep 1
    t0=$(now_ms)
    ip netns exec "$P-sw" nft -f - <<'EOF'
table bridge bfdcut {
  chain drop3784 {
    type filter hook forward priority 0;
    udp dport 3784 drop
  }
}
EOF
    t1=$(now_ms)
    wait_until 30 tern_downs "$r"
    wait_until 30 bird_downs "$r"
    line=$(grep '"event":"down"' "$WORK/tern.log" | sed -n "${r}p")
    td=$(( $(echo "$line" | python3 -c 'import sys,json; print(json.load(sys.stdin)["unix_ms"])') - t1 ))
    diag=$(echo "$line" | python3 -c 'import sys,json; print(json.load(sys.stdin)["diag_code"])')
    bd=$(( $(bird_down_ms "$r") - t1 ))
    T+=("$td"); B+=("$bd")
    echo "| $r | $td | $bd | $diag | $((t1 - t0)) |"
    ip netns exec "$P-sw" nft delete table bridge bfdcut
done
echo
python3 - "${T[*]}" "${B[*]}" <<'PY'
import sys, statistics as st
for name, xs in (("tern", sys.argv[1]), ("BIRD", sys.argv[2])):
    v = [int(x) for x in xs.split()]
    print(f"{name}: min {min(v)} ms, median {st.median(v):.0f} ms, max {max(v)} ms over {len(v)} rounds")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
