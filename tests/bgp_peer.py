#!/usr/bin/env python3
"""A scripted BGP peer for the agent's wire tests. Every message is built by hand from
the RFC 4271 layouts (no BGP library), so the agent is tested against bytes that our own
encoder did not write. Runs inside a lab namespace; talks only to the address given.

  bgp_peer.py churn HOST COUNT              connect and close COUNT times, one after another
  bgp_peer.py idle HOST COUNT               open COUNT connections, send nothing, hold them
  bgp_peer.py session HOST AS ID [HEX...]   establish (retrying while refused), send each
                                            HEX message, then send KEEPALIVEs every second
                                            and print every message received
Lines on stdout: "established", "recv TYPE ...", "refused", "open N", "done".
"""
import socket
import struct
import sys
import time

PORT = 179


def message(kind, body=b""):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def open_msg(asn, router_id, hold=9):
    caps = b"".join(
        [
            bytes([1, 4, 0, 1, 0, 1]),  # Multiprotocol IPv4 unicast (RFC 4760)
            bytes([2, 0]),  # route refresh (RFC 2918)
            bytes([65, 4]) + struct.pack("!I", asn),  # 4-octet AS (RFC 6793)
        ]
    )
    params = bytes([2, len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456
    body = struct.pack("!BHH", 4, my_as, hold) + socket.inet_aton(router_id)
    return message(1, body + bytes([len(params)]) + params)


KEEPALIVE = message(4)
NAMES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}


def say(*words):
    print(*words, flush=True)


def read_msg(sock, buf):
    """One message (type, body) from sock, or None when it closed."""
    while True:
        if len(buf) >= 19:
            length = struct.unpack("!H", buf[16:18])[0]
            if len(buf) >= length:
                kind = buf[18]
                body = bytes(buf[19:length])
                del buf[:length]
                return kind, body
        data = sock.recv(65536)
        if not data:
            return None
        buf.extend(data)


def establish(host, asn, router_id, deadline):
    """Connects until an OPEN exchange succeeds (a refused try gets a NOTIFICATION)."""
    while time.time() < deadline:
        try:
            s = socket.create_connection((host, PORT), timeout=5)
        except OSError as e:
            say("connect failed", e)
            time.sleep(1)
            continue
        s.settimeout(15)
        buf = bytearray()
        try:
            s.sendall(open_msg(asn, router_id))
            m = read_msg(s, buf)
            if m is None or m[0] != 1:
                say("refused", m and NAMES.get(m[0]), m and m[1].hex())
                s.close()
                time.sleep(1)
                continue
            s.sendall(KEEPALIVE)
            m = read_msg(s, buf)
            if m is not None and m[0] == 4:
                say("established")
                return s, buf
            say("refused", m and NAMES.get(m[0]), m and m[1].hex())
        except OSError as e:
            say("refused", e)
        s.close()
        time.sleep(1)
    raise SystemExit("not established")


def main():
    mode, host = sys.argv[1], sys.argv[2]
    if mode == "churn":
        for _ in range(int(sys.argv[3])):
            s = socket.create_connection((host, PORT), timeout=5)
            s.close()
        say("done")
    elif mode == "idle":
        held = []
        for _ in range(int(sys.argv[3])):
            held.append(socket.create_connection((host, PORT), timeout=5))
        say("open", len(held))
        time.sleep(3600)
    elif mode == "session":
        asn, rid = int(sys.argv[3]), sys.argv[4]
        s, buf = establish(host, asn, rid, time.time() + 120)
        for h in sys.argv[5:]:
            s.sendall(bytes.fromhex(h))
        say("sent", len(sys.argv[5:]))
        s.settimeout(1)
        end = time.time() + 600
        while time.time() < end:
            try:
                m = read_msg(s, buf)
            except socket.timeout:
                m = "tick"
            if m is None:
                say("closed")
                return
            if m != "tick":
                say("recv", NAMES.get(m[0], m[0]), m[1].hex() if m[0] == 3 else len(m[1]))
            s.sendall(KEEPALIVE)
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
