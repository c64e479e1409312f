#!/usr/bin/env bash
# Quick-start demo (issue 2): build tern, then decode a real BGP session between BIRD 2 and
# GoBGP that ships in bgp/tests/fixtures/ (captured by scripts/capture-fixtures.sh), and
# print it as a readable log. Later issues replace this with a namespace lab.
#
#   make decode-demo   (or: scripts/decode-demo.sh [CAPTURE], CAPTURE = ipv4-as4 | ipv6-as4 | ipv4-as2 | ipv4-addpath)
set -euo pipefail
cd "$(dirname "$0")/.."

capture=${1:-ipv6-as4}
fixtures=bgp/tests/fixtures
[ -f "$fixtures/$capture.pcap" ] || { echo "demo: no capture '$capture' in $fixtures" >&2; exit 2; }
flags=()
[ "$capture" = ipv4-as2 ] && flags+=(--as2)          # that session did not negotiate 4-octet AS
[ "$capture" = ipv4-addpath ] && flags+=(--add-path) # that one negotiated ADD-PATH

command -v cargo >/dev/null || { echo "demo: cargo not found: install a Rust toolchain first" >&2; exit 1; }
if ! command -v jq >/dev/null; then
    echo "demo: installing jq (pretty-printing only)" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends jq >&2
fi

echo "==> cargo build --release" >&2
cargo build --release --quiet
tern=target/release/tern

# One line per message: kind, then what an operator reads in a route log.
pretty='
def seg: if .type == "sequence" then (.asns | map(tostring) | join(" "))
         else "{" + (.asns | map(tostring) | join(" ")) + "}" end;
def path: map(seg) | join(" ");
def nets: map(if type == "object" then "\(.prefix)#\(.path_id)" else . end) | join(" ");
def kv($k; $v): if $v == null or $v == [] or $v == "" then empty else "\($k) \($v)" end;
if .type == "update" then
  (.attributes // {}) as $a
  | ([ (if (.nlri // []) != [] then "+ " + (.nlri | nets) else empty end),
       (if (.withdrawn // []) != [] then "- " + (.withdrawn | nets) else empty end),
       (if (.nlri // []) == [] and (.withdrawn // []) == [] then "(End-of-RIB)" else empty end),
       kv("path"; if $a.as_path then ($a.as_path | path) else null end),
       kv("as4_path"; if $a.as4_path then ($a.as4_path | path) else null end),
       kv("origin"; $a.origin),
       kv("aggregator"; if $a.aggregator then "\($a.aggregator.asn) \($a.aggregator.address)" else null end),
       kv("as4_aggregator"; if $a.as4_aggregator then "\($a.as4_aggregator.asn)" else null end),
       kv("next-hop"; $a.next_hop // $a.mp_reach.next_hop),
       kv("link-local"; $a.mp_reach.link_local),
       kv("med"; $a.med),
       kv("local-pref"; $a.local_pref),
       kv("communities"; ($a.communities // []) | join(" ")),
       kv("large"; ($a.large_communities // []) | join(" "))
     ] | "UPDATE        " + join("  "))
elif .type == "open" then
  "OPEN          " + ([ kv("AS"; .as // .my_as), kv("id"; .bgp_id), kv("hold"; .hold_time),
      kv("capabilities"; [(.capabilities // [])[] | .name // (.code | tostring)] | join(","))
    ] | join("  "))
elif .type == "notification" then
  "NOTIFICATION  " + ([ "\(.code_name // .code)/\(.subcode_name // .subcode)",
      (if .shutdown_communication then "\"\(.shutdown_communication)\"" else empty end)
    ] | join("  "))
elif .type == "route_refresh" then
  "ROUTE-REFRESH " + ([.afi, .safi, .subtype] | map(select(. != null) | tostring) | join(" "))
else
  (.type | ascii_upcase) + (del(.type, .offset, .length) | if . == {} then "" else "  " + tojson end)
end'

show() { # FILE TITLE
    echo
    echo "=== $2"
    echo "    \$ $tern bgp decode ${flags[*]:+${flags[*]} }< $1"
    "$tern" bgp decode "${flags[@]}" <"$1" | jq -r "$pretty"
}

case "$capture" in
    ipv4-as4) bird="BIRD AS 4200000001 (10.100.0.1)"; gobgp="GoBGP AS 65001 (10.100.0.2)" ;;
    ipv6-as4) bird="BIRD AS 4200000001 (fd00:100::1)"; gobgp="GoBGP AS 65001 (fd00:100::2)" ;;
    ipv4-as2) bird="BIRD AS 65002, no 4-octet AS (10.100.0.1)"; gobgp="GoBGP AS 65001 (10.100.0.2)" ;;
    ipv4-addpath) bird="BIRD AS 4200000001, ADD-PATH (10.100.0.1)"; gobgp="GoBGP AS 65001 (10.100.0.2)" ;;
esac

echo "A real eBGP session, captured with tcpdump between two network namespaces"
echo "($fixtures/$capture.pcap; see $fixtures/README.md), decoded by tern."
echo
echo "tern prints one JSON object per message; BIRD's first UPDATE:"
out=$("$tern" bgp decode "${flags[@]}" <"$fixtures/$capture.bird-to-gobgp.bin")
jq -c 'select(.type == "update")' <<<"$out" | sed -n 1p
show "$fixtures/$capture.bird-to-gobgp.bin" "$bird -> $gobgp"
show "$fixtures/$capture.gobgp-to-bird.bin" "$gobgp -> $bird"
echo
echo "Other captures: scripts/decode-demo.sh ipv4-as4 | ipv6-as4 | ipv4-as2 | ipv4-addpath"
