#!/usr/bin/env bash
# Policy propagation in etcd mode (benchmark, not a test): N agents, one etcd, on one
# bridge. Each agent has one local workload endpoint (an endpoint file, label
# app=bench) so that a policy selecting it renders on every node; the node-to-node mesh
# is off and the FIB is off (this measures the policy path only). Measured:
#   1. `tern apply` of a GlobalNetworkPolicy selecting app == 'bench' → applied on all N;
#   2. `tern apply` of a WorkloadEndpoint of another node labelled app=client (the
#      policy's source selector) → its address in the rules of all N;
#   3. `tern delete` of the policy → removed on all N.
# The time of each node is the timestamp of its first "policy applied" log line after the
# command started (JSON logs, the agent's own clock: the same clock as this script's);
# every ruleset is checked afterwards with nft (3 s later, so that listing the rulesets
# does not compete with the agents for the CPU). Also the agents' and etcd's RSS.
#
# Everything runs inside namespaces this script creates (prefix cpbench-PID-) and
# removes on exit, with a temp dir for the data. Needs root, etcd (etcd-server), nft,
# python3, a release build (built here unless NO_BUILD=1).
# Usage: bench/cluster_policy/run.sh [N]      (results on stdout; copy into RESULTS.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-20}"
P="cpbench-$$"
W="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    for ((i = 0; i < N; i++)); do ip netns del "$P-h$i" 2>/dev/null || true; done
    ip netns del "$P-db" 2>/dev/null || true
    ip netns del "$P-sw" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

[ "${NO_BUILD:-}" = 1 ] || cargo build --release -p tern
TERN="$PWD/target/release/tern"
ETCD="http://10.0.255.1:2379"

echo "== machine"
echo "$(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo), $(uname -r), etcd $(etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}')"
uptime

. bench/lib/etcd_lab.sh
lab_switch
start_etcd "cpb$$-db"

cat >"$W/cluster.yaml" <<EOF
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: false }
EOF
ds apply -f "$W/cluster.yaml" >/dev/null

for ((i = 0; i < N; i++)); do
    ns="$P-h$i"
    ip netns add "$ns"
    join "$ns" "$(addr "$i")" "cpb$$-$i"
    d="$W/h$i"
    mkdir -p "$d/endpoints"
    cat >"$d/endpoints/wl.yaml" <<EOF
kind: WorkloadEndpoint
name: bench-$i
namespace: default
interface: bench0
ips: [10.100.$(($i / 250)).$(($i % 250 + 1))/32]
labels: { app: bench }
EOF
    cat >"$d/node.yaml" <<EOF
nodeName: n$i
routerId: $(addr "$i")
datastore: { type: etcd, endpoints: ["$ETCD"] }
fib: { enabled: false }
endpoints: ["$d/endpoints"]
policy: { backend: nftables }
control: { socket: "$d/tern.sock" }
stateDir: "$d/state"
EOF
    ip netns exec "$ns" "$TERN" agent --config "$d/node.yaml" --log-format json >"$d/log" 2>&1 &
    PIDS+=($!)
done

ok_all() { # every agent has applied a ruleset
    for ((i = 0; i < N; i++)); do
        "$TERN" status --json --socket "$W/h$i/tern.sock" 2>/dev/null |
            python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["policy"]["ok"] else 1)' 2>/dev/null || return 1
    done
}
t0=$(date +%s.%N)
until ok_all; do sleep 0.5; done
echo "== $N agents up, first ruleset applied everywhere after $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s"
sleep 2

