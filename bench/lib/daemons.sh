# Shared by the single-host BGP benchmarks (bench/fib, bench/ingest, bench/ingest_feeders,
# bench/routes): the configuration and launch of the daemons they compare (tern agent,
# BIRD 2, gobgpd) and how BIRD's route counters are read.

# node.yaml of a tern agent (AS 64512, router id 10.255.0.2, listening on 127.0.0.1:179)
# with one passive eBGP peer, the feeder at 127.0.0.2 (AS 65001):
# feeder_node_yaml FIB SOCKET [METRICS_LISTEN] prints it, FIB being the `fib:` value.
feeder_node_yaml() {
    cat <<YAML
nodeName: bench
asNumber: 64512
routerId: 10.255.0.2
listen: { address: 127.0.0.1, port: 179 }
blocks: []
pools: [0.0.0.0/0]
nodeToNodeMesh: { enabled: false }
peers:
  - { peerIP: 127.0.0.2, asNumber: 65001, passive: true, holdTime: 240s }
fib: $1
YAML
    [ -z "${3:-}" ] || echo "metrics: { listen: $3 }"
    echo "control: { socket: $2 }"
}

# run_bird NS DIR: BIRD in namespace NS with DIR/bird.conf, its socket DIR/bird.ctl and its
# log DIR/bird.log, in the background; sets DPID.
run_bird() {
    ip netns exec "$1" bird -f -c "$2/bird.conf" -s "$2/bird.ctl" > "$2/bird.log" 2>&1 &
    DPID=$!
}

# bird_imported CTL [PROTOCOL]: the imported-routes counter of each BGP/kernel protocol
# (or of PROTOCOL alone), one line each, read from BIRD's socket CTL.
bird_imported() {
    birdc -s "$1" show protocols all ${2:+"$2"} 2>/dev/null |
        sed -n 's/.*Routes: *\([0-9]*\) imported.*/\1/p'
}

# bird_exported CTL PROTOCOL: PROTOCOL's exported-routes counter.
bird_exported() {
    birdc -s "$1" show protocols all "$2" 2>/dev/null |
        sed -n 's/.*Routes: *[0-9]* imported, \([0-9]*\) exported.*/\1/p' | head -n 1
}

# gobgp_toml AS ROUTER_ID LOCAL_ADDRESS NEIGHBOR PEER_AS: the head of a gobgpd config
# with one neighbor; the caller appends the neighbor's transport and timers.
gobgp_toml() {
    cat <<TOML
[global.config]
  as = $1
  router-id = "$2"
  local-address-list = ["$3"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$4"
    peer-as = $5
TOML
}
