#!/usr/bin/env python3
"""The soak's scripted BGP peer: route churn and session churn, bounded in time.

Messages are built by hand from the RFC 4271 / 4760 / 2918 / 6793 layouts (no BGP
library). Runs inside the soak's peer namespace and talks only to the agent's address.

  peer.py HOST BIND AS ROUTER_ID SECONDS [PREFIXES]

Until SECONDS have passed (and never longer), one round after another:
  1. a session from BIND to HOST:179: OPEN (hold 9 s), then for ~60 s cycles of
     announce PREFIXES /24s inside 10.96.0.0/12 (the agent's pools) plus PREFIXES/4
     outside them (172.16.0.0/12, which the agent rejects), each cycle with another
     COMMUNITIES value (new attribute sets), withdraw half, a ROUTE-REFRESH request,
     withdraw the rest; KEEPALIVEs every second; then a NOTIFICATION Cease
     (administrative shutdown) and close;
  2. 20 bare connect+close (a peer's address that never sends OPEN), the pattern that
     leaked descriptors before;
  3. a few seconds down.
One line per round on stdout: "round N established=0|1 announced=A withdrawn=W".
"""
import socket
import struct
import sys
import threading
import time

PORT = 179
HOLD = 9


def message(kind, body=b""):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def open_msg(asn, router_id):
    caps = b"".join(
        [
            bytes([1, 4, 0, 1, 0, 1]),  # Multiprotocol IPv4 unicast (RFC 4760)
            bytes([2, 0]),  # route refresh (RFC 2918)
            bytes([65, 4]) + struct.pack("!I", asn),  # 4-octet AS (RFC 6793)
        ]
    )
    params = bytes([2, len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456
    body = struct.pack("!BHH", 4, my_as, HOLD) + socket.inet_aton(router_id)
    return message(1, body + bytes([len(params)]) + params)


KEEPALIVE = message(4)
ROUTE_REFRESH = message(5, struct.pack("!HBB", 1, 0, 1))  # IPv4 unicast
CEASE = message(3, bytes([6, 2]))  # Cease / Administrative Shutdown (RFC 4486)


def attrs(asn, next_hop, community):
    origin = bytes([0x40, 1, 1, 0])  # IGP
    path = bytes([2, 2]) + struct.pack("!II", asn, 64999)  # AS_SEQUENCE of two 4-byte ASes
    as_path = bytes([0x40, 2, len(path)]) + path
    nh = bytes([0x40, 3, 4]) + socket.inet_aton(next_hop)
    comm = bytes([0xC0, 8, 4]) + struct.pack("!HH", asn & 0xFFFF, community)
    return origin + as_path + nh + comm


def nlri24(base, index):
    """The /24 number `index` above `base` (a dotted IPv4 /12), encoded as NLRI."""
    a = struct.unpack("!I", socket.inet_aton(base))[0] + (index << 8)
    return bytes([24]) + struct.pack("!I", a)[:3]


def updates(withdrawn, path_attrs, nlri, per=400):
    """UPDATE messages carrying the given withdrawn / NLRI lists, `per` prefixes each."""
    out = []
    for i in range(0, len(withdrawn), per):
        w = b"".join(withdrawn[i : i + per])
        out.append(message(2, struct.pack("!H", len(w)) + w + struct.pack("!H", 0)))
    for i in range(0, len(nlri), per):
        n = b"".join(nlri[i : i + per])
        out.append(
            message(2, struct.pack("!H", 0) + struct.pack("!H", len(path_attrs)) + path_attrs + n)
        )
    return out


def drain(sock, stop):
    """Reads and discards whatever the agent sends until the socket closes."""
    sock.settimeout(1.0)
    while not stop.is_set():
        try:
            if not sock.recv(65536):
                stop.set()
        except socket.timeout:
            continue
        except OSError:
            stop.set()


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("closed")
        buf += chunk
    return buf


def session(host, bind, asn, router_id, prefixes, until, counts):
    s = socket.create_connection((host, PORT), timeout=5, source_address=(bind, 0))
    try:
        s.sendall(open_msg(asn, router_id))
        head = read_exact(s, 19)
        (length,) = struct.unpack("!H", head[16:18])
        read_exact(s, length - 19)
        if head[18] != 1:
            return False
        s.sendall(KEEPALIVE)
        stop = threading.Event()
        reader = threading.Thread(target=drain, args=(s, stop), daemon=True)
        reader.start()
        inside = [nlri24("10.96.0.0", i) for i in range(prefixes)]
        outside = [nlri24("172.16.0.0", i) for i in range(prefixes // 4)]
        end = min(until, time.monotonic() + 60)
        community = 0
        while time.monotonic() < end and not stop.is_set():
            community = (community + 1) % 1000
            for m in updates([], attrs(asn, bind, community), inside + outside):
                s.sendall(m)
            counts[0] += len(inside) + len(outside)
            pause(s, 4, end, stop)
            half = inside[: len(inside) // 2]
            for m in updates(half, b"", []):
                s.sendall(m)
            s.sendall(ROUTE_REFRESH)
            pause(s, 3, end, stop)
            for m in updates(inside[len(inside) // 2 :] + outside, b"", []):
                s.sendall(m)
            counts[1] += len(inside) + len(outside)
            pause(s, 2, end, stop)
        if not stop.is_set():
            s.sendall(CEASE)
        stop.set()
        return True
    finally:
        s.close()


def pause(sock, seconds, end, stop):
    t = time.monotonic()
    while time.monotonic() - t < seconds and time.monotonic() < end and not stop.is_set():
        sock.sendall(KEEPALIVE)
        time.sleep(1)


def main():
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    host, bind, asn, router_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    seconds = min(float(sys.argv[5]), 7200)
    prefixes = min(int(sys.argv[6]) if len(sys.argv) > 6 else 3000, 4096)
    until = time.monotonic() + seconds
    rnd = 0
    while time.monotonic() < until and rnd < 10000:
        rnd += 1
        counts = [0, 0]
        try:
            up = session(host, bind, asn, router_id, prefixes, until, counts)
        except OSError:
            up = False
        for _ in range(20):
            if time.monotonic() >= until:
                break
            try:
                c = socket.create_connection((host, PORT), timeout=2, source_address=(bind, 0))
                c.close()
            except OSError:
                pass
            time.sleep(0.05)
        print(f"round {rnd} established={int(up)} announced={counts[0]} withdrawn={counts[1]}", flush=True)
        time.sleep(min(3, max(0, until - time.monotonic())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
