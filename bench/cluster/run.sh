#!/usr/bin/env bash
# Route convergence in etcd mode (benchmark, not a test): N agents with the kernel FIB on,
# one etcd and (default) two BIRD route reflectors, all on one bridge, one namespace each.
# The cluster comes from resources alone: BGPConfiguration (mesh off), one IPPool (/26
# blocks; every agent claims one at start) and one global BGPPeer per reflector. With
# --mesh: the node-to-node mesh instead of the reflectors (for comparison at small N).
# Measured:
#   - the time from the last agent's start to every node having every other node's block
#     in its own kernel FIB (`ip -n NS route show proto 201`, polled; a namespace is no
#     longer polled once it has all N-1 routes, so the poll gets cheaper as nodes finish);
#   - agent RSS (median / max) and etcd RSS once converged;
#   - etcd's gRPC request rate (unary calls handled, from its /metrics) during convergence
#     and over 10 s of steady state afterwards.
#
# Everything runs inside namespaces this script creates (prefix clbench-PID-) and removes
# on exit or Ctrl-C, with a temp dir for the data; it stops only the PIDs it started.
# Needs root, etcd (etcd-server), bird (2.x, for `neighbor range`), python3, curl and a
# release build (built here unless NO_BUILD=1 or TERN_BIN=PATH). Bounded: gives up after TIMEOUT s (120).
# Usage: bench/cluster/run.sh [N] [--mesh]   (results on stdout; copy into RESULTS.md)
# KEEP=1 keeps the temp dir (agent logs h*/log, with their start times) for a look after.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=10
MESH=0
for a in "$@"; do
    case "$a" in
    --mesh) MESH=1 ;;
    *) N="$a" ;;
    esac
done
TIMEOUT="${TIMEOUT:-120}"
P="clbench-$$"
W="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    for ((i = 0; i < N; i++)); do ip netns del "$P-h$i" 2>/dev/null || true; done
    for s in db rr1 rr2 sw; do ip netns del "$P-$s" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "logs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# TERN_BIN: a copy of the release binary (a rebuild by someone else then cannot swap
# the binary between runs); implies NO_BUILD.
if [ -n "${TERN_BIN:-}" ]; then
    TERN="$TERN_BIN"
else
    [ "${NO_BUILD:-}" = 1 ] || cargo build --release -p tern
    TERN="$PWD/target/release/tern"
fi
ETCD="http://10.0.255.1:2379"
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

echo "== machine"
echo "$(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo), $(uname -r), etcd $(etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}'), $(bird --version 2>&1)"
uptime
mode="route reflectors (2 BIRD)"
[ "$MESH" = 1 ] && mode="full mesh"
echo "== N=$N, $mode"

. bench/lib/etcd_lab.sh
lab_switch
start_etcd "clb$$-db"
# Unary gRPC calls etcd has handled so far (Range, Txn, Put, LeaseGrant, ...; watch and
# keepalive streams are counted once per stream, not per message).
etcd_calls() {
    ip netns exec "$P-db" curl -fsS --max-time 5 "$ETCD/metrics" |
        awk '/^grpc_server_handled_total/ && /grpc_type="unary"/ {s += $NF} END {printf "%d\n", s}'
}

meshOn=false
[ "$MESH" = 1 ] && meshOn=true
cat >"$W/cluster.yaml" <<EOF
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: $meshOn }
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: bench }
spec: { cidr: 10.244.0.0/16, blockSize: 26 }
EOF
if [ "$MESH" = 0 ]; then
    for r in 1 2; do
        cat >>"$W/cluster.yaml" <<EOF
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: rr$r }
spec: { peerIP: 10.0.255.1$r, asNumber: 64512 }
EOF
        ip netns add "$P-rr$r"
        join "$P-rr$r" "10.0.255.1$r" "clb$$-rr$r"
        # BIRD 2's dynamic BGP: one template accepts every agent of the /16 as an RR client.
        cat >"$W/rr$r.conf" <<EOF
router id 10.0.255.1$r;
log "$W/rr$r.log" { warning, error };
protocol device {}
protocol bgp clients {
    local 10.0.255.1$r as 64512;
    neighbor range 10.0.0.0/16 as 64512;
    dynamic name "c";
    rr client;
    rr cluster id 10.0.255.1$r;
    ipv4 { import all; export all; };
}
EOF
        ip netns exec "$P-rr$r" bird -f -c "$W/rr$r.conf" -s "$W/rr$r.sock" >"$W/rr$r.out" 2>&1 &
        PIDS+=($!)
    done
