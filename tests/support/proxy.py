"""A TCP proxy the fault tests put between a client (worker, SDK) and the API server.

`down()` is an outage: open connections are cut and each new one is accepted and closed at
once (the client sees the server drop it, as when it restarts), counted in `refused`, so a
test counts on the server's side of the wire every request tried during the outage; `up()`
ends it. `partition()` blackholes: open connections stay open but their bytes go nowhere, and new
connections are accepted and never answered, as when a network drops packets (the client
sees no error, only a request that never ends). `heal()` resets the blackholed connections
(their clients see the drop and reconnect) and forwards again. The proxy also reads the HTTP
request and status lines going through it, so a test can see what the worker asked and what
it was answered (`exchanges`), including what it asked while cut off.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field

REQUEST_LINE = re.compile(rb"(GET|POST|PATCH|PUT|DELETE) (/\S*) HTTP/1\.[01]\r\n")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")
# Enough of a chunk's end to hold a request or status line cut in two by recv().
TAIL = 300


@dataclass
class Exchange:
    """One HTTP request seen by the proxy, and the status it was answered (None: no answer)."""

    method: str
    path: str
    at: float  # time.time() when the request line went through
    forwarded: bool  # False: sent while partitioned, so the server never saw it
    status: int | None = None


@dataclass
class _Link:
    client: socket.socket
    upstream: socket.socket | None
    blackholed: bool
    pending: list[Exchange] = field(default_factory=list)  # requests awaiting their status

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


class TcpProxy:
    """Listens on 127.0.0.1:`port` and forwards to `target` (host, port) until partitioned."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._cut = False
        self._down = False
        self.refused = 0  # connections closed unanswered while down
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @classmethod
    def in_front_of(cls, url: str) -> TcpProxy:
        """A proxy to the server at `url` (http://host:port)."""
        host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        return cls((host, int(port)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def partition(self) -> None:
        with self._lock:
            self._cut = True
            for link in self._links:
                link.blackholed = True

    def heal(self) -> None:
        with self._lock:
            self._cut = False
            cut, self._links = (
                [k for k in self._links if k.blackholed],
                [k for k in self._links if not k.blackholed],
            )
        for link in cut:
            link.close()

    def down(self) -> None:
        with self._lock:
            self._down = True
            links, self._links = self._links, []
        for link in links:
            link.close()

    def up(self) -> None:
        with self._lock:
            self._down = False

    def seen(self, method: str, path: str) -> list[Exchange]:
        """The exchanges so far whose request was `method path` (path without the query)."""
        with self._lock:
            return [
                e for e in self.exchanges if e.method == method and e.path.split("?")[0] == path
            ]

    def wait_for(self, method: str, path: str, timeout: float = 120) -> Exchange:
        """The first `method path` request the proxy sees (it need not be answered)."""
        deadline = time.monotonic() + timeout
        while not (found := self.seen(method, path)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} {path} went through the proxy in {timeout}s")
            time.sleep(0.05)
        return found[0]

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # stop() closed the listener
                return
            with self._lock:
                cut, down = self._cut, self._down
                self.refused += down
            if down:
                client.close()
                continue
            upstream = None if cut else _connect(self.target)
            if upstream is None and not cut:
                client.close()  # the server is down: the client sees a refused connection
                continue
            link = _Link(client, upstream, blackholed=cut)
            with self._lock:
                self._links.append(link)
            threading.Thread(target=self._pump, args=(link, True), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(link, False), daemon=True).start()

    def _pump(self, link: _Link, to_server: bool) -> None:
        src = link.client if to_server else link.upstream
        dst = link.upstream if to_server else link.client
        tail = b""
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self._lock:
                blackholed = link.blackholed
                tail = self._read_lines(link, tail + data, to_server, forwarded=not blackholed)
            if blackholed:
                continue  # the bytes are lost on the way, as in a partition
            try:
                dst.sendall(data)
            except OSError:
                break
        with self._lock:
            if link.blackholed and not self._cut:
                return  # heal() is resetting this link
            if link in self._links:
                self._links.remove(link)
        link.close()

    def _read_lines(self, link: _Link, data: bytes, to_server: bool, forwarded: bool) -> bytes:
        """Record request/status lines in `data` (lock held); returns the tail to keep."""
        if to_server:
            for m in REQUEST_LINE.finditer(data):
                ex = Exchange(m[1].decode(), m[2].decode(), time.time(), forwarded)
                self.exchanges.append(ex)
                link.pending.append(ex)
        elif forwarded:  # an answer lost in the partition was never received
            for m in STATUS_LINE.finditer(data):
                if link.pending:
                    link.pending.pop(0).status = int(m[1])
        last = 0
        pattern = REQUEST_LINE if to_server else STATUS_LINE
        for m in pattern.finditer(data):
            last = m.end()
        return data[max(last, len(data) - TAIL) :]


def _connect(target: tuple[str, int]) -> socket.socket | None:
    try:
        sock = socket.create_connection(target, timeout=5)
    except OSError:
        return None
    sock.settimeout(None)  # a long request (a claim held by the server) must not time out here
    return sock
