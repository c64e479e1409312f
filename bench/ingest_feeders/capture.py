#!/usr/bin/env python3
"""Records what a real BGP speaker sends: connects to it (it is passive), opens a
session (AS 64512, 4-octet AS, IPv4 unicast, hold 240 s) and writes every UPDATE it
receives, byte for byte, to OUT, until End-of-RIB, EXPECT prefixes, or IDLE seconds
without data. `feeder --replay OUT` then sends exactly these bytes at full speed, so a
receiver can be timed on a real router's UPDATE packing without that router's pacing.

usage: capture.py PEER_IP LOCAL_IP OUT EXPECT [IDLE_S] [TIMEOUT_S]
Prints one line: updates, prefixes, octets.
"""
import socket
import struct
import sys
import time


def open_msg(asn, hold, rid):
    caps = bytes([1, 4, 0, 1, 0, 1]) + bytes([65, 4]) + struct.pack("!I", asn)
    opt = bytes([2, len(caps)]) + caps
    body = struct.pack("!BHH4sB", 4, asn if asn < 65536 else 23456, hold,
                       socket.inet_aton(rid), len(opt)) + opt
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 1) + body


KEEPALIVE = b"\xff" * 16 + struct.pack("!HB", 19, 4)


def count_nlri(msg):
    """IPv4 prefixes in the NLRI field of one UPDATE (0 for End-of-RIB)."""
    wl = struct.unpack_from("!H", msg, 19)[0]
    al = struct.unpack_from("!H", msg, 21 + wl)[0]
    i = 23 + wl + al
    n = 0
    while i < len(msg):
        i += 1 + (msg[i] + 7) // 8
        n += 1
    return n


def session(peer, local, idle):
    """Connects and opens the session; returns the socket and what followed the OPEN.
    OPEN first, KEEPALIVE once the peer's OPEN is in (a KEEPALIVE in OpenSent is an FSM
    error for a strict peer)."""
    s = socket.create_connection((peer, 179), timeout=2, source_address=(local, 0))
    s.sendall(open_msg(64512, 240, "10.255.0.9"))
    s.settimeout(idle)
    buf = bytearray()
    while len(buf) < 19 or len(buf) < struct.unpack_from("!H", buf, 16)[0]:
        chunk = s.recv(65536)
        if not chunk:
            s.close()
            raise ValueError("closed during OPEN")
        buf += chunk
    if buf[18] != 1:
        s.close()
        raise ValueError("expected OPEN, got type %d: %s" % (buf[18], bytes(buf[19:]).hex()))
    del buf[:struct.unpack_from("!H", buf, 16)[0]]
    s.sendall(KEEPALIVE)
    return s, buf


def main():
    peer, local, out = sys.argv[1], sys.argv[2], sys.argv[3]
    expect = int(sys.argv[4])
    idle = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
    limit = float(sys.argv[6]) if len(sys.argv) > 6 else 300.0
    deadline = time.time() + limit
    while True:
        try:
            s, buf = session(peer, local, idle)
            break
        except (OSError, ValueError) as e:
            # Refused or reset: a peer between sessions (idle hold) accepts again soon.
            if time.time() > deadline:
                sys.exit("capture: no session with %s: %s" % (peer, e))
            time.sleep(1)
    updates = prefixes = octets = 0
    last_ka = time.time()
    with open(out, "wb") as f:
        while time.time() < deadline:
            try:
                chunk = s.recv(1 << 20)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            i = 0
            eor = False
            while len(buf) - i >= 19:
                ln = struct.unpack_from("!H", buf, i + 16)[0]
                if len(buf) - i < ln:
                    break
                typ = buf[i + 18]
                msg = bytes(buf[i:i + ln])
                i += ln
                if typ == 2:
                    f.write(msg)
                    updates += 1
                    octets += ln
                    n = count_nlri(msg)
                    prefixes += n
                    if ln == 23:
                        eor = True
                elif typ == 3:
                    sys.exit("capture: peer sent a NOTIFICATION: %s" % msg[19:].hex())
            del buf[:i]
            if time.time() - last_ka > 30:
                s.sendall(KEEPALIVE)
                last_ka = time.time()
            if eor or prefixes >= expect:
                break
    s.close()
    print("%d updates, %d prefixes, %d octets" % (updates, prefixes, octets))
    if prefixes < expect:
        sys.exit("capture: only %d of %d prefixes" % (prefixes, expect))


if __name__ == "__main__":
    main()
