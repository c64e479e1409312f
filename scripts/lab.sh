#!/usr/bin/env bash
# The tern demo lab (issue 4): pure layer-3 container networking in network namespaces.
#
#   three hosts + a BIRD top-of-rack router on one segment (192.168.100.0/24, fd00:100::/64),
#   two containers per host wired the Calico way, tern agents in a node-to-node mesh that
#   also peer with the ToR. Prints `tern status` and `tern routes` of host-a, BIRD's view,
#   pings between containers on different hosts, and removes everything on exit or Ctrl-C.
#
#   sudo scripts/lab.sh            build (release), run the demo, clean up
#   sudo scripts/lab.sh --keep     same, then keep the lab until Ctrl-C (try the commands it prints)
#   TERN=target/debug/tern sudo -E scripts/lab.sh   use an already built binary
#
# Everything lives in namespaces named ternlab-*; nothing is added to the root namespace.
# Only processes this script started are stopped (by PID). Run time: about 20 s after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

keep=0
[ "${1:-}" = "--keep" ] && keep=1

die() { echo "lab: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces): sudo $0 $*"
for tool in ip bird birdc ping; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh installs it)"
done

if [ -z "${TERN:-}" ]; then
    command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain, or set TERN=/path/to/tern"
    echo "==> cargo build --release --bin tern" >&2
    cargo build --release --quiet --bin tern
    TERN=$repo/target/release/tern
fi
TERN=$(realpath "$TERN")
[ -x "$TERN" ] || die "no tern binary at $TERN"

P=ternlab-
hosts=(a b c)
work=$(mktemp -d /tmp/ternlab.XXXXXX)
pids=()
made_ns=()

