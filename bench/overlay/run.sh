#!/bin/bash
# Overlay cost: TCP throughput (iperf3) and ping latency between two containers on two
# hosts, in one run, for
#   veth   a plain veth pair between two namespaces (the ceiling: no host in between)
#   l3     tern, pure L3 (pools Never): container -> host -> host -> container, routed
#   vxlan  tern, vxlanMode: Always: the same path through tern.vxlan
#   ipip   tern, ipipMode: Always (skipped when the kernel has no IPIP)
# Hosts a (10.79.0.1) and b (10.79.0.2) share one veth link (MTU 1500); containers ca
# (10.244.1.10) on a and cb (10.244.2.10) on b are wired the Calico way, with endpoint
# files the agents route. Each mode: ROUNDS iperf3 runs of SECS s (cb serves, ca sends),
# a ping run of PINGS at 10 ms; medians and min–max; CPU is the whole machine's busy
# time during the iperf3 runs (/proc/stat), in cores, and cores per Gbit/s — on a shared,
# loaded machine this is noisy: compare modes within one run only.
#
#   sudo bench/overlay/run.sh                   # ROUNDS=5 SECS=5 PINGS=200
#
# Everything lives in namespaces ternbench-ovl-PID-*, deleted on exit.
set -euo pipefail
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
PINGS=${PINGS:-200}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=ternbench-ovl-$$
WORK=$(mktemp -d /tmp/ternbench-ovl.XXXXXX)
chmod 755 "$WORK"
PIDS=()
NS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

(cd "$ROOT" && cargo build -q -p tern --bin tern)
TERN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tern"

ns() { ip netns add "$P-$1"; NS+=("$P-$1"); ip -n "$P-$1" link set lo up; }
x() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

# iperf3 + ping between namespaces $1 (client) and $2 (server) at $3; prints one line:
# mode gbits_median gbits_min gbits_max cores_median rtt_median_us rtt_p90_us
measure() {
    local mode=$1 cli=$2 srv=$3 ip=$4
    local g=() c=()
    for r in $(seq "$ROUNDS"); do
        x "$srv" iperf3 -s -1 >/dev/null 2>&1 &
        local sp=$!
        sleep 0.3
        read -r b0 t0 < <(busy)
        local json
        json=$(x "$cli" iperf3 -c "$ip" -t "$SECS" -J)
        read -r b1 t1 < <(busy)
        wait "$sp" 2>/dev/null || true
        g+=("$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')")
        local ncpu; ncpu=$(nproc)
        c+=("$(python3 -c "print(($b1-$b0)/max(1,($t1-$t0))*$ncpu)")")
    done
    local rtts
    rtts=$(x "$cli" ping -n -q -c "$PINGS" -i 0.01 "$ip" >/dev/null; x "$cli" ping -n -c "$PINGS" -i 0.01 "$ip" | sed -n 's/.*time=\([0-9.]*\) ms/\1/p')
    python3 - "$mode" "${g[*]}" "${c[*]}" "$rtts" <<'PY'
import statistics as s, sys
mode, g, c, r = sys.argv[1], [float(v) for v in sys.argv[2].split()], [float(v) for v in sys.argv[3].split()], sorted(float(v) for v in sys.argv[4].split())
gm, cm = s.median(g), s.median(c)
p90 = r[int(len(r) * 0.9) - 1]
print(f"| {mode} | {gm:.2f} | {min(g):.2f}–{max(g):.2f} | {cm:.2f} | {cm/gm:.2f} | {s.median(r)*1000:.0f} | {p90*1000:.0f} |")
PY
}

echo "| path | Gbit/s median | min–max | busy cores | cores per Gbit/s | RTT median µs | RTT p90 µs |"
echo "|---|---|---|---|---|---|---|"

# Ceiling: one veth between two namespaces.
ns va; ns vb
ip -n "$P-va" link add eth0 type veth peer name eth0 netns "$P-vb"
ip -n "$P-va" addr add 10.78.0.1/24 dev eth0; ip -n "$P-va" link set eth0 up
ip -n "$P-vb" addr add 10.78.0.2/24 dev eth0; ip -n "$P-vb" link set eth0 up
measure veth va vb 10.78.0.2

has_ipip=yes
ns probe
ip -n "$P-probe" link add t0 type ipip local 10.9.9.9 2>/dev/null || has_ipip=no

run_mode() {
    local mode=$1 pools=$2
    ns a; ns b; ns ca; ns cb
    ip -n "$P-a" link add eth0 type veth peer name eth0 netns "$P-b"
    x a ip addr add 10.79.0.1/24 dev eth0; x a ip link set eth0 up
    x b ip addr add 10.79.0.2/24 dev eth0; x b ip link set eth0 up
    local i=0
    for h in a b; do
        i=$((i + 1))
        local c=c$h me peer
        me=10.79.0.$i; peer=10.79.0.$((3 - i))
        x "$h" sysctl -qw net.ipv4.ip_forward=1
        ip -n "$P-$h" link add "tw-$c" type veth peer name eth0 netns "$P-$c"
        x "$h" ip link set "tw-$c" up
        x "$c" ip addr add "10.244.$i.10/32" dev eth0
        x "$c" ip link set eth0 up
        x "$c" ip route add 169.254.1.1 dev eth0 scope link
        x "$c" ip route add default via 169.254.1.1 dev eth0 onlink
        # Proxy ARP answers only for targets the host has a route to.
        x "$h" ip route add default via "$peer"
        mkdir -p "$WORK/$mode-$h/ep"
        cat > "$WORK/$mode-$h/ep/$c.yaml" <<Y
kind: WorkloadEndpoint
name: $c
namespace: bench
interface: tw-$c
ips: [10.244.$i.10/32]
Y
        cat > "$WORK/$mode-$h/node.yaml" <<Y
nodeName: $h
asNumber: 64512
routerId: $me
blocks: [10.244.$i.0/24]
pools: $pools
nodeToNodeMesh: { enabled: true, peers: [$peer], connectRetryTime: 1s }
endpoints: [$WORK/$mode-$h/ep]
control: { socket: $WORK/$mode-$h/tern.sock }
stateDir: $WORK/$mode-$h/state
Y
        x "$h" "$TERN" agent --config "$WORK/$mode-$h/node.yaml" >"$WORK/$mode-$h.log" 2>&1 &
        PIDS+=($!)
    done
    for _ in $(seq 300); do
        x ca ping -c1 -W1 10.244.2.10 >/dev/null 2>&1 && break
        sleep 0.2
    done
    x ca ping -c1 -W1 10.244.2.10 >/dev/null || { echo "$mode: no path (logs in $WORK)" >&2; cat "$WORK/$mode-a.log" >&2; exit 1; }
    measure "$mode" ca cb 10.244.2.10
    # Stop this mode's agents and namespaces before the next.
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
    for n in a b ca cb; do ip netns del "$P-$n"; done
}

run_mode l3 '[10.244.0.0/16]'
run_mode vxlan '[{ cidr: 10.244.0.0/16, vxlanMode: Always }]'
if [ "$has_ipip" = yes ]; then
    run_mode ipip '[{ cidr: 10.244.0.0/16, ipipMode: Always }]'
else
    echo "| ipip | – (this kernel has no IPIP) | | | | | |"
fi
echo
echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r); ROUNDS=$ROUNDS SECS=$SECS PINGS=$PINGS"
