"""A TCP proxy a test can take down and bring back, counting what it refused meanwhile.

While down it accepts each connection and closes it at once (the client sees the server
drop it, as when the server restarts), so every request the client tries during an outage
is counted here, on the server's side of the wire.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class OutageProxy:
    """Forwards 127.0.0.1:<port> to `upstream_port`; `down()` / `up()` toggle an outage."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.refused = 0  # connections closed unanswered while down
        self._down = False
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True, name="outage-proxy").start()

    def down(self) -> None:
        """Start an outage: cut every open connection and refuse new ones."""
        with self._lock:
            self._down = True
            live, self._live = self._live, set()
        for sock in live:
            _close(sock)

    def up(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self.down()
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                if self._down:
                    self.refused += 1
                    _close(client)
                    continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            _close(client)
            return
        with self._lock:
            self._live |= {client, upstream}
        pipe = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        pipe.start()
        _pump(client, upstream)
        pipe.join()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    _close(src)
    _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