cleanup() {
    set +e
    trap - EXIT INT TERM
    echo >&2
    echo "==> cleaning up" >&2
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for _ in $(seq 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    for ns in "${made_ns[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

netns() {  # netns NAME: create, lo up, forwarding on
    local ns=$P$1
    ip netns del "$ns" 2>/dev/null || true   # a leftover of an earlier run killed hard
    ip netns add "$ns"
    made_ns+=("$ns")
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

in_ns() { local ns=$P$1; shift; ip netns exec "$ns" "$@"; }

# veth A_NS A_IF B_NS B_IF: a pair created inside A with its peer moved straight into B.
veth() {
    ip -n "$P$1" link add "$2" type veth peer name "$4" netns "$P$3"
    in_ns "$1" sysctl -qw "net.ipv6.conf.$2.accept_dad=0"
    in_ns "$3" sysctl -qw "net.ipv6.conf.$4.accept_dad=0"
    ip -n "$P$1" link set "$2" up
    ip -n "$P$3" link set "$4" up
}

echo "==> building the lab in namespaces ${P}*" >&2
netns tor
ip -n ${P}tor link add br0 type bridge
in_ns tor sysctl -qw net.ipv6.conf.br0.accept_dad=0
ip -n ${P}tor addr add 192.168.100.254/24 dev br0
ip -n ${P}tor addr add fd00:100::fe/64 dev br0 nodad
ip -n ${P}tor link set br0 up

cp -r "$repo/examples/lab/." "$work/"
for i in 1 2 3; do
    h=${hosts[$((i - 1))]}
    netns "host-$h"
    veth "host-$h" eth0 tor "p$i"
    ip -n ${P}tor link set "p$i" master br0
    ip -n "${P}host-$h" addr add "192.168.100.$i/24" dev eth0
    ip -n "${P}host-$h" addr add "fd00:100::$i/64" dev eth0 nodad
    ip -n "${P}host-$h" route add default via 192.168.100.254
    ip -n "${P}host-$h" -6 route add default via fd00:100::fe
    for k in 1 2; do
        c=$h$k
        netns "$c"
        veth "host-$h" "tw-$c" "$c" eth0
        ip -n "$P$c" addr add "10.244.$i.1$k/32" dev eth0
        ip -n "$P$c" -6 addr add "fd00:244:0:$i::1$k/128" dev eth0 nodad
        ip -n "$P$c" route add 169.254.1.1 dev eth0 scope link
        ip -n "$P$c" route add default via 169.254.1.1 dev eth0
        ip -n "$P$c" -6 route add default via fe80::1 dev eth0
    done
done

echo "==> starting BIRD on the ToR and tern on every host" >&2
# Started with `ip netns exec` directly (not through a shell function, which would fork a
# subshell) so that $! is the daemon's own PID: `ip netns exec` execs the command.
ip netns exec ${P}tor bird -f -c "$work/tor/bird.conf" -s "$work/tor/bird.ctl" >"$work/tor/bird.log" 2>&1 &
pids+=($!)
for h in "${hosts[@]}"; do
    ip netns exec "${P}host-$h" "$TERN" agent --config "$work/host-$h/node.yaml" >"$work/host-$h/tern.log" 2>&1 &
    pids+=($!)
done

sock() { echo "$work/host-$1/tern.sock"; }
established() {  # established HOST: number of Established peers
    "$TERN" status --json --socket "$(sock "$1")" 2>/dev/null | grep -c '"state": "Established"' || true
}
echo -n "==> waiting for BGP sessions" >&2
for _ in $(seq 60); do
    ok=1
    for h in "${hosts[@]}"; do [ "$(established "$h")" -ge 5 ] || ok=0; done
    [ $ok = 1 ] && break
    echo -n . >&2
    sleep 0.5
done
echo >&2
for h in "${hosts[@]}"; do
    [ "$(established "$h")" -ge 5 ] || { tail -20 "$work/host-$h/tern.log" >&2; die "host-$h: sessions did not come up"; }
done
# Routes: every host has the other hosts' blocks (v4 and v6) in its FIB.
for _ in $(seq 40); do
    n=$(ip -n ${P}host-a route show proto 201 | grep -c 'via 192.168.100' || true)
    n6=$(ip -n ${P}host-a -6 route show proto 201 | grep -c 'via fd00:100' || true)
    [ "$n" -ge 2 ] && [ "$n6" -ge 2 ] && break
    sleep 0.25
done

# The ToR forwards straight to the host that owns a block: host-a and host-c re-advertise
# host-b's block with host-b's address as next hop (third-party next hop on the shared
# segment, RFC 4271 §5.1.3), so BIRD's best path for it is via 192.168.100.2 whichever
# session it picked. IPv6 blocks travel over the same IPv4 sessions, with each host's
# eth0 IPv6 address as next hop.
tor_best() {  # tor_best PREFIX: "via ADDR" of BIRD's best path for PREFIX
    birdc -s "$work/tor/bird.ctl" show route "$1" | grep -m1 -A1 '\*' | grep -o 'via [0-9a-f.:]*' || true
}
tor_checks() {  # "PREFIX EXPECTED-VIA" lines
    for i in 1 2 3; do
        echo "10.244.$i.0/24 via 192.168.100.$i"
        echo "fd00:244:0:$i::/64 via fd00:100::$i"
    done
}
for _ in $(seq 40); do
    ok=1
    while read -r prefix want; do
        [ "$(tor_best "$prefix")" = "$want" ] || ok=0
    done < <(tor_checks)
    [ $ok = 1 ] && break
    sleep 0.25
done
echo
echo "################ tern status (host-a) ################"
"$TERN" status --socket "$(sock a)"
echo
echo "################ tern routes (host-a) ################"
"$TERN" routes --socket "$(sock a)"
echo
echo "################ ip route show proto 201 (host-a: tern's routes in the kernel) ################"
ip -n ${P}host-a route show proto 201
ip -n ${P}host-a -6 route show proto 201
echo
echo "################ BIRD on the ToR: show route ################"
birdc -s "$work/tor/bird.ctl" show route | tail -n +2
fail=0
echo
echo "################ BIRD on the ToR: best path of each block goes to its host ################"
while read -r prefix want; do
    best=$(tor_best "$prefix")
    if [ "$best" = "$want" ]; then
        printf '  %-20s %-20s ok\n' "$prefix" "$best"
    else
        printf '  %-20s %-20s FAILED (expected %s)\n' "$prefix" "$best" "$want"
        fail=1
    fi
done < <(tor_checks)
echo
echo "################ pings between containers on different hosts ################"
probe() {  # probe FROM TO_ADDR LABEL
    if in_ns "$1" ping -c 2 -i 0.2 -W 1 "$2" >/dev/null 2>&1; then
        printf '  %-4s -> %-22s %-10s ok\n' "$1" "$2" "$3"
    else
        printf '  %-4s -> %-22s %-10s FAILED\n' "$1" "$2" "$3"
        fail=1
    fi
}
probe a1 10.244.2.11 "(host-b)"
probe a1 10.244.3.12 "(host-c)"
probe b2 10.244.1.11 "(host-a)"
probe c1 10.244.2.12 "(host-b)"
probe a2 fd00:244:0:2::11 "(host-b)"
probe c2 fd00:244:0:1::12 "(host-a)"
echo
echo "  route from host-a to a container on host-b (straight to host-b, no tunnel):"
echo "    $(ip -n ${P}host-a route get 10.244.2.11 | head -1)"
echo
echo "################ metrics (host-a, 127.0.0.1:9469/metrics) ################"
if command -v nc >/dev/null; then
    printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' | in_ns host-a nc -N -w 3 127.0.0.1 9469 \
        | grep -E '^tern_(bgp_session_state|fib_routes_installed|rib_prefixes)' || true
fi

if [ $keep = 1 ]; then
    echo
    echo "The lab stays up until Ctrl-C. Try:"
    echo "  $TERN status --socket $(sock b)"
    echo "  $TERN routes --all --socket $(sock c)"
    echo "  ip netns exec ${P}a1 ping 10.244.3.11"
    echo "  birdc -s $work/tor/bird.ctl show protocols"
    echo "  (logs: $work/host-*/tern.log)"
    while :; do sleep 1; done
fi
[ $fail = 0 ] || { echo "lab: some checks failed (logs: KEEP_LOGS=1 $0)" >&2; exit 1; }
echo "lab: all checks ok"
