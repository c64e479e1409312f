#!/usr/bin/env bash
# Soak benchmark (not a test): one `tern agent` (release build, FIB and nftables policy
# on) under an hour of churn, sampled every 10 s, to see whether memory, descriptors or
# threads grow. Flat is the goal.
#
# The lab: namespace T (the agent; bridge br0 10.79.0.1/24, block 10.64.1.0/24, pools
# 10.64.0.0/10) and four peer namespaces on that bridge, each with its own churn loop:
#   b1 BIRD 2, AS 65001, 2,000 static /24s: `birdc disable/enable static4` every ~20 s
#      (2,000 withdrawals, then 2,000 announcements);
#   b2 BIRD 2, AS 65002, 200 /24s overlapping b1's: the session itself flaps
#      (`birdc disable/enable tern` every ~30 s, 10 s down);
#   g  GoBGP, AS 65003: 50 /24s added and deleted every ~15 s, the session reset
#      (`gobgp neighbor reset`) every 4th cycle;
#   p  bench/soak/peer.py, AS 65004 (agent side passive, receiveLimit 20,000): sessions of
#      ~60 s announcing 3,000 pool /24s + 750 rejected ones with a new COMMUNITIES value per
#      cycle, withdrawals, ROUTE-REFRESH, a Cease, then 20 bare connect+close;
# and, on the agent's side: the policy folder rewritten every 5 s (a policy with changing
# selector and ports, a second one added and removed), CNI ADD/DEL of 4 containers
# (namespaces c0..c3, real veths) every ~10 s, clients running `tern status`,
# `tern status --json`, `tern routes --json`, `tern endpoints` and scraping /metrics.
# Every loop stops by itself at the deadline (and after a bounded count). After the
# churn, a quiet phase (QUIET seconds, default 120; 30 with --quick) shows whether what
# the churn took is given back.
#
# Sampled every 10 s into soak.csv: elapsed s, phase, VmRSS and VmHWM (KiB), open fds,
# threads, CPU seconds of the agent, sessions Established, tern's routes in the kernel
# (proto 201), Loc-RIB prefixes (tern_rib_prefixes), and RSS split into anonymous memory
# (heap, stacks) and file pages (the binary's code as it gets touched). summary.py prints
# the summary.
#
# Usage: bench/soak/run.sh [SECONDS]      (default 3600)
#        bench/soak/run.sh --quick [SECONDS]  (default 120: a try-out)
#        OUT=DIR keeps soak.csv, summary.txt, agent.log and the loops' logs there
#        (default target/soak/DATE); NO_BUILD=1 uses the existing release build;
#        AGENT_ENV="K=V ..." sets environment for the agent (e.g. MALLOC_ARENA_MAX=2).
# Needs root, iproute2, nftables, bird2, gobgp/gobgpd, python3, curl, jq.
# Everything lives in namespaces ternsoak-PID-*, removed on exit (also on Ctrl-C).
set -euo pipefail

QUICK=0
if [ "${1:-}" = --quick ]; then QUICK=1; shift; fi
DURATION=${1:-$([ "$QUICK" = 1 ] && echo 120 || echo 3600)}
QUIET=${QUIET:-$([ "$QUICK" = 1 ] && echo 30 || echo 120)}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/target/soak/$(date -u +%Y%m%dT%H%M%S)}
P=ternsoak-$$
W=$(mktemp -d /tmp/ternsoak.XXXXXX)
chmod 755 "$W"
mkdir -p "$OUT"
NS_LIST=()
PIDS=()      # daemons
LOOPS=()     # churn loops (bash subshells)

