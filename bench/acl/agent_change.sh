#!/usr/bin/env bash
# One changed policy file, end to end in the agent (a benchmark, not a test): a `tern
# agent` in a namespace of its own enforces 2,000 Calico policies over 1,000 workload
# endpoints (`apply_bench gen`, nftables); one policy's port list is edited ROUNDS times
# (the edit and its revert alternating, each written to a temporary name and renamed
# into place, as editors and configuration tools do), and each change is timed from the
# rename to the agent's "policy applied" log line (its own timestamp, microseconds): the
# file watch and its settling, the scan of the files, reload, compile and apply.
#
#   sudo bench/acl/agent_change.sh          # ROUNDS=20, builds tern and apply_bench
#   TERN=path/to/tern NO_BUILD=1 ...        # an existing binary (apply_bench still built)
#
# Everything lives in the namespace aclagent-PID, deleted on exit (with KEEP=1 the work
# folder stays, with the agent's log).
set -euo pipefail
ROUNDS=${ROUNDS:-20}
GAP=${GAP:-0.5} # seconds between a change applied and the next edit
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=aclagent-$$
WORK=$(mktemp -d /tmp/aclagent.XXXXXX)
PIDS=()
. "$ROOT/bench/lib/common.sh"
trap 'bench_cleanup 1 kill "$P"' EXIT
trap 'exit 130' INT TERM
exec {PAUSE_FD}<> <(:)
pause() { read -rt "$1" -u "$PAUSE_FD" || :; }

(cd "$ROOT" && cargo build -q --release -p acl --example apply_bench)
if [ -z "${TERN:-}" ]; then
    [ "${NO_BUILD:-}" = 1 ] || (cd "$ROOT" && cargo build -q --release --bin tern)
    TERN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tern"
fi
TERN=$(readlink -f "$TERN")
BENCH="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/apply_bench"

"$BENCH" gen "$WORK/pol" 1000 2000 > /dev/null
FILE="$WORK/pol/policies-7.yaml"
cp "$FILE" "$WORK/original.yaml"
# The first policy with this port list only (pol-7; 19 others in the file have it too).
sed '0,/ports: \[1007, "9000:9100"\]/s//ports: [1007, 1443, "9000:9100"]/' "$WORK/original.yaml" > "$WORK/edited.yaml"
[ "$(diff "$WORK/original.yaml" "$WORK/edited.yaml" | grep -c '^>')" = 1 ] || { echo "the edit is not one line" >&2; exit 1; }
cmp -s "$WORK/original.yaml" "$WORK/edited.yaml" && { echo "the edit changed nothing" >&2; exit 1; }

ip netns add "$P"
ip -n "$P" link set lo up
cat > "$WORK/node.yaml" <<EOF
nodeName: a
asNumber: 64512
routerId: 10.0.0.1
blocks: []
control: { socket: "$WORK/a.sock" }
stateDir: "$WORK/state"
peers: []
policy: { backend: nftables, paths: ["$WORK/pol"] }
EOF
ip netns exec "$P" env RUST_LOG=info "$TERN" agent --log-format json --config "$WORK/node.yaml" \
    > "$WORK/agent.log" 2>&1 &
PIDS+=($!)
AGENT=$!

applied() { grep -c '"policy applied in' "$WORK/agent.log" || true; }
wait_applied() { # N: until N applies are logged (120 s at most)
    local end=$(( $(date +%s) + 120 ))
    while [ "$(applied)" -lt "$1" ]; do
        kill -0 "$AGENT" 2>/dev/null || { echo "agent stopped" >&2; tail -5 "$WORK/agent.log" >&2; exit 1; }
        [ "$(date +%s)" -lt "$end" ] || { echo "timed out waiting for apply $1" >&2; exit 1; }
        pause 0.01
    done
}

echo "machine: $(nproc) cores, kernel $(uname -r), $(nft --version)"
echo "tern: $TERN ($(stat -c %y "$TERN" | cut -d. -f1))"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
wait_applied 1
pause 2
: > "$WORK/t0.txt"
for ((i = 1; i <= ROUNDS; i++)); do
    n=$(applied)
    if (( i % 2 )); then src="$WORK/edited.yaml"; else src="$WORK/original.yaml"; fi
    cp "$src" "$WORK/pol/.next.tmp"
    mv "$WORK/pol/.next.tmp" "$FILE"
    echo "$EPOCHREALTIME" >> "$WORK/t0.txt"
    pause 0.05
    wait_applied $((n + 1))
    pause "$GAP"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK/t0.txt" "$WORK/agent.log" <<'PY'
import datetime, json, re, sys
t0 = [float(l) for l in open(sys.argv[1])]
applies = []
for l in open(sys.argv[2]):
    try:
        j = json.loads(l)
    except ValueError:
        continue
    msg = j.get("fields", {}).get("message", "")
    if msg.startswith("policy applied in"):
        ts = datetime.datetime.fromisoformat(j["timestamp"].replace("Z", "+00:00")).timestamp()
        applies.append((ts, msg[len("policy applied in "):]))
applies = applies[1:]  # the first, full apply
lat, apply_part = [], []
for t, (ts, dur) in zip(t0, applies):
    lat.append((ts - t) * 1000)
    m = re.fullmatch(r"([0-9.]+)(ms|µs|s)", dur)
    if m:
        v = float(m.group(1)) * {"ms": 1, "µs": 0.001, "s": 1000}[m.group(2)]
        apply_part.append(v)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
print(f"{len(lat)} changes: rename -> policy applied p50 {pct(lat, 50):.1f} ms, p90 {pct(lat, 90):.1f}, max {max(lat):.1f}"
      f" (min {min(lat):.1f}); of it the apply (engine's report) p50 {pct(apply_part, 50):.1f} ms")
PY
