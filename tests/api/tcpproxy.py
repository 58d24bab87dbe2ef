"""A TCP proxy in front of the real PostgreSQL that tests can break: refuse, hang, or forward.

It stands between the service and its database the way a network does, so health and pool tests see
real driver behaviour (refused and hung connections) without stopping the shared server.
"""

import contextlib
import select
import socket
import threading
from typing import Literal

Mode = Literal["up", "down", "hang"]


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode: Mode = "up"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: Mode) -> None:
        """down: refuse and cut every connection; hang: accept and black-hole; up: forward."""
        self.mode = mode
        if mode in ("down", "up"):
            self._cut_all()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self._cut_all()

    def _cut_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "down":
                client.close()
                continue
            self._track(client)
            if self.mode == "hang":
                continue  # held open, never answered
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            self._track(server)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        pair = {client: server, server: client}
        try:
            while not self._closed:
                readable, _, _ = select.select(list(pair), [], [], 0.1)
                if self.mode == "hang":
                    continue  # black hole: nothing moves, nothing closes
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in pair:
                sock.close()
