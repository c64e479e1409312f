#!/usr/bin/env bash
# `tern routes --all` against a large table: the agent's peak RSS while it serves the
# listing, the listing's time and size, and the agent's RSS while a client that asked for
# the listing does not read it.
#
# The feeder (bgp/examples/feeder.rs) sends PREFIXES IPv4 prefixes (default 500,000;
# ~30 per UPDATE, ~5,000 attribute sets) to `tern agent` (FIB off) inside a private
# namespace (lo only; removed on exit). Once the agent has them all:
#   rest   VmRSS with the table loaded;
#   serve  VmHWM after `tern routes --all --json > /dev/null`, the peak reset just before
#          (/proc/PID/clear_refs), i.e. the peak while serving; and the wall time and
#          bytes of the listing;
#   stall  VmRSS 15 s after a client sent the routes request and then stopped reading
#          (it keeps the connection open).
#
# Usage: bench/routes/run.sh [TERN_BINARY...]  (default: target/release/tern)
#        PREFIXES=N, FEEDER=path (default target/release/examples/feeder).
# Each binary is used both as the agent and as its own `tern routes` client.
# Needs root, iproute2, python3. Prints one Markdown row per binary.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PREFIXES=${PREFIXES:-500000}
FEEDER=${FEEDER:-$ROOT/target/release/examples/feeder}
BINS=("${@:-$ROOT/target/release/tern}")
WORK=$(mktemp -d /tmp/bench-routes.XXXXXX)
NS_LIST=()
PIDS=()
. "$ROOT/bench/lib/common.sh"
. "$ROOT/bench/lib/daemons.sh"
trap 'bench_cleanup 0.3 kill "${NS_LIST[@]:-}"' EXIT
# A signal ends the run (the EXIT trap cleans up); a handler alone would carry on.
trap 'exit 130' INT TERM

mib() { echo "$(( $1 / 1024 ))"; }

echo "| binary | prefixes | RSS at rest | peak RSS serving routes --all | listing time | listing size | RSS with a stalled reader |"
echo "|---|---|---|---|---|---|---|"
i=0
for TERN in "${BINS[@]}"; do
    i=$((i + 1))
    NS="bench-routes-$$-$i"
    ip netns add "$NS"
    NS_LIST+=("$NS")
    ip -n "$NS" link set lo up
    ip -n "$NS" addr add 127.0.0.2/8 dev lo 2>/dev/null || true
    D="$WORK/$i"
    mkdir -p "$D"
    feeder_node_yaml "{ enabled: false }" "$D/tern.sock" > "$D/node.yaml"
    ip netns exec "$NS" "$TERN" agent --config "$D/node.yaml" > "$D/agent.log" 2>&1 &
    APID=$!
    PIDS+=("$APID")
    for _ in $(seq 1 100); do [ -S "$D/tern.sock" ] && break; sleep 0.1; done
    ip netns exec "$NS" "$FEEDER" --connect 127.0.0.1:179 --bind 127.0.0.2 --as 65001 \
        --router-id 10.255.0.1 --next-hop 127.0.0.2 --prefixes "$PREFIXES" --stay 900 \
        --timeout 600 > "$D/feeder.out" 2> "$D/feeder.err" &
    PIDS+=("$!")
    got=0
    for _ in $(seq 1 1200); do
        got=$("$TERN" status --json --socket "$D/tern.sock" 2>/dev/null |
            tr -d ' \n' | sed -n 's/.*"accepted":\([0-9]*\).*/\1/p' | head -n 1)
        [ "${got:-0}" -ge "$PREFIXES" ] && break
        sleep 0.5
    done
    sleep 2
    rest=$(kib "$APID" VmRSS)
    echo 5 > "/proc/$APID/clear_refs"
    t0=$(date +%s%3N)
    note=""
    if ! "$TERN" routes --all --json --socket "$D/tern.sock" > "$D/routes.json" 2> "$D/routes.err"; then
        # The client gave up (an old agent answers only after building the whole
        # reply; the old client waits 10 s): the agent still builds it, so wait for
        # that before reading the peak.
        note=" (client failed: $(head -c 120 "$D/routes.err"))"
        sleep 60
    fi
    t1=$(date +%s%3N)
    peak=$(kib "$APID" VmHWM)
    size=$(stat -c %s "$D/routes.json")
    rows=$(grep -c '"prefix"' "$D/routes.json" || true)
    rm -f "$D/routes.json"
    # A client that asks and never reads (both request forms: the old agent ignores
    # unknown fields).
    python3 - "$D/tern.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"request":"routes","all":true}\n')
time.sleep(20)
PY
    SPID=$!
    PIDS+=("$SPID")
    sleep 15
    stall=$(kib "$APID" VmRSS)
    kill "$SPID" 2>/dev/null || true
    echo "| $(basename "$(dirname "$(dirname "$TERN")")")/$(basename "$TERN") | $rows of ${got:-0} | $(mib "$rest") MiB | $(mib "$peak") MiB | $((t1 - t0)) ms$note | $((size / 1048576)) MiB | $(mib "$stall") MiB |"
done
