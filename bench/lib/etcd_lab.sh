# Shared by the etcd-mode benchmarks (bench/cluster, bench/cluster_policy): one bridge
# namespace ($P-sw) that every lab namespace joins by a veth, and one etcd in its own
# namespace ($P-db, 10.0.255.1) with its data under $W. Source it after setting P (the
# namespace prefix), W (the work dir), TERN, ETCD and the PIDS array; the caller's
# cleanup removes $P-sw and $P-db and stops the PIDs.

# The lab address of node I (10.0.x.y, 250 a /24).
addr() { echo "10.0.$(($1 / 250)).$(($1 % 250 + 1))"; }

lab_switch() {
    ip netns add "$P-sw"
    ip netns exec "$P-sw" ip link add br0 type bridge
    ip netns exec "$P-sw" ip link set br0 up
}

join() { # NS ADDR PORT
    ip link add "$3" type veth peer name eth0 netns "$1"
    ip link set "$3" netns "$P-sw"
    ip netns exec "$P-sw" ip link set "$3" master br0 up
    ip netns exec "$1" ip addr add "$2/16" dev eth0
    ip netns exec "$1" ip link set eth0 up
    ip netns exec "$1" ip link set lo up
}

start_etcd() { # PORT (the bridge port's name); sets ETCD_PID, waits until healthy
    ip netns add "$P-db"
    join "$P-db" 10.0.255.1 "$1"
    ip netns exec "$P-db" etcd --name default --data-dir "$W/etcd" \
        --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
        --listen-peer-urls http://10.0.255.1:2380 --initial-advertise-peer-urls http://10.0.255.1:2380 \
        --initial-cluster default=http://10.0.255.1:2380 --log-level warn >"$W/etcd.log" 2>&1 &
    ETCD_PID=$!
    PIDS+=("$ETCD_PID")
    for _ in $(seq 100); do
        ip netns exec "$P-db" curl -fsS --max-time 1 "$ETCD/health" 2>/dev/null | grep -q '"health":"true"' && return 0
        sleep 0.2
    done
}

# tern's datastore commands against the lab's etcd.
ds() { ip netns exec "$P-db" "$TERN" "$@" --datastore etcd --endpoints "$ETCD"; }
