#!/usr/bin/env bash
# ACL benchmark (not a test). Measures, for 1,000 endpoints and 2,000 policies:
# load/compile/render time, full apply time, one-changed-policy apply time (median, p99,
# and its split: render, diff, time in nft), for nftables and iptables (with the
# applier's default dry runs and forced either way); then iperf3 TCP throughput
# between two container namespaces routed by a host namespace with ~10,000 rules in
# force that every new connection walks, against no rules at all.
#
# Everything runs inside namespaces this script creates (prefix aclbench-PID-) and
# removes on exit. Needs root, nft, iptables(-restore), ipset, iperf3.
# Usage: bench/acl/run.sh            (results on stdout; copy into RESULTS.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
P="aclbench-$$"
W="$(mktemp -d)"
cleanup() {
    for n in a r c1 c2; do ip netns del "$P-$n" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

cargo build --release -p acl --example apply_bench
B=target/release/examples/apply_bench

echo "== machine"
echo "$(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo), $(uname -r), $(nft --version), $(iptables --version)"
uptime

echo "== 1,000 endpoints, 2,000 policies"
"$B" gen "$W/gen" 1000 2000
ip netns add "$P-a"
# Default = the applier's own choice (nftables: dry run on the first apply only;
# iptables: --test on every transaction); --check / --no-check force it either way.
# 100 one-change rounds each, for a median and a p99; the modes alternate so that they
# see the same load.
for round in 1 2 3; do
    for mode in --check default; do
        ip netns exec "$P-a" "$B" measure "$W/gen" nftables ${mode#default} 100
    done
done
for mode in default --no-check; do
    ip netns exec "$P-a" "$B" measure "$W/gen" iptables ${mode#default} 100
done

uptime
echo "== throughput: c1 -> host -> c2, iperf3 -t 5"
"$B" gen-chain "$W/chain" 2000
ip netns add "$P-r"
ip netns exec "$P-r" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$P-r" ip link set lo up
ip netns exec "$P-r" ip link add gw0 type veth peer name gw1
ip netns exec "$P-r" ip link set gw0 up
ip netns exec "$P-r" ip link set gw1 up
ip netns exec "$P-r" ip route add 169.254.1.1/32 dev gw0
i=0
for c in c1 c2; do
    i=$((i + 1))
    ip netns add "$P-$c"
    ip netns exec "$P-$c" ip link set lo up
    ip netns exec "$P-$c" ip link add eth0 type veth peer name "tb-$c"
    ip netns exec "$P-$c" ip link set "tb-$c" netns "$P-r"
    ip netns exec "$P-$c" ip addr add "10.90.0.$i/32" dev eth0
    ip netns exec "$P-$c" ip link set eth0 up
    ip netns exec "$P-$c" ip route add 169.254.1.1 dev eth0 scope link
    ip netns exec "$P-$c" ip route add default via 169.254.1.1 dev eth0 onlink
    ip netns exec "$P-r" sysctl -qw "net.ipv4.conf.tb-$c.proxy_arp=1"
    ip netns exec "$P-r" sysctl -qw "net.ipv4.neigh.tb-$c.proxy_delay=0"
    ip netns exec "$P-r" ip link set "tb-$c" up
    ip netns exec "$P-r" ip route add "10.90.0.$i/32" dev "tb-$c" scope link
done

iperf() {
    ip netns exec "$P-c2" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
    local srv=$!
    sleep 0.5
    ip netns exec "$P-c1" iperf3 -c 10.90.0.2 -p 5201 -t 5 -J |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f Gbit/s" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'
    wait "$srv" || true
}

for round in 1 2; do
    echo "round $round: no rules: $(iperf)"
    ip netns exec "$P-r" "$B" apply nftables "$W/chain"
    echo "round $round: nftables: $(iperf)"
    ip netns exec "$P-r" nft delete table inet tern
    ip netns exec "$P-r" "$B" apply iptables "$W/chain"
    echo "round $round: iptables: $(iperf)"
    ip netns exec "$P-r" iptables -D FORWARD -j tern-forward
done
