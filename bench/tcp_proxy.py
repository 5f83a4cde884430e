"""A TCP proxy that simulates network round-trip time in front of a PostgreSQL unix socket.

It listens on 127.0.0.1 and forwards each connection to the server's unix socket. Every time the
client starts sending again after the server has answered (a *direction change*: one request /
response round trip), the proxy waits ``delay`` seconds before forwarding. So each round trip a
client makes costs one ``delay``, however many bytes it carries, which is how latency (not
bandwidth) behaves between an application and a database in another zone. Pipelined statements
(psycopg's ``executemany``) pay it once, as they would on a real network.

Usage from Python::

    with DelayProxy("/tmp/pgdata/.s.PGSQL.5432", delay=0.005) as proxy:
        url = f"host=127.0.0.1 port={proxy.port} user=postgres dbname=postgres"
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

CHUNK = 1 << 16


class DelayProxy:
    """Forwards 127.0.0.1:<port> to a unix socket, adding `delay` seconds per round trip."""

    def __init__(self, unix_socket: str, *, delay: float) -> None:
        self.unix_socket = unix_socket
        self.delay = delay
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="delay-proxy", daemon=True)

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        # shutdown() first: on Linux, close() alone does not wake a thread blocked in accept(),
        # which then goes on accepting connections on the closed socket.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self.unix_socket)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, server]
            state = {"last": "s2c"}  # a new connection starts with the client speaking
            threading.Thread(
                target=self._pump, args=(client, server, "c2s", state), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, "s2c", state), daemon=True
            ).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, direction: str, state: dict[str, str]
    ) -> None:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                # One delay per round trip: charged when the client speaks after the server did.
                if direction == "c2s" and state["last"] != "c2s" and self.delay > 0:
                    time.sleep(self.delay)
                state["last"] = direction
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
