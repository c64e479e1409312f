#!/usr/bin/env bash
# Installs the system packages that tern's tests, demo and benchmarks need, when missing.
# Debian/Ubuntu only (apt-get). Safe to run repeatedly.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have bird     || need+=(bird2)
have gobgpd   || need+=(gobgpd)
have /usr/lib/frr/bgpd && have vtysh || need+=(frr)
have nft      || need+=(nftables)
have iptables || need+=(iptables)
have ipset    || need+=(ipset)
have ip       || need+=(iproute2)
have ping     || need+=(iputils-ping)
have tshark   || need+=(tshark)
have nc       || need+=(netcat-openbsd)
have iperf3   || need+=(iperf3)
have tcpdump  || need+=(tcpdump)
have jq       || need+=(jq)
have systemd-analyze || need+=(systemd)

if ((${#need[@]})); then
    echo "install-deps: installing ${need[*]}" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
# BIRD's and FRR's Debian packages start system daemons; the tests run their own instances only.
