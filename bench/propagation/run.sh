#!/bin/bash
# Propagation latency (bench/propagation): one new block announced on host A, until the
# route is in host C's kernel. Three hosts a, b, c (10.0.0.1-3) on one bridge, AS 64512,
# two topologies:
#
#   rr    b is a route reflector, a and c are its clients and peer with b only:
#         the route goes a -> b -> c (reflected, next hop a).
#   mesh  Calico's node-to-node mesh: a, b, c all peer with each other; the route goes
#         a -> c directly (b learns it too).
#
# Each topology is run with tern agents on all three hosts (FIB on, main table) and with
# BIRD 2 on all three hosts (Calico's stack: static blackhole for a block, `protocol
# kernel` exporting BGP routes, `rr client` on the reflector), one after the other in the
# same run. A change: a writes a config with one more block (10.96.N.0/26) and reloads it
# (`tern reload` / `birdc configure`, as Calico's confd does for BIRD). Timed from the
# moment before that command to the route's line in `ip -ts monitor route` inside c (the
# kernel's own notification). Split in three by tcpdump on a's and c's eth0: command -> the
# first UPDATE carrying the block leaving a (CLI, config reload, origination); -> the first
# UPDATE with it arriving at c (the wire, and b's reflection in rr); -> the route in c's
# kernel (c's RIB and FIB). The route's arrival in b's kernel is timed too, and the later
# of the two ("both"): in the mesh b and c are alike, and which of them a writes to first
# is up to the daemon (on this lab's veths the first receiver's work runs on a's CPU
# before a's second copy leaves, so "c" alone measures that choice as much as the path).
# p50/p99 over CHANGES changes
# (each waited for, bounded by 10 s, GAP s apart). The time is taken inside the shell
# ($EPOCHREALTIME) and the first look at c's routes comes LOOK s after the command, with
# the shell's own `read -t`: no process of the bench starts while a change is in flight
# (forking `date`, `grep` and `sleep` took most of one of this 2-core VM's CPUs right
# then, and left the three daemons the other one).
#
#   sudo bench/propagation/run.sh          # CHANGES=200 TOPOS="rr mesh" DAEMONS="tern bird"
#   TERN=target/release/tern NO_BUILD=1 ...   # use an existing binary
#   TRIGGER=signal ...   # reload with SIGHUP to a's daemon (both re-read their config on
#                        # SIGHUP) instead of the CLI: the daemons without the client's start
#   ROUNDS=6 ...         # every topology and daemon ROUNDS times, the daemons' order
#                        # reversed every other round; at the end, per topology and daemon,
#                        # the p50 / p99 of all rounds' changes together ("pooled") and in
#                        # how many rounds each daemon was at or below the other's
#
# A p99 of 200 changes on a shared 2-core VM moves by a millisecond from one run to the
# next (for both daemons): compare daemons over several rounds, not one.
#
# Everything lives in namespaces ternbench-prop-PID-*, deleted on exit; with KEEP=1 the
# work folder stays, with series-DAEMON-TOPO[-rROUND].csv (every change's times).
set -euo pipefail
CHANGES=${CHANGES:-200}
ROUNDS=${ROUNDS:-1}
TOPOS=${TOPOS:-"rr mesh"}
DAEMONS=${DAEMONS:-"tern bird"}
TRIGGER=${TRIGGER:-cli}  # cli: `tern reload` / `birdc configure`; signal: SIGHUP
case "$TRIGGER" in cli | signal) ;; *) echo "TRIGGER must be cli or signal" >&2; exit 2 ;; esac
GAP=${GAP:-0.1}   # seconds between a change arriving at c and the next change
LOOK=${LOOK:-0.03} # seconds after the command before the bench first looks at c
# A pipe nobody writes to: `read -t` on it waits without starting a process.
exec {PAUSE_FD}<> <(:)
pause() { read -rt "$1" -u "$PAUSE_FD" || :; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=ternbench-prop-$$
WORK=$(mktemp -d /tmp/ternbench-prop.XXXXXX)
chmod 755 "$WORK"
PIDS=()
. "$ROOT/bench/lib/common.sh"
trap 'bench_cleanup 0.5 term "$P-a" "$P-b" "$P-c" "$P-sw"' EXIT
# A signal ends the run (the EXIT trap cleans up); a handler alone would carry on.
trap 'exit 130' INT TERM

if [ -z "${TERN:-}" ]; then
    [ "${NO_BUILD:-}" = 1 ] || (cd "$ROOT" && cargo build -q --release --bin tern)
    TERN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tern"
fi
TERN=$(readlink -f "$TERN")

H=(a b c)
declare -A ADDR=([a]=10.0.0.1 [b]=10.0.0.2 [c]=10.0.0.3)
ip netns add "$P-sw"
ip -n "$P-sw" link set lo up
ip -n "$P-sw" link add br0 type bridge
ip -n "$P-sw" link set br0 up
for h in "${H[@]}"; do
    ip netns add "$P-$h"
    ip -n "$P-$h" link set lo up
    ip netns exec "$P-$h" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$P-$h" link add eth0 type veth peer name "p$h"
    ip -n "$P-$h" link set "p$h" netns "$P-sw"
    ip -n "$P-sw" link set "p$h" master br0
    ip -n "$P-sw" link set "p$h" up
    ip -n "$P-$h" addr add "${ADDR[$h]}/24" dev eth0
    ip -n "$P-$h" link set eth0 up
done

block() { echo "10.96.$(( $1 / 4 )).$(( ($1 % 4) * 64 ))/26"; }
blocks_upto() {  # n: the first n blocks, comma separated
    local out="" i
    for ((i = 0; i < $1; i++)); do out+="${out:+, }$(block "$i")"; done
    echo "$out"
}
# The peers of host $2 in topology $1.
peers_of() {
    case "$1/$2" in
        rr/b) echo "a c" ;;
        rr/*) echo "b" ;;
        mesh/a) echo "b c" ;;
        mesh/b) echo "a c" ;;
        mesh/c) echo "a b" ;;
    esac
}

tern_conf() {  # topo host nblocks
    local topo=$1 h=$2 n=$3 p
    {
        echo "nodeName: $h"
        echo "asNumber: 64512"
        echo "routerId: ${ADDR[$h]}"
        echo "blocks: [$([ "$h" = a ] && blocks_upto "$n")]"
        echo "pools: [10.96.0.0/12]"
        echo "control: { socket: \"$WORK/$h.sock\" }"
        echo "stateDir: \"$WORK/$h-state\""
        [ "$topo/$h" = rr/b ] && echo "routeReflector: { clusterId: 10.0.0.2 }"
        echo "peers:"
        for p in $(peers_of "$topo" "$h"); do
            local client=false
            [ "$topo/$h" = rr/b ] && client=true
            echo "  - { peerIP: ${ADDR[$p]}, asNumber: 64512, routeReflectorClient: $client, holdTime: 9s, connectRetryTime: 1s }"
        done
    } > "$WORK/$h.yaml.new"
    mv "$WORK/$h.yaml.new" "$WORK/$h.yaml"
}

bird_conf() {  # topo host nblocks
    local topo=$1 h=$2 n=$3 p i
    {
        echo "router id ${ADDR[$h]};"
        echo "log stderr all;"
        echo "protocol device { scan time 10; }"
        echo "protocol direct { ipv4; interface \"eth0\"; }"
        echo "protocol kernel { ipv4 { export where source = RTS_BGP || source = RTS_STATIC; }; }"
        echo "protocol static blocks { ipv4;"
        if [ "$h" = a ]; then
            for ((i = 0; i < n; i++)); do echo "  route $(block "$i") blackhole;"; done
        fi
        echo "}"
        for p in $(peers_of "$topo" "$h"); do
            echo "protocol bgp $p {"
            echo "  local ${ADDR[$h]} as 64512; neighbor ${ADDR[$p]} as 64512;"
            echo "  hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 5;"
            [ "$topo/$h" = rr/b ] && echo "  rr client; rr cluster id 10.0.0.2;"
            echo "  ipv4 { import all; export where source = RTS_STATIC || source = RTS_BGP; };"
            echo "}"
        done
    } > "$WORK/$h.conf"
}

start() {  # daemon topo host
    local d=$1 topo=$2 h=$3
    if [ "$d" = tern ]; then
        tern_conf "$topo" "$h" 0
        rm -f "$WORK/$h.sock"
        ip netns exec "$P-$h" env RUST_LOG=warn "$TERN" agent --config "$WORK/$h.yaml" \
            >> "$WORK/$d-$h.log" 2>&1 &
    else
        bird_conf "$topo" "$h" 0
        rm -f "$WORK/$h.ctl"
        ip netns exec "$P-$h" bird -f -c "$WORK/$h.conf" -s "$WORK/$h.ctl" \
            -P "$WORK/$h.pid" >> "$WORK/$d-$h.log" 2>&1 &
    fi
    PIDS+=($!)
    echo $!
}
wait_until() {  # SECONDS CMD...
    local end=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || { echo "timed out: $*" >&2; tail -n 20 "$WORK"/*.log >&2; exit 1; }
        sleep 0.05
    done
}
established() {  # daemon host npeers
    if [ "$1" = tern ]; then
        [ "$("$TERN" status --json --socket "$WORK/$2.sock" 2>/dev/null |
            grep -o '"state": \?"Established"' | wc -l)" -ge "$3" ]
    else
        [ "$(birdc -s "$WORK/$2.ctl" show protocols 2>/dev/null | grep -c Established)" -ge "$3" ]
    fi
}
announce() {  # daemon topo nblocks block a's-pid: writes the config, notes the time, reloads
    if [ "$1" = tern ]; then
        tern_conf "$2" a "$3"
    else
        bird_conf "$2" a "$3"
    fi
    echo "$4 $EPOCHREALTIME" >> "$WORK/t0-$1-$2$SUFFIX.txt"
    if [ "$TRIGGER" = signal ]; then
        kill -HUP "$5"
    elif [ "$1" = tern ]; then
        "$TERN" reload --socket "$WORK/a.sock" > /dev/null
    else
        birdc -s "$WORK/a.ctl" configure > /dev/null
    fi
}
# A learned route in host $1's kernel: "PREFIX via ..." or, through a nexthop object,
# "PREFIX nhid N via ...".
in_kernel() { grep -Eq "^\[[^]]*\] $2 (nhid [0-9]+ )?via" "$WORK/mon-$1-$d-$topo.log"; }

echo "machine: $(nproc) cores, kernel $(uname -r), $(bird --version 2>&1)"
echo "tern: $TERN ($(stat -c %y "$TERN" | cut -d. -f1))"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "trigger: $TRIGGER"

run() {  # daemon topo
    local d=$1 topo=$2 h i pids=()
    for h in "${H[@]}"; do pids+=("$(start "$d" "$topo" "$h")"); done
    # start runs in a subshell: its PIDS+= is lost, so the EXIT trap learns them here
    # (a timed-out run used to leave the three daemons running).
    PIDS+=("${pids[@]}")
    local np
    for h in "${H[@]}"; do
        np=$(peers_of "$topo" "$h" | wc -w)
        wait_until 60 established "$d" "$h" "$np"
    done
    sleep 1
    ip netns exec "$P-a" tcpdump -i eth0 -n -tt -v -l -s 0 'tcp port 179' \
        > "$WORK/cap-a-$d-$topo.txt" 2> /dev/null &
    local ma=$!
    ip -ts -n "$P-c" monitor route > "$WORK/mon-c-$d-$topo.log" 2>&1 &
    local mc=$!
    ip -ts -n "$P-b" monitor route > "$WORK/mon-b-$d-$topo.log" 2>&1 &
    local mb=$!
    ip netns exec "$P-c" tcpdump -i eth0 -n -tt -v -l -s 0 'tcp port 179' \
        > "$WORK/cap-c-$d-$topo.txt" 2> /dev/null &
    local cc=$!
    PIDS+=("$ma" "$mc" "$mb" "$cc")
    sleep 0.5
    : > "$WORK/t0-$d-$topo$SUFFIX.txt"
    for ((i = 1; i <= CHANGES; i++)); do
        local b; b=$(block $((i - 1)))
        announce "$d" "$topo" "$i" "$b" "${pids[0]}"
        pause "$LOOK"
        wait_until 10 in_kernel c "$b"
        wait_until 10 in_kernel b "$b"
        sleep "$GAP"
    done
    kill "$ma" "$mc" "$mb" "$cc" 2>/dev/null || true
    sleep 0.2
    python3 - "$d${SUFFIX:+ (round $ROUND)}" "$topo" "$WORK/t0-$d-$topo$SUFFIX.txt" "$WORK/cap-a-$d-$topo.txt" "$WORK/mon-c-$d-$topo.log" "$WORK/cap-c-$d-$topo.txt" "$WORK/mon-b-$d-$topo.log" <<'PY'
import re, sys, datetime
d, topo, t0f, capa, monc, capc, monb = sys.argv[1:]
def ts(line):
    s = line[1:line.index("]")]
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f").timestamp()
def added(path):
    out = {}
    for l in open(path):
        if not l.startswith("[") or "Deleted" in l:
            continue
        rest = l[l.index("]") + 2:].split()
        if len(rest) > 3 and rest[1] == "nhid":
            rest = rest[:1] + rest[3:]
        if len(rest) > 2 and rest[1] == "via":
            out.setdefault(rest[0], ts(l))
    return out
def sent(path, src="10.0.0.1.", into=False):
    # tcpdump -tt -v: a packet line starts with its time; BGP UPDATEs list their NLRI
    # one per line below it.
    # The addresses are on the packet's second line. Per block: the first UPDATE's time
    # and the host it went to (a, b or c, by the last octet of its address).
    out, now, stamp = {}, None, None
    for l in open(path):
        m = re.match(r"^(\d+\.\d+) IP ", l)
        if m:
            now, stamp = None, float(m.group(1))
            continue
        w = l.strip()
        if stamp is not None and " > " in w:
            to = "abc"[int(w.split(" > ")[1].split(".")[3]) - 1]
            now = (stamp, to) if w.startswith(src) != into else None
            stamp = None
            continue
        if now is not None and re.fullmatch(r"10\.96\.\d+\.\d+/26", w):
            out.setdefault(w, now)
    return out
t0 = {l.split()[0]: float(l.split()[1]) for l in open(t0f)}
a_sent = sent(capa)
a = {b: t for b, (t, _) in a_sent.items()}
r = {b: t for b, (t, _) in sent(capc, "10.0.0.3.", into=True).items()}  # arriving at c
c = added(monc)
bk = added(monb)
# The later of b's and c's kernels: in the mesh b and c are alike (both peers of a), and
# which of them a serves first is the daemon's choice, not the topology's.
both = {k: max(c[k], bk[k]) for k in c if k in bk}
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
def diff(x, y):
    return [(x[b] - y[b]) * 1000 for b in t0 if b in x and b in y]
cmd = diff(c, t0)
line = f"| {topo} | {d} | {len(cmd)} |"
line += f" {pct(cmd, 50):.2f} | {pct(cmd, 99):.1f} | {max(cmd):.1f} |" if cmd else " - | - | - |"
for v in (diff(bk, t0), diff(both, t0)):
    line += f" {pct(v, 50):.2f} | {pct(v, 99):.1f} |" if v else " - | - |"
for v in (diff(a, t0), diff(r, a), diff(c, r)):
    line += f" {pct(v, 50):.2f} | {pct(v, 99):.1f} |" if v else " - | - |"
to_c = sum(1 for b in t0 if b in a_sent and a_sent[b][1] == "c")
# In rr a has one peer (b): there is no order to show.
line += f" {to_c}/{len(t0)} |" if topo == "mesh" else " - |"
print(line, flush=True)
with open(t0f.replace("/t0-", "/series-").replace(".txt", ".csv"), "w") as f:
    f.write("change,block,command_to_c_kernel_ms,command_to_a_update_ms,"
            "a_update_to_c_update_ms,c_update_to_c_kernel_ms,command_to_b_kernel_ms\n")
    for i, b in enumerate(t0):
        v = [f"{(x - y) * 1000:.3f}" if x and y else "" for x, y in
             ((c.get(b), t0[b]), (a.get(b), t0[b]), (r.get(b), a.get(b)), (c.get(b), r.get(b)),
              (bk.get(b), t0[b]))]
        f.write(f"{i + 1},{b},{','.join(v)}\n")
PY
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; done
    for h in "${H[@]}"; do
        ip -n "$P-$h" route flush proto 201 2>/dev/null || true
        ip -n "$P-$h" route flush proto bird 2>/dev/null || true
        ip -n "$P-$h" route flush type blackhole 2>/dev/null || true
    done
    rm -rf "$WORK"/*-state
}

echo
echo "| topology | daemons | changes | command -> c's kernel p50 (ms) | p99 | max | -> b's kernel p50 | p99 | -> both p50 | p99 | command -> a sends UPDATE p50 | p99 | a sends -> c receives p50 | p99 | c receives -> c's kernel p50 | p99 | a wrote to c first |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
SUFFIX=
REVERSED=$(printf '%s\n' $DAEMONS | tac | xargs)
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    [ "$ROUNDS" = 1 ] || SUFFIX=-r$ROUND
    order=$DAEMONS
    [ $((ROUND % 2)) = 1 ] || order=$REVERSED
    for topo in $TOPOS; do
        for d in $order; do
            run "$d" "$topo"
        done
    done
done
if [ "$ROUNDS" != 1 ]; then
    echo
    echo "Pooled over $ROUNDS rounds (\"both\", ms; rounds: in how many rounds this daemon's value was at or below every other's):"
    echo
    echo "| topology | daemon | changes | both p50 | p90 | p99 | rounds at or below, p50 | p99 | command -> a sends p50 | p99 | a sends -> c receives p50 | p99 | c receives -> c's kernel p50 | p99 |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    python3 - "$WORK" "$ROUNDS" "$TOPOS" "$DAEMONS" <<'PY'
import csv, os, sys
work, rounds, topos, daemons = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
def num(x):
    return float(x) if x else None
for topo in topos:
    series = {}  # daemon -> round -> rows
    for d in daemons:
        for r in range(1, rounds + 1):
            path = f"{work}/series-{d}-{topo}-r{r}.csv"
            if os.path.exists(path):
                series.setdefault(d, {})[r] = list(csv.DictReader(open(path)))
    def both(rows):
        out = []
        for x in rows:
            c, b = num(x["command_to_c_kernel_ms"]), num(x["command_to_b_kernel_ms"])
            if c is not None and b is not None:
                out.append(max(c, b))
        return out
    per_round = {d: {r: both(rows) for r, rows in rs.items()} for d, rs in series.items()}
    for d, rs in series.items():
        pooled = [v for r in sorted(rs) for v in per_round[d][r]]
        if not pooled:
            continue
        wins = {50: 0, 99: 0}
        for p in wins:
            for r in rs:
                mine = per_round[d][r]
                others = [per_round[o][r] for o in per_round if o != d and per_round[o].get(r)]
                if mine and others and all(pct(mine, p) <= pct(o, p) for o in others):
                    wins[p] += 1
        line = f"| {topo} | {d} | {len(pooled)} | {pct(pooled, 50):.2f} | {pct(pooled, 90):.2f} | {pct(pooled, 99):.2f} | {wins[50]}/{len(rs)} | {wins[99]}/{len(rs)} |"
        for col in ("command_to_a_update_ms", "a_update_to_c_update_ms", "c_update_to_c_kernel_ms"):
            v = [num(x[col]) for r in sorted(rs) for x in rs[r] if num(x[col]) is not None]
            line += f" {pct(v, 50):.2f} | {pct(v, 99):.2f} |" if v else " - | - |"
        print(line)
PY
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
