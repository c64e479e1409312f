#!/usr/bin/env bash
# Installs the system packages that tern's tests, demo and benchmarks need, when missing.
# Debian/Ubuntu only (apt-get). Safe to run repeatedly.
#
#   install-deps.sh          everything `make test` needs
#   install-deps.sh demo     only what `make demo` needs (BIRD, iproute2, ping, netcat)
#
# BIRD's and FRR's Debian packages would start system daemons; tern's tests and demo run
# their own instances inside network namespaces only. So the install runs with a
# policy-rc.d that forbids starting services (Debian's invoke-rc.d convention), and
# nothing installed here is left running.
set -euo pipefail

profile="${1:-test}"
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have bird     || need+=(bird2)
have ip       || need+=(iproute2)
have ping     || need+=(iputils-ping)
have nc       || need+=(netcat-openbsd)
# The build: etcd-client's gRPC code needs protoc and the well-known types it imports
# (google/protobuf/*.proto, in libprotobuf-dev, only a Recommends of protoc's package).
have protoc   || need+=(protobuf-compiler)
[ -e /usr/include/google/protobuf/descriptor.proto ] || need+=(libprotobuf-dev)
if [ "$profile" = test ]; then
    have gobgpd   || need+=(gobgpd)
    have /usr/lib/frr/bgpd && have vtysh || need+=(frr)
    have nft      || need+=(nftables)
    have iptables || need+=(iptables)
    have ipset    || need+=(ipset)
    have tshark   || need+=(tshark)
    have iperf3   || need+=(iperf3)
    have tcpdump  || need+=(tcpdump)
    have jq       || need+=(jq)
    # Datastore tests: a real etcd, and curl for its health check; openssl makes the
    # certificates of the etcd-over-TLS tests.
    have etcd     || need+=(etcd-server)
    have curl     || need+=(curl)
    have openssl  || need+=(openssl)
    # Metrics tests: a real Prometheus server and its promtool (one Debian package).
    have promtool && have prometheus || need+=(prometheus)
    have systemd-analyze || need+=(systemd)
    # CNI plugin tests: a real runtime (podman with its CNI backend, runc) and the
    # reference plugins for the benchmark; busybox-static makes the test image.
    have podman   || need+=(podman)
    [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
    have runc     || need+=(runc)
    [ -x /bin/busybox ] || need+=(busybox-static)
    # Docker driver tests: a real dockerd (Debian's docker.io, with containerd and runc),
    # run by the tests inside lab namespaces only; never started as a system service.
    have dockerd  || need+=(docker.io)
elif [ "$profile" != demo ]; then
    echo "install-deps: unknown profile '$profile' (test or demo)" >&2
    exit 2
fi

if ((${#need[@]})); then
    echo "install-deps: installing ${need[*]}" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    policy=/usr/sbin/policy-rc.d
    # Ours replaces any existing policy-rc.d for the install (one that allowed starts
    # would let dockerd, containerd, BIRD or FRR start as services) and is put back after.
    saved=""
    cleanup() {
        $SUDO rm -f "$policy"
        if [ -n "$saved" ]; then $SUDO mv "$saved" "$policy"; fi
    }
    if [ -e "$policy" ]; then
        saved="$policy.tern-install-deps"
        $SUDO mv "$policy" "$saved"
    fi
    trap cleanup EXIT
    printf '#!/bin/sh\n# tern install-deps: no service starts during this install\nexit 101\n' \
        | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 0755 "$policy"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
