"""A TCP server for tern's lab tests: tcp_server.py ADDRESS PORT.

The address only picks the family; it listens on all addresses. Every connection gets
the line `pong-from-server` first; then what the client sent is logged with its
address, and the server waits for the next connection.
"""
import socket, sys
family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
port = int(sys.argv[2])
s = socket.socket(family)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', port))
s.listen()
print('listening', flush=True)
while True:
    c, peer = s.accept()
    c.settimeout(10)
    try:
        c.sendall(b'pong-from-server\n')
        got = c.makefile('rb').read()
        print(peer[0], got.decode(errors='replace'), flush=True)
    except OSError as e:
        print(peer[0], 'error:', e, flush=True)
    c.close()