cleanup() {
    for p in "${LOOPS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
    for ns in "${NS_LIST[@]:-}"; do [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true; done
    cp "$W"/*.log "$OUT"/ 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${NO_BUILD:-}" != 1 ]; then
    (cd "$ROOT" && cargo build --release -q --bin tern)
fi
# A copy: other builds may replace target/release/tern during the hour.
cp "$ROOT/target/release/tern" "$W/tern"
TERN=$W/tern

new_ns() {
    ip netns add "$P-$1"
    NS_LIST+=("$P-$1")
    ip -n "$P-$1" link set lo up
}

# --- the lab --------------------------------------------------------------------------
new_ns t
ip -n "$P-t" link add br0 type bridge
ip -n "$P-t" addr add 10.79.0.1/24 dev br0
ip -n "$P-t" link set br0 up
ip netns exec "$P-t" sysctl -qw net.ipv4.ip_forward=1
i=2
for n in b1 b2 g p; do
    new_ns "$n"
    ip -n "$P-t" link add "v-$n" type veth peer name eth0 netns "$P-$n"
    ip -n "$P-t" link set "v-$n" master br0 up
    ip -n "$P-$n" addr add "10.79.0.$i/24" dev eth0
    ip -n "$P-$n" link set eth0 up
    i=$((i + 1))
done
for c in 0 1 2 3; do new_ns "c$c"; done

mkdir -p "$W/policies" "$W/endpoints" "$W/state"
cat > "$W/node.yaml" <<EOF
nodeName: soak
asNumber: 64512
routerId: 10.79.0.1
listen: { address: 10.79.0.1, port: 179 }
blocks: [10.64.1.0/24]
pools: [10.64.0.0/10]
stateDir: $W/state
peers:
  - { peerIP: 10.79.0.2, asNumber: 65001, holdTime: 9s, connectRetryTime: 1s }
  - { peerIP: 10.79.0.3, asNumber: 65002, holdTime: 9s, connectRetryTime: 1s }
  - { peerIP: 10.79.0.4, asNumber: 65003, holdTime: 9s, connectRetryTime: 1s }
  - { peerIP: 10.79.0.5, asNumber: 65004, passive: true, holdTime: 9s,
      receiveLimit: { maxPrefixes: 20000 } }
fib: { table: main, protocol: 201 }
endpoints: [$W/endpoints]
policy: { backend: nftables, paths: [$W/policies] }
metrics: { listen: "127.0.0.1:9469" }
control: { socket: $W/tern.sock }
EOF

bird_conf() { # ROUTER_ID AS LOCAL FIRST COUNT: statics 10.112.0.0/24 + FIRST.. (/24s)
    echo "router id $1;"
    echo "log stderr all;"
    echo "protocol device { scan time 10; }"
    echo "protocol static static4 { ipv4;"
    for ((k = $4; k < $4 + $5; k++)); do
        echo "  route 10.$((112 + k / 256)).$((k % 256)).0/24 blackhole;"
    done
    echo "}"
    cat <<EOF
protocol bgp tern {
  local $3 as $2;
  neighbor 10.79.0.1 as 64512;
  hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 5;
  ipv4 { import all; export where source = RTS_STATIC; };
}
EOF
}
bird_conf 10.79.0.2 65001 10.79.0.2 0 2000 > "$W/b1.conf"
bird_conf 10.79.0.3 65002 10.79.0.3 0 200 > "$W/b2.conf"
for n in b1 b2; do
    ip netns exec "$P-$n" bird -f -c "$W/$n.conf" -s "$W/$n.ctl" -P "$W/$n.pid" 2> "$W/bird-$n.log" &
    PIDS+=($!)
done
cat > "$W/gobgp.toml" <<EOF
[global.config]
  as = 65003
  router-id = "10.79.0.4"
  port = 179
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.79.0.1"
    peer-as = 64512
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
EOF
ip netns exec "$P-g" gobgpd -t toml -f "$W/gobgp.toml" --log-level warn > "$W/gobgpd.log" 2>&1 &
PIDS+=($!)

policy() { # N: the churned policy file's Nth version
    local n=$1
    cat <<EOF
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: churn
spec:
  order: $((100 + n % 50))
  selector: app == 'soak$((n % 4))' || has(soak)
  types: [Ingress, Egress]
  ingress:
    - action: Allow
      protocol: TCP
      source: { nets: [10.64.0.0/10, 10.$((n % 200)).0.0/16] }
      destination: { ports: [$((1000 + n % 5000)), "8000:$((8001 + n % 900))"] }
    - action: Deny
      protocol: UDP
      destination: { ports: [$((2000 + n % 3000))] }
  egress:
    - action: Allow
EOF
    if [ $((n % 2)) = 0 ]; then
        cat <<EOF
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: extra-$((n % 10))
  namespace: default
spec:
  selector: all()
  ingress:
    - action: Allow
      protocol: ICMP
EOF
    fi
}
policy 0 > "$W/policies/churn.yaml"

# AGENT_ENV="K=V ..." adds environment for the agent (e.g. MALLOC_ARENA_MAX=2).
# shellcheck disable=SC2086
ip netns exec "$P-t" env RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 ${AGENT_ENV:-} "$TERN" agent --config "$W/node.yaml" \
    2> "$W/agent.log" &
AGENT=$!
PIDS+=("$AGENT")
for _ in $(seq 200); do [ -S "$W/tern.sock" ] && break; sleep 0.1; done
[ -S "$W/tern.sock" ] || { echo "agent did not start:" >&2; tail "$W/agent.log" >&2; exit 1; }
cli() { "$TERN" "$@" --socket "$W/tern.sock"; }

echo "== machine: $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo), $(uname -r); $(uptime)"
echo "== agent PID $AGENT; ${DURATION}s of churn, then ${QUIET}s quiet; results in $OUT"

START=$(date +%s)
END=$((START + DURATION))
more() { [ "$(date +%s)" -lt "$END" ]; } # true while the churn phase lasts
nap() { # sleeps N seconds, or until the churn phase ends
    local r=$((END - $(date +%s)))
    [ "$r" -gt 0 ] || return 0
    sleep $(($1 < r ? $1 : r))
}

# --- churn loops (each bounded by END and by a count) ---------------------------------
(   # b1: route churn
    k=0
    while more && [ $k -lt 2000 ]; do
        k=$((k + 1))
        nap 10; birdc -s "$W/b1.ctl" disable static4 > /dev/null || true
        nap 10; birdc -s "$W/b1.ctl" enable static4 > /dev/null || true
    done
    echo "b1: $k cycles"
) > "$W/loop-b1.log" 2>&1 &
LOOPS+=($!)
(   # b2: session flaps
    k=0
    while more && [ $k -lt 2000 ]; do
        k=$((k + 1))
        nap 20; birdc -s "$W/b2.ctl" disable tern > /dev/null || true
        nap 10; birdc -s "$W/b2.ctl" enable tern > /dev/null || true
    done
    echo "b2: $k flaps"
) > "$W/loop-b2.log" 2>&1 &
LOOPS+=($!)
(   # g: prefix adds/deletes and session resets
    k=0
    while more && [ $k -lt 2000 ]; do
        k=$((k + 1))
        for j in $(seq 0 49); do
            ip netns exec "$P-g" gobgp global rib add -a ipv4 "10.120.$j.0/24" > /dev/null 2>&1 || true
        done
        nap 8
        for j in $(seq 0 49); do
            ip netns exec "$P-g" gobgp global rib del -a ipv4 "10.120.$j.0/24" > /dev/null 2>&1 || true
        done
        if [ $((k % 4)) = 0 ]; then
            ip netns exec "$P-g" gobgp neighbor 10.79.0.1 reset > /dev/null 2>&1 || true
        fi
        nap 7
    done
    echo "g: $k cycles"
) > "$W/loop-g.log" 2>&1 &
LOOPS+=($!)
ip netns exec "$P-p" python3 "$ROOT/bench/soak/peer.py" 10.79.0.1 10.79.0.5 65004 10.79.0.5 \
    "$DURATION" 3000 > "$W/loop-peer.log" 2>&1 &
LOOPS+=($!)
(   # policy churn
    k=0
    while more && [ $k -lt 5000 ]; do
        k=$((k + 1))
        policy "$k" > "$W/policies/.churn.tmp" && mv "$W/policies/.churn.tmp" "$W/policies/churn.yaml"
        nap 5
    done
    echo "policy: $k versions"
) > "$W/loop-policy.log" 2>&1 &
LOOPS+=($!)
cat > "$W/cni.json" <<EOF
{"cniVersion":"1.0.0","name":"soak","type":"tern","socket":"$W/tern.sock"}
EOF
(   # CNI churn: ADD 4 containers, then DEL them
    k=0 fail=0
    export CNI_PATH=/usr/lib/cni CNI_IFNAME=eth0
    while more && [ $k -lt 2000 ]; do
        k=$((k + 1))
        for op in ADD DEL; do
            for c in 0 1 2 3; do
                CNI_COMMAND=$op CNI_CONTAINERID="soak$c" CNI_NETNS="/run/netns/$P-c$c" \
                    CNI_ARGS="K8S_POD_NAME=pod$c;K8S_POD_NAMESPACE=default;TERN_LABELS=app=soak$c" \
                    ip netns exec "$P-t" "$TERN" < "$W/cni.json" > /dev/null 2>> "$W/cni-stderr.log" ||
                    fail=$((fail + 1))
            done
            nap 5
        done
    done
    echo "cni: $k cycles, $fail failed calls"
) > "$W/loop-cni.log" 2>&1 &
LOOPS+=($!)
(   # control-socket and metrics clients
    k=0 fail=0
    while more && [ $k -lt 100000 ]; do
        k=$((k + 1))
        cli status > /dev/null 2>&1 || fail=$((fail + 1))
        cli status --json > /dev/null 2>&1 || fail=$((fail + 1))
        cli routes --json > /dev/null 2>&1 || fail=$((fail + 1))
        cli endpoints > /dev/null 2>&1 || fail=$((fail + 1))
        ip netns exec "$P-t" curl -sf -m 5 http://127.0.0.1:9469/metrics > /dev/null || fail=$((fail + 1))
        nap 1
    done
    echo "clients: $k rounds, $fail failed calls"
) > "$W/loop-clients.log" 2>&1 &
LOOPS+=($!)

# --- sampling ----------------------------------------------------------------------------
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$AGENT/status"; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$AGENT/stat"; }
CSV=$OUT/soak.csv
echo "elapsed_s,phase,rss_kib,hwm_kib,fds,threads,cpu_s,established,kernel_routes,rib_prefixes,rss_anon_kib,rss_file_kib" > "$CSV"
sample() { # PHASE
    kill -0 "$AGENT" 2>/dev/null || return 1
    local est routes rib
    est=$(cli status --json 2>/dev/null | jq '[.peers[] | select(.state == "Established")] | length' || echo "")
    routes=$(ip -n "$P-t" route show proto 201 | wc -l)
    rib=$(ip netns exec "$P-t" curl -sf -m 5 http://127.0.0.1:9469/metrics |
        awk '$1 ~ /^tern_rib_prefixes/ {s += $2} END {print s + 0}' || echo "")
    echo "$(($(date +%s) - START)),$1,$(kib VmRSS),$(kib VmHWM),$(ls "/proc/$AGENT/fd" | wc -l),$(kib Threads),$(cpu_s),$est,$routes,$rib,$(kib RssAnon),$(kib RssFile)" >> "$CSV"
}
STOP=$((END + QUIET))
next=$START
while [ "$(date +%s)" -lt "$STOP" ]; do
    phase=churn
    [ "$(date +%s)" -ge "$END" ] && phase=quiet
    sample "$phase" || { echo "agent exited during the soak" >&2; break; }
    next=$((next + 10))
    while [ "$(date +%s)" -lt "$next" ]; do sleep 1; done
done
sample end || true
for p in "${LOOPS[@]}"; do wait "$p" 2>/dev/null || true; done
LOOPS=()
cat "$W"/loop-*.log
kill -0 "$AGENT" 2>/dev/null && kill -TERM "$AGENT"
rc=0
wait "$AGENT" || rc=$?
echo "agent exit status after SIGTERM: $rc"
cp "$W"/*.log "$OUT"/ 2>/dev/null || true
python3 "$ROOT/bench/soak/summary.py" "$CSV" "$W/agent.log" | tee "$OUT/summary.txt"