# Seconds from START (epoch) to the first "policy applied" line after it, per node.
measure() { # START LABEL
    python3 - "$W" "$N" "$1" "$2" <<'PY'
import json, sys, datetime, os
w, n, start, label = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
times = []
for i in range(n):
    t = None
    with open(os.path.join(w, f"h{i}", "log")) as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if "policy applied" not in o.get("fields", {}).get("message", ""):
                continue
            ts = datetime.datetime.fromisoformat(o["timestamp"].replace("Z", "+00:00")).timestamp()
            if ts >= start:
                t = ts - start
                break
    times.append(t)
done = sorted(x for x in times if x is not None)
missing = n - len(done)
if not done:
    print(f"{label}: no node applied it")
else:
    p50 = done[len(done) // 2]
    print(f"{label}: all {len(done)}/{n} nodes by {done[-1]*1000:.0f} ms (p50 {p50*1000:.0f} ms, first {done[0]*1000:.0f} ms)" + (f", {missing} MISSING" if missing else ""))
PY
}
has() { # NODE PATTERN: whether the node's ruleset has it (read whole: with pipefail, an
    # early `grep -q` would make a large listing look absent)
    local out
    out=$(ip netns exec "$P-h$1" nft list ruleset)
    grep -q "$2" <<<"$out"
}
wait_nft() { # PATTERN PRESENT(1|0)
    for _ in $(seq 300); do
        local all=1
        for ((i = 0; i < N; i++)); do
            if has "$i" "$1"; then
                [ "$2" = 1 ] || { all=0; break; }
            else
                [ "$2" = 0 ] || { all=0; break; }
            fi
        done
        [ "$all" = 1 ] && return 0
        sleep 0.2
    done
    local bad=""
    for ((i = 0; i < N; i++)); do
        local h=0
        has "$i" "$1" && h=1
        [ "$h" = "$2" ] || bad="$bad n$i"
    done
    echo "  (rulesets not converged on $1:$bad)"
    if [ -n "${KEEP:-}" ]; then for n in $bad; do cp "$W/h${n#n}/log" "$KEEP-$n.log"; done; fi   # KEEP=PREFIX keeps their logs
}

cat >"$W/gnp.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: bench-in }
spec:
  selector: app == 'bench'
  types: [Ingress]
  ingress:
    - { action: Allow, protocol: TCP, source: { selector: app == 'client' }, destination: { ports: [8080] } }
EOF
cat >"$W/wep.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: { name: elsewhere-cni-client-eth0, namespace: default, labels: { app: client } }
spec: { node: elsewhere, workload: client, endpoint: eth0, interfaceName: ternclient, ipNetworks: [10.200.0.77/32] }
EOF

echo "== propagation (from the start of the tern command to each node's apply)"
s=$(date +%s.%N)
ds apply -f "$W/gnp.yaml" >/dev/null
sleep 3   # the check below lists 100s of rulesets: not while the agents apply
wait_nft bench-in 1
measure "$s" "GlobalNetworkPolicy applied"
sleep 1
s=$(date +%s.%N)
ds apply -f "$W/wep.yaml" >/dev/null
sleep 3   # the check below lists 100s of rulesets: not while the agents apply
wait_nft 10.200.0.77 1
measure "$s" "remote WorkloadEndpoint in the source set"
sleep 1
s=$(date +%s.%N)
ds delete globalnetworkpolicy bench-in >/dev/null
sleep 3   # the check below lists 100s of rulesets: not while the agents apply
wait_nft bench-in 0
measure "$s" "GlobalNetworkPolicy deleted"

echo "== memory"
python3 - "${PIDS[@]:1}" <<'PY'
import sys, os
def rss(pid):
    # The agent is the child of `ip netns exec` (which execs, so the same PID).
    try:
        for l in open(f"/proc/{pid}/status"):
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    except OSError:
        return None
r = [x for x in (rss(p) for p in sys.argv[1:]) if x]
if r:
    print(f"agents: {len(r)}, RSS avg {sum(r)/len(r)/1024:.1f} MiB, max {max(r)/1024:.1f} MiB")
PY
echo "etcd RSS: $(awk '/VmRSS/ {print int($2/1024) " MiB"}' /proc/$ETCD_PID/status 2>/dev/null || echo '?')"
