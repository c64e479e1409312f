#!/usr/bin/env bash
# CNI benchmark (not a test): ADD and DEL latency of the tern plugin (against a running
# `tern agent`) and of the reference `bridge` + `host-local` plugins
# (containernetworking-plugins, /usr/lib/cni), in the same run, the same way: each plugin
# executed directly with the CNI environment, as a runtime does, for 200 containers whose
# network namespaces exist beforehand; first 200 ADDs, then 200 DELs. p50 / p99 / max per
# operation, wall time of the plugin process (fork+exec included) measured by bash.
#
# Everything runs inside namespaces this script creates (prefix cnibench-PID-) and
# removes on exit; tern's stateDir and host-local's dataDir are in a temp dir.
# Needs root, a release build (built here), containernetworking-plugins.
# Usage: bench/cni/run.sh [COUNT]     (results on stdout; copy into RESULTS.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-200}"
P="cnibench-$$"
W="$(mktemp -d)"
AGENT=""
cleanup() {
    if [ -n "$AGENT" ]; then kill "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true; fi
    for ((i = 0; i < N; i++)); do ip netns del "$P-c$i" 2>/dev/null || true; done
    for n in tern ref; do ip netns del "$P-$n" 2>/dev/null || true; done
    if [ -n "${AGENT_LOG:-}" ] && [ -f "$W/agent.log" ]; then cp "$W/agent.log" "$AGENT_LOG"; fi   # AGENT_LOG=FILE keeps the agent log
    rm -rf "$W"
}
trap cleanup EXIT

[ "${NO_BUILD:-}" = 1 ] || cargo build --release -p tern   # NO_BUILD=1: use the existing build
TERN="$PWD/target/release/tern"

echo "== machine"
echo "$(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo), $(uname -r)"
echo "reference plugins: $(dpkg-query -W -f '${Package} ${Version}' containernetworking-plugins 2>/dev/null || echo unknown)"
uptime

for n in tern ref; do
    ip netns add "$P-$n"
    ip netns exec "$P-$n" ip link set lo up
    ip netns exec "$P-$n" sysctl -qw net.ipv4.ip_forward=1
done
for ((i = 0; i < N; i++)); do ip netns add "$P-c$i"; done

cat > "$W/node.yaml" <<EOF
nodeName: bench
asNumber: 64512
routerId: 10.0.0.1
listen: { address: 127.0.0.1, port: 1179 }
blocks: [10.244.0.0/22]
pools: [10.244.0.0/16]
control: { socket: $W/tern.sock }
stateDir: $W/state
EOF
ip netns exec "$P-tern" env RUST_LOG="${RUST_LOG:-info}" "$TERN" agent --config "$W/node.yaml" 2>"$W/agent.log" &
AGENT=$!
for _ in $(seq 100); do [ -S "$W/tern.sock" ] && break; sleep 0.1; done

cat > "$W/tern.json" <<EOF
{"cniVersion":"1.0.0","name":"bench","type":"tern","socket":"$W/tern.sock"}
EOF
cat > "$W/ref.json" <<EOF
{"cniVersion":"1.0.0","name":"bench","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/22"}]],"dataDir":"$W/host-local"}}
EOF

# Runs inside the plugin's host namespace: ADD for every container, then DEL for every
# container; one line "OP MICROSECONDS" per call on stdout.
cat > "$W/drive.sh" <<'EOF'
set -u
plugin="$1"; conf="$2"; prefix="$3"; n="$4"; log="$5"
export CNI_PATH=/usr/lib/cni CNI_IFNAME=eth0
for op in ADD DEL; do
    for ((i = 0; i < n; i++)); do
        t0=$EPOCHREALTIME
        CNI_COMMAND=$op CNI_CONTAINERID="bench$i" CNI_NETNS="/run/netns/$prefix-c$i" \
            "$plugin" < "$conf" > /dev/null 2>>"$log" || { echo "FAIL $op $i" >&2; exit 1; }
        t1=$EPOCHREALTIME
        echo "$op $(( (${t1/./} - ${t0/./}) )) $i"
    done
done
EOF

stats() { # label file
    for op in ADD DEL; do
        grep "^$op " "$2" | awk '{print $2}' | sort -n > "$W/s"
        c=$(wc -l < "$W/s")
        p50=$(sed -n "$(( (c + 1) / 2 ))p" "$W/s")
        p99=$(sed -n "$(( (c * 99 + 99) / 100 ))p" "$W/s")
        max=$(tail -1 "$W/s")
        slow=$(grep "^$op " "$2" | sort -k2 -n | tail -1 | awk '{print $3}')
        printf '%-28s %-4s n=%d  p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms (container %s)\n' "$1" "$op" "$c" \
            "$(echo "$p50/1000" | bc -l)" "$(echo "$p99/1000" | bc -l)" "$(echo "$max/1000" | bc -l)" "$slow"
    done
}

echo "== $N containers: ADD each, then DEL each"
ip netns exec "$P-ref" bash "$W/drive.sh" /usr/lib/cni/bridge "$W/ref.json" "$P" "$N" "$W/plugin.log" > "$W/ref.txt"
ip netns exec "$P-tern" bash "$W/drive.sh" "$TERN" "$W/tern.json" "$P" "$N" "$W/plugin.log" > "$W/tern.txt"
stats "bridge + host-local" "$W/ref.txt"
stats "tern (agent)" "$W/tern.txt"
# And again in the other order, to see whether the order matters.
ip netns exec "$P-tern" bash "$W/drive.sh" "$TERN" "$W/tern.json" "$P" "$N" "$W/plugin.log" > "$W/tern2.txt"
ip netns exec "$P-ref" bash "$W/drive.sh" /usr/lib/cni/bridge "$W/ref.json" "$P" "$N" "$W/plugin.log" > "$W/ref2.txt"
stats "tern (agent), 2nd" "$W/tern2.txt"
stats "bridge + host-local, 2nd" "$W/ref2.txt"
uptime
leftover=$(ip netns exec "$P-tern" ip -o link show | grep -c ' tern' || true)
grep -i -E "warn|error" "$W/agent.log" | tail -5 || true
echo "tern interfaces left after DEL: $leftover; allocations left: $(ls "$W/state/ipam" | grep -c json || true)"
