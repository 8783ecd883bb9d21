"""toxiproxy's Python client (toxiproxy-python 0.1.1) against `tower-chaos serve`.

Run by tests/toxiproxy_python.rs with the API port as argv[1]. The
proxies' upstream is an echo server of this script on 127.0.0.1. Every
check raises on failure; prints `ok` at the end.
"""

import socket
import socketserver
import sys
import threading
import time

from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(4096)
            if not data:
                return
            self.request.sendall(data)


socketserver.ThreadingTCPServer.daemon_threads = True
echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
threading.Thread(target=echo.serve_forever, daemon=True).start()
upstream = "127.0.0.1:%d" % echo.server_address[1]

api_port = int(sys.argv[1])
server = Toxiproxy()
server.update_api_consumer("127.0.0.1", api_port)
assert server.running(), "the API does not accept connections"
assert b"2.12.0+tower-chaos" in server.version(), server.version()

proxy = server.create(upstream=upstream, name="echo")  # listens on 127.0.0.1:0
host, port = proxy.listen.rsplit(":", 1)
assert host == "127.0.0.1" and port != "0", proxy.listen
assert proxy.enabled is True


def exchange(msg):
    """Sends msg, half-closes, returns what came back before EOF or a reset."""
    s = socket.create_connection((host, int(port)), timeout=20)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    s.close()
    return got


assert exchange(b"hello") == b"hello"

# limit_data: 3 bytes, then the connection closes.
proxy.add_toxic(type="limit_data", attributes={"bytes": 3})
assert list(proxy.toxics()) == ["limit_data_downstream"], proxy.toxics()
assert proxy.get_toxic("limit_data_downstream").attributes == {"bytes": 3}
assert exchange(b"hello") == b"hel"

# Errors the client maps from status codes: 409, 400, 404.
for bad, exc in [
    (dict(type="limit_data"), ProxyExists),
    (dict(type="no_such_toxic"), InvalidToxic),
    (dict(type="latency", stream="sideways"), InvalidToxic),
]:
    try:
        proxy.add_toxic(**bad)
        raise AssertionError("accepted %r" % bad)
    except exc:
        pass
try:
    proxy.destroy_toxic("missing")
    raise AssertionError("deleted a missing toxic")
except NotFound:
    pass

# Removing the toxic restores the bytes; a latency toxic delays them.
assert proxy.destroy_toxic("limit_data_downstream")
proxy.add_toxic(type="latency", stream="upstream", attributes={"latency": 200})
start = time.monotonic()
assert exchange(b"late") == b"late"
took = time.monotonic() - start
assert took >= 0.2, "latency 200 ms, echo took %.3f s" % took

# down(): connections are refused, then served on the same address.
with proxy.down():
    try:
        socket.create_connection((host, int(port)), timeout=20).close()
        raise AssertionError("connected to a disabled proxy")
    except ConnectionRefusedError:
        pass
    assert server.get_proxy("echo").enabled is False
assert server.get_proxy("echo").listen == proxy.listen

# reset(): every toxic gone, every proxy up.
assert server.reset()
assert proxy.toxics() == {}
assert exchange(b"clean") == b"clean"

# populate (the client's own, over GET/POST/DELETE): same fields keep it.
assert server.populate([dict(name="echo", upstream=upstream, listen=proxy.listen)]) == []
server.destroy_all()
assert server.proxies() == {}
print("ok")