fi
ds apply -f "$W/cluster.yaml" >/dev/null

for ((i = 0; i < N; i++)); do
    ns="$P-h$i"
    ip netns add "$ns"
    join "$ns" "$(addr "$i")" "clb$$-$i"
    d="$W/h$i"
    mkdir -p "$d"
    cat >"$d/node.yaml" <<EOF
nodeName: n$i
routerId: $(addr "$i")
datastore: { type: etcd, endpoints: ["$ETCD"] }
control: { socket: "$d/tern.sock" }
stateDir: "$d/state"
EOF
done

c0=$(etcd_calls)
AGENTS=()
tf=$(now)
for ((i = 0; i < N; i++)); do
    ip netns exec "$P-h$i" "$TERN" agent --config "$W/h$i/node.yaml" >"$W/h$i/log" 2>&1 &
    PIDS+=($!)
    AGENTS+=($!)
done
t0=$(now)
echo "== $N agents started (the first $(secs "$tf" "$t0") s before the last)"

# Routes to other nodes' blocks (the agent's own block is a local blackhole).
remote() { ip -n "$P-h$1" route show proto 201 2>/dev/null | grep -vc '^blackhole' || true; }
declare -A done_at
left=$N
deadline=$(python3 -c "print($t0 + $TIMEOUT)")
while [ "$left" -gt 0 ]; do
    for ((i = 0; i < N; i++)); do
        [ -n "${done_at[$i]:-}" ] && continue
        if [ "$(remote "$i")" -ge $((N - 1)) ]; then
            done_at[$i]=$(now)
            left=$((left - 1))
        fi
    done
    [ "$left" -eq 0 ] && break
    if python3 -c "import sys; sys.exit(0 if $(now) > $deadline else 1)"; then
        echo "TIMEOUT after $TIMEOUT s: $left of $N nodes without every block;" \
            "$(grep -l 'claiming a block' "$W"/h*/log 2>/dev/null | wc -l) agents logged a failed claim"
        for ((i = 0; i < N; i++)); do
            [ -n "${done_at[$i]:-}" ] || echo "  n$i: $(remote "$i") of $((N - 1))"
        done
        break
    fi
    sleep 0.2
done
t1=$(now)
c1=$(etcd_calls)
# Per node: when it had every block (epoch seconds), for a look at the logs with KEEP=1.
for ((i = 0; i < N; i++)); do echo "n$i ${done_at[$i]:-never}"; done >"$W/done.txt"
python3 - "$t0" "$N" "${done_at[@]}" <<'PY'
import sys
t0, n = float(sys.argv[1]), int(sys.argv[2])
t = sorted(float(x) - t0 for x in sys.argv[3:])
if t:
    print(f"converged: {len(t)}/{n} nodes with all {n - 1} remote blocks in the FIB; "
          f"last {t[-1]:.2f} s, p50 {t[len(t) // 2]:.2f} s, first {t[0]:.2f} s after the last agent's start")
PY
echo "etcd unary calls during convergence: $((c1 - c0)) in $(secs "$t0" "$t1") s"
sleep 10
c2=$(etcd_calls)
echo "etcd unary calls, steady state: $(python3 -c "print(f'{($c2 - $c1) / 10:.1f}')")/s over 10 s"
if [ "$MESH" = 0 ]; then
    for r in 1 2; do
        echo "rr$r: $(birdc -s "$W/rr$r.sock" show protocols 2>/dev/null | grep -c Established) sessions Established"
    done
fi

echo "== memory"
python3 - "${AGENTS[@]}" <<'PY'
import sys
def rss(pid):
    # The agent is exec'd by `ip netns exec`, so it keeps the PID.
    try:
        for l in open(f"/proc/{pid}/status"):
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    except OSError:
        return None
r = sorted(x for x in (rss(p) for p in sys.argv[1:]) if x)
if r:
    print(f"agents: {len(r)} alive, RSS median {r[len(r) // 2] / 1024:.1f} MiB, max {r[-1] / 1024:.1f} MiB")
PY
echo "etcd RSS: $(awk '/VmRSS/ {print int($2/1024) " MiB"}' /proc/$ETCD_PID/status 2>/dev/null || echo '?')"
