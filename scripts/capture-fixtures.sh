#!/usr/bin/env bash
# Regenerates bgp/tests/fixtures/: real BGP sessions between BIRD 2 and GoBGP, captured
# with tcpdump inside network namespaces that this script creates and removes.
#
#   sudo scripts/capture-fixtures.sh [OUTDIR]      (default OUTDIR: bgp/tests/fixtures)
#
# Captures (each one pcap with exactly one TCP session, plus that session's payload
# bytes per direction in NAME.bird-to-gobgp.bin and NAME.gobgp-to-bird.bin):
#   ipv4-as4  BIRD AS 4200000001 <-> GoBGP AS 65001 over IPv4, ipv4 unicast
#   ipv6-as4  the same daemons over IPv6, ipv6 unicast (MP_REACH/MP_UNREACH,
#             BIRD's global + link-local next hop)
#   ipv4-as2  BIRD AS 65002 with `enable as4 off` <-> GoBGP AS 65001: 2-octet AS_PATH
#             with AS_TRANS plus AS4_PATH, AGGREGATOR plus AS4_AGGREGATOR
#   ipv4-addpath  BIRD AS 4200000001 <-> GoBGP AS 65001, ADD-PATH both ways, two paths
#             for some prefixes
# Each session carries: OPENs with capabilities, routes with communities (incl. well-known),
# large communities, MED, ORIGIN, prepended AS paths, later announcements, withdrawals,
# a ROUTE-REFRESH from BIRD and GoBGP's answer, KEEPALIVEs (hold 9 s), and a Cease
# NOTIFICATION (Administrative Shutdown with an RFC 8203 message) sent by BIRD at the end.
# bgp/tests/fixtures/README.md lists every route and attribute.
#
# Needs root, iproute2, bird (2.x), gobgpd/gobgp, tcpdump, tshark, perl.
# Touches nothing outside its own namespaces (tcap-PID-*); stops only the PIDs it started.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/bgp/tests/fixtures}
[ "$(id -u)" = 0 ] || { echo "capture-fixtures: must run as root (network namespaces)" >&2; exit 1; }
for tool in ip bird birdc gobgpd gobgp tcpdump tshark perl; do
    command -v "$tool" >/dev/null || { echo "capture-fixtures: $tool not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

prefix="tcap-$$-"
work=$(mktemp -d /tmp/tcap.XXXXXX)
pids=()
namespaces=()

cleanup() {
    local rc=$?
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    local ns
    for ns in "${namespaces[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ "$rc" != 0 ]; then
        echo "capture-fixtures: failed (rc $rc); logs:" >&2
        tail -n 30 "$work"/*.log >&2 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

log() { echo "capture-fixtures: $*" >&2; }

# wait_for DESCRIPTION SECONDS COMMAND... — polls COMMAND every 0.2 s, bounded.
wait_for() {
    local what=$1 secs=$2
    shift 2
    local i
    for ((i = 0; i < secs * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    log "timed out after ${secs}s waiting for: $what"
    return 1
}

# start NAME NS COMMAND... — runs COMMAND inside NS in the background; remembers its PID.
start() {
    local name=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$@" >"$work/$name.log" 2>&1 &
    pids+=("$!")
    last_pid=$!
}

# stop PID — SIGTERM one process that this script started, then reap it.
stop() {
    local pid=$1 keep=() p
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    pids=("${keep[@]}")
}

# Two namespaces joined by one veth pair (eth0 on both sides), IPv4 and IPv6 addresses.
make_lab() {
    ns_b="${prefix}bird"
    ns_g="${prefix}gobgp"
    ip netns add "$ns_b"; namespaces+=("$ns_b")
    ip netns add "$ns_g"; namespaces+=("$ns_g")
    local ns
    for ns in "$ns_b" "$ns_g"; do
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    done
    ip -n "$ns_b" link add eth0 type veth peer name eth0 netns "$ns_g"
    ip -n "$ns_b" addr add 10.100.0.1/24 dev eth0
    ip -n "$ns_b" addr add fd00:100::1/64 dev eth0 nodad
    ip -n "$ns_g" addr add 10.100.0.2/24 dev eth0
    ip -n "$ns_g" addr add fd00:100::2/64 dev eth0 nodad
    ip -n "$ns_b" link set eth0 up
    ip -n "$ns_g" link set eth0 up
    wait_for "link-local address on $ns_b eth0" 10 \
        sh -c "ip -n '$ns_b' -6 addr show dev eth0 scope link | grep -q 'inet6 fe80'"
}

bird_sock() { echo "$work/bird.ctl"; }
birdc_() { birdc -s "$(bird_sock)" "$@"; }
gobgp_() { ip netns exec "$ns_g" gobgp "$@"; }

bird_established() { birdc_ show protocols "$1" | grep -q Established; }
bird_down() { ! birdc_ show protocols "$1" | grep -q Established; }

# capture_start NAME FILTER — tcpdump on the BIRD side's eth0, one pcap per capture.
capture_start() {
    local name=$1 filter=$2
    start "tcpdump-$name" "$ns_b" tcpdump -Z root -i eth0 -U -s 0 -w "$work/$name.pcap" "$filter"
    eval "tcpdump_$(echo "$name" | tr - _)=$last_pid"
    wait_for "tcpdump $name listening" 10 grep -q "listening on" "$work/tcpdump-$name.log"
}

capture_stop() {
    local var="tcpdump_$(echo "$1" | tr - _)"
    stop "${!var}"
}

gobgp_conf_common() {
    cat <<EOF
[global.config]
  as = $1
  router-id = "10.100.0.2"
EOF
}

gobgp_neighbor() { # ADDRESS PEER_AS AFI_SAFI [addpath]
    cat <<EOF
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$1"
    peer-as = $2
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "$3"
EOF
    if [ "${4:-}" = addpath ]; then
        cat <<EOF
    [neighbors.afi-safis.add-paths.config]
      receive = true
      send-max = 8
EOF
    fi
}

start_gobgpd() {
    start gobgpd "$ns_g" gobgpd -f "$work/gobgpd.toml" -p --api-hosts=127.0.0.1:50051 --pprof-disable
    gobgpd_pid=$last_pid
    wait_for "gobgpd API" 20 gobgp_ global
}

start_bird() {
    start bird "$ns_b" bird -f -c "$work/bird.conf" -s "$(bird_sock)" -P "$work/bird.pid"
    bird_pid=$last_pid
    wait_for "bird control socket" 20 birdc_ show status
}

# The export filter BIRD uses towards GoBGP: attributes chosen per prefix.
bird_filter() { # OWN_AS
    cat <<EOF
filter to_gobgp {
  if source != RTS_STATIC then reject;
  if net = 198.51.100.0/24 || net = 2001:db8:100::/48 then {
    bgp_origin = ORIGIN_IGP;
    bgp_community.add((65001,100));
    bgp_community.add((65535,666));
    bgp_community.add((65535,0));
    bgp_large_community.add(($1,1,2));
    bgp_med = 50;
  }
  if net = 203.0.113.0/25 || net = 2001:db8:200::/56 then {
    bgp_origin = ORIGIN_EGP;
    bgp_path.prepend(64496);
    bgp_path.prepend(4200000099);
    bgp_path.prepend($1);
    bgp_large_community.add(($1,3,4));
    bgp_large_community.add((65001,0,4294967295));
  }
  if net = 192.0.2.128/26 || net = 2001:db8:300::/64 then {
    bgp_community.add((64512,1));
    bgp_community.add((65535,65283));
    bgp_med = 0;
  }
  if proto = "s4b" then {
    bgp_med = 77;
    bgp_community.add((65001,777));
  }
  accept;
}
EOF
}

bird_statics() {
    cat <<'EOF'
protocol device { }
protocol static s4 {
  ipv4;
  route 198.51.100.0/24 blackhole;
  route 203.0.113.0/25 blackhole;
  route 192.0.2.128/26 blackhole;
  route 100.64.0.0/10 blackhole;
}
protocol static s6 {
  ipv6;
  route 2001:db8:100::/48 blackhole;
  route 2001:db8:200::/56 blackhole;
  route 2001:db8:300::/64 blackhole;
  route 2001:db8:ffff::/48 blackhole;
}
# Disabled later in the session to withdraw its routes.
protocol static wd4 {
  ipv4;
  route 10.99.0.0/16 blackhole;
  route 10.98.1.0/24 blackhole;
}
protocol static wd6 {
  ipv6;
  route 2001:db8:dead::/48 blackhole;
  route 2001:db8:beef:1::/64 blackhole;
}
EOF
}

# Hex lines on stdin -> bytes (perl-base is on every Debian system).
unhex() { perl -ne 'chomp; print pack("H*", $_)'; }

# extract NAME — checks NAME.pcap holds one TCP session and writes each direction's
# payload byte stream (reassembled by tshark: ordered, retransmissions dropped).
extract() {
    local name=$1 pcap="$out/$1.pcap"
    local streams
    streams=$(tshark -r "$pcap" -T fields -e tcp.stream 2>/dev/null | sort -u | grep -c .)
    [ "$streams" = 1 ] || { log "$name: expected one TCP session, found $streams"; return 1; }
    tshark -r "$pcap" -q -z follow,tcp,raw,0 >"$work/$name.follow" 2>/dev/null
    local node0
    node0=$(sed -n 's/^Node 0: //p' "$work/$name.follow")
    local first second
    case "$node0" in
        10.100.0.1:* | "[fd00:100::1]":* | fd00:100::1:*) first=bird-to-gobgp; second=gobgp-to-bird ;;
        10.100.0.2:* | "[fd00:100::2]":* | fd00:100::2:*) first=gobgp-to-bird; second=bird-to-gobgp ;;
        *) log "$name: unexpected node 0 '$node0'"; return 1 ;;
    esac
    # Payload lines are bare hex; node 1's lines start with a tab.
    grep -E '^[0-9a-f]+$' "$work/$name.follow" | unhex >"$out/$name.$first.bin"
    grep -E $'^\t[0-9a-f]+$' "$work/$name.follow" | tr -d '\t' | unhex >"$out/$name.$second.bin"
    local f
    for f in "$out/$name.$first.bin" "$out/$name.$second.bin"; do
        [ -s "$f" ] || { log "$f is empty"; return 1; }
    done
    log "$name: $(stat -c %s "$out/$name.bird-to-gobgp.bin") bytes BIRD->GoBGP," \
        "$(stat -c %s "$out/$name.gobgp-to-bird.bin") bytes GoBGP->BIRD"
}

# Common timeline once the sessions are up: keepalives, new routes, withdrawals,
# a route refresh from BIRD, then BIRD shuts the sessions down with a Cease.
session_events() { # BIRD_PROTOCOLS... (e.g. gobgp4 gobgp6)
    sleep 7 # two or more keepalive rounds (keepalive 3 s)
    "${later_adds[@]}"
    sleep 1
    "${later_dels[@]}"
    birdc_ disable wd4 >/dev/null
    birdc_ disable wd6 >/dev/null
    sleep 2
    local p
    for p in "$@"; do birdc_ reload in "$p" >/dev/null; done # BIRD sends ROUTE-REFRESH,
    # GoBGP answers with its routes again (GoBGP's softresetin does not send one).
    sleep 4
    for p in "$@"; do
        birdc_ disable "$p" "\"tern fixture capture: shutting down $p\"" >/dev/null
    done
    for p in "$@"; do wait_for "$p down" 20 bird_down "$p"; done
    sleep 1
}

scenario_as4() {
    log "scenario as4: BIRD AS 4200000001 <-> GoBGP AS 65001, IPv4 and IPv6 sessions"
    {
        gobgp_conf_common 65001
        gobgp_neighbor 10.100.0.1 4200000001 ipv4-unicast
        gobgp_neighbor fd00:100::1 4200000001 ipv6-unicast
    } >"$work/gobgpd.toml"
    {
        echo "router id 10.100.0.1;"
        echo "log stderr all;"
        bird_statics
        bird_filter 4200000001
        cat <<'EOF'
template bgp peer {
  local as 4200000001;
  hold time 9;
  keepalive time 3;
  connect retry time 1;
}
protocol bgp gobgp4 from peer {
  local 10.100.0.1;
  neighbor 10.100.0.2 as 65001;
  ipv4 { import all; export filter to_gobgp; };
}
protocol bgp gobgp6 from peer {
  local fd00:100::1;
  neighbor fd00:100::2 as 65001;
  ipv6 { import all; export filter to_gobgp; };
}
EOF
    } >"$work/bird.conf"

    capture_start ipv4-as4 "ip and tcp port 179"
    capture_start ipv6-as4 "ip6 and tcp port 179"
    start_gobgpd
    # Routes GoBGP has before the sessions come up (sent in the initial UPDATEs).
    gobgp_ global rib add -a ipv4 172.16.0.0/16 origin egp med 20 \
        community 65001:200,no-export large-community 65001:7:8,4200000001:0:1
    gobgp_ global rib add -a ipv4 172.17.1.0/24 origin incomplete community 65001:201,65535:65282 \
        aspath 65010,4200000010 aggregator 4200000010:10.0.0.9
    gobgp_ global rib add -a ipv4 172.18.0.0/15
    gobgp_ global rib add -a ipv6 2001:db8:f00::/48 origin igp med 30 community 65001:300 \
        large-community 65001:1:1
    gobgp_ global rib add -a ipv6 2001:db8:f01::/48 aspath 65020,65021
    start_bird
    wait_for "gobgp4 Established" 60 bird_established gobgp4
    wait_for "gobgp6 Established" 60 bird_established gobgp6

    later_adds=(eval
        "gobgp_ global rib add -a ipv4 172.20.0.0/22 community 65001:400 large-community 65001:4:0 med 40 &&
         gobgp_ global rib add -a ipv6 2001:db8:f02::/48 community 65001:500 large-community 65001:5:0")
    later_dels=(eval
        "gobgp_ global rib del -a ipv4 172.16.0.0/16 &&
         gobgp_ global rib del -a ipv6 2001:db8:f00::/48")
    session_events gobgp4 gobgp6

    capture_stop ipv4-as4
    capture_stop ipv6-as4
    stop "$bird_pid"
    stop "$gobgpd_pid"
    cp "$work/ipv4-as4.pcap" "$work/ipv6-as4.pcap" "$out/"
}

scenario_as2() {
    log "scenario as2: BIRD AS 65002 without 4-octet AS <-> GoBGP AS 65001, IPv4"
    {
        gobgp_conf_common 65001
        gobgp_neighbor 10.100.0.1 65002 ipv4-unicast
    } >"$work/gobgpd.toml"
    {
        echo "router id 10.100.0.1;"
        echo "log stderr all;"
        bird_statics
        bird_filter 65002
        cat <<'EOF'
protocol bgp gobgp4 {
  local 10.100.0.1 as 65002;
  neighbor 10.100.0.2 as 65001;
  enable as4 off;
  hold time 9;
  keepalive time 3;
  connect retry time 1;
  ipv4 { import all; export filter to_gobgp; };
}
EOF
    } >"$work/bird.conf"

    capture_start ipv4-as2 "tcp port 179"
    start_gobgpd
    gobgp_ global rib add -a ipv4 172.16.0.0/16 origin egp med 20 \
        community 65001:200 large-community 4200000002:7:8
    gobgp_ global rib add -a ipv4 172.17.1.0/24 aspath 4200000010,65010,4200000011 community 65001:201 \
        aggregator 4200000010:10.0.0.9
    gobgp_ global rib add -a ipv4 172.18.0.0/15 aspath 65030
    start_bird
    wait_for "gobgp4 Established" 60 bird_established gobgp4

    later_adds=(eval "gobgp_ global rib add -a ipv4 172.20.0.0/22 aspath 4200000020 community 65001:400")
    later_dels=(eval "gobgp_ global rib del -a ipv4 172.16.0.0/16")
    session_events gobgp4

    capture_stop ipv4-as2
    stop "$bird_pid"
    stop "$gobgpd_pid"
    cp "$work/ipv4-as2.pcap" "$out/"
}

scenario_addpath() {
    log "scenario addpath: BIRD AS 4200000001 <-> GoBGP AS 65001, IPv4, ADD-PATH both ways"
    {
        gobgp_conf_common 65001
        gobgp_neighbor 10.100.0.1 4200000001 ipv4-unicast addpath
    } >"$work/gobgpd.toml"
    {
        echo "router id 10.100.0.1;"
        echo "log stderr all;"
        bird_statics
        bird_filter 4200000001
        cat <<'EOF'
# A second path for two prefixes: with ADD-PATH BIRD sends both, with distinct path IDs.
protocol static s4b {
  ipv4;
  route 198.51.100.0/24 blackhole;
  route 203.0.113.0/25 blackhole;
}
protocol bgp gobgp4 {
  local 10.100.0.1 as 4200000001;
  neighbor 10.100.0.2 as 65001;
  hold time 9;
  keepalive time 3;
  connect retry time 1;
  ipv4 { import all; export filter to_gobgp; add paths on; };
}
EOF
    } >"$work/bird.conf"

    capture_start ipv4-addpath "tcp port 179"
    start_gobgpd
    gobgp_ global rib add -a ipv4 172.16.0.0/16 origin egp med 20 \
        community 65001:200 large-community 65001:7:8
    gobgp_ global rib add -a ipv4 172.18.0.0/15
    start_bird
    wait_for "gobgp4 Established" 60 bird_established gobgp4

    later_adds=(eval "gobgp_ global rib add -a ipv4 172.20.0.0/22 community 65001:400")
    later_dels=(eval "gobgp_ global rib del -a ipv4 172.16.0.0/16 && birdc_ disable s4b >/dev/null")
    session_events gobgp4

    capture_stop ipv4-addpath
    stop "$bird_pid"
    stop "$gobgpd_pid"
    cp "$work/ipv4-addpath.pcap" "$out/"
}

mkdir -p "$out"
make_lab
scenario_as4
scenario_as2
scenario_addpath
for name in ipv4-as4 ipv6-as4 ipv4-as2 ipv4-addpath; do
    extract "$name"
done
log "done: fixtures in $out"
