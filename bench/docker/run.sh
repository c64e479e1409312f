#!/usr/bin/env bash
# Docker benchmark (not a test): wall time of `docker run -d` and of one `docker rm -f` of
# all, for N containers on a tern network (this agent's network and IPAM driver) and on
# Docker's own bridge network, same dockerd, same image, alternating, ROUNDS rounds.
# Also the plugin's own share per container (RequestAddress received -> Join answered),
# from the agent's debug log.
#
# Everything runs in one namespace this script creates (dockerbench-PID), with dockerd's
# data and exec roots, the agent's stateDir and all logs in a temp dir; it is all removed
# on exit (containers, dockerd and its containerd, the agent, mounts, the plugin socket).
# Needs root, docker.io, busybox-static.
# Usage: bench/docker/run.sh [N] [ROUNDS]     (TERN=path to the binary, default the debug build)
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-20}"
ROUNDS="${2:-2}"
NS="dockerbench-$$"
PLUGIN="tern-bench-$$"
W="$(mktemp -d /tmp/dockerbench.XXXX)"
TERN="${TERN:-$PWD/target/debug/tern}"
DK=/usr/bin/docker
export DOCKER_HOST="unix://$W/docker.sock"
DOCKERD=""
AGENT=""
cleanup() {
    set +e
    if [ -n "$DOCKERD" ]; then
        ids=$($DK ps -aq 2>/dev/null)
        [ -n "$ids" ] && $DK rm -f $ids >/dev/null 2>&1
        kill "$DOCKERD" 2>/dev/null; wait "$DOCKERD" 2>/dev/null
    fi
    if [ -n "$AGENT" ]; then kill "$AGENT" 2>/dev/null; wait "$AGENT" 2>/dev/null; fi
    grep " $W" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
    rm -f "/run/docker/plugins/$PLUGIN.sock"
    ip netns del "$NS" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

echo "== machine"
echo "$(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo), $(uname -r)"
dockerd --version
uptime

ip netns add "$NS"
ip -n "$NS" link set lo up
echo '{}' >"$W/daemon.json"   # its own config file: the machine's daemon.json stays out
nsenter --net="/run/netns/$NS" dockerd --config-file "$W/daemon.json" --iptables=false --ip6tables=false --bridge=none \
    --exec-opt native.cgroupdriver=cgroupfs --default-ulimit nofile=20000:20000 \
    --default-ulimit nproc=4096:4096 --data-root "$W/data" --exec-root "$W/exec" \
    -H "$DOCKER_HOST" --pidfile "$W/dockerd.pid" >"$W/dockerd.log" 2>&1 &
DOCKERD=$!
cat >"$W/node.yaml" <<EOT
nodeName: bench
asNumber: 64512
routerId: 10.0.0.1
listen: { address: 127.0.0.1, port: 1179 }
blocks: ["10.244.1.0/24"]
pools: ["10.244.0.0/16"]
stateDir: $W/state
control: { socket: $W/tern.sock }
docker: { pluginName: $PLUGIN, dockerSocket: $W/docker.sock }
EOT
nsenter --net="/run/netns/$NS" env RUST_LOG=info,docker=debug,tern::agent::workloads=debug \
    "$TERN" agent --config "$W/node.yaml" >"$W/agent.log" 2>&1 &
AGENT=$!
for _ in $(seq 100); do $DK version >/dev/null 2>&1 && [ -S "$W/tern.sock" ] && break; sleep 0.2; done

root="$W/rootfs"
mkdir -p "$root/bin"
cp /bin/busybox "$root/bin/"
ln -s busybox "$root/bin/sleep"
tar -C "$root" -cf "$W/rootfs.tar" .
$DK import "$W/rootfs.tar" tern-bench:1 >/dev/null
$DK network create --driver "$PLUGIN" --ipam-driver "$PLUGIN" tern >/dev/null
$DK network create --driver bridge --subnet 172.31.250.0/24 bridge-bench >/dev/null

ms() { echo $(( ($2 - $1) / 1000000 )); }
echo "== $N containers per network, $ROUNDS rounds (ms)"
printf '%-6s %-8s %14s %14s\n' round network "run/container" "rm -f of all"
for r in $(seq "$ROUNDS"); do
    for net in tern bridge-bench; do
        t0=$(date +%s%N)
        for i in $(seq "$N"); do
            $DK run -d --name "b-$net-$i" --network "$net" tern-bench:1 /bin/sleep 3600 >/dev/null
        done
        t1=$(date +%s%N)
        $DK rm -f $(for i in $(seq "$N"); do echo "b-$net-$i"; done) >/dev/null
        t2=$(date +%s%N)
        printf '%-6s %-8s %14s %14s\n' "$r" "${net%-bench}" $(( $(ms "$t0" "$t1") / N )) "$(ms "$t1" "$t2")"
    done
done

echo "== plugin share per container: RequestAddress received -> Join answered (ms)"
python3 - "$W/agent.log" <<'PY'
import re, sys, datetime
t = lambda l: datetime.datetime.strptime(l[:26], "%Y-%m-%dT%H:%M:%S.%f")
start, spans = None, []
for l in open(sys.argv[1]):
    if "IpamDriver.RequestAddress" in l:
        start = t(l)
    elif "docker endpoint joined" in l and start:
        spans.append((t(l) - start).total_seconds() * 1000)
        start = None
spans.sort()
if spans:
    q = lambda p: spans[min(len(spans) - 1, int(p * len(spans)))]
    print(f"n={len(spans)} p50={q(0.5):.1f} p90={q(0.9):.1f} max={spans[-1]:.1f}")
PY
echo "== leftovers after rm -f: allocations $(ls "$W/state/ipam" 2>/dev/null | wc -l), tern links $(ip -n "$NS" -o link | grep -c ' tern' || true)"
