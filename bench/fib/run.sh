#!/bin/sh
# FIB benchmark: install and remove N IPv4 routes in a namespace made for it, with
# `ip -batch` / `ip route flush proto` (the kernel-bound baseline) and with tern's
# controller (controller/examples/fib_bench.rs), in the same run. Needs root.
#
#   bench/fib/run.sh                 # N=1000000
#   N=100000 bench/fib/run.sh
#   MODE=--replace-all bench/fib/run.sh   # feed tern one ReplaceAll instead of Upserts
#
# Everything happens inside network namespace ternbench-fib-PID, deleted on exit.
set -eu
N=${N:-1000000}
MODE=${MODE:-}
PROTO_IP=202
PROTO_TERN=201
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NS=ternbench-fib-$$
WORK=$(mktemp -d /tmp/ternbench-fib.XXXXXX)
cleanup() {
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

(cd "$ROOT" && cargo build --release -q -p controller --example fib_bench)
BIN="$ROOT/target/release/examples/fib_bench"

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add b0 type veth peer name b1
ip -n "$NS" addr add 192.168.0.1/24 dev b0
ip -n "$NS" link set b0 up
ip -n "$NS" link set b1 up

# The same routes tern installs: 16.0.0.0/24, 16.0.1.0/24, ... via 192.168.0.2.
python3 - "$N" "$PROTO_IP" > "$WORK/routes.batch" <<'PY'
import sys
n, proto = int(sys.argv[1]), sys.argv[2]
out = sys.stdout
for i in range(n):
    a = (16 << 24) + (i << 8)
    out.write(f"route add {a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.0/24 via 192.168.0.2 proto {proto}\n")
PY

# seconds and peak RSS (KiB) out of a `/usr/bin/time -v` report
wall() { python3 -c '
import sys
for l in open(sys.argv[1]):
    if "Elapsed (wall clock)" in l:
        t = l.rsplit(" ", 1)[1].strip().split(":")
        s = 0.0
        for part in t: s = s * 60 + float(part)
        print(f"{s:.2f}")' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), kernel $(uname -r), $(ip -V)"
echo "routes: $N IPv4 /24 via 192.168.0.2 (veth), table main"
echo

/usr/bin/time -v ip -n "$NS" -batch "$WORK/routes.batch" 2> "$WORK/ip-add.time"
got=$(ip -n "$NS" route show proto "$PROTO_IP" | wc -l)
[ "$got" -eq "$N" ] || { echo "ip -batch installed $got of $N"; exit 1; }
/usr/bin/time -v ip -n "$NS" route flush proto "$PROTO_IP" 2> "$WORK/ip-flush.time"
left=$(ip -n "$NS" route show proto "$PROTO_IP" | wc -l)
[ "$left" -eq 0 ] || { echo "ip route flush left $left routes"; exit 1; }
ia=$(wall "$WORK/ip-add.time"); ifl=$(wall "$WORK/ip-flush.time")
echo "ip -batch:            install $ia s ($(python3 -c "print(round($N/$ia))") routes/s), peak RSS $(rss "$WORK/ip-add.time") KiB"
echo "ip route flush proto: remove  $ifl s ($(python3 -c "print(round($N/$ifl))") routes/s), peak RSS $(rss "$WORK/ip-flush.time") KiB"
echo

# shellcheck disable=SC2086
/usr/bin/time -v ip netns exec "$NS" "$BIN" --routes "$N" --protocol "$PROTO_TERN" $MODE 2> "$WORK/tern.time" | tee "$WORK/tern.out"
left=$(ip -n "$NS" route show proto "$PROTO_TERN" | wc -l)
[ "$left" -eq 0 ] || { echo "tern left $left routes"; exit 1; }
echo "tern (whole process): wall $(wall "$WORK/tern.time") s, peak RSS $(rss "$WORK/tern.time") KiB, user $(awk -F': ' '/User time/ {print $2}' "$WORK/tern.time") s, sys $(awk -F': ' '/System time/ {print $2}' "$WORK/tern.time") s"
