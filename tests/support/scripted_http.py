"""A real HTTP server that answers from a script of replies and records every request.

For client behaviour a real LionLab server cannot be made to show on demand: a 503 with
Retry-After, a 500, a 409 on a metric batch. The client talks to it over TCP as to the API.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: object = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


class ScriptedServer:
    """Answers requests with `replies` in order, then with `then` for ever after."""

    def __init__(self, replies: list[Reply], then: Reply | None = None):
        self.replies, self.then = list(replies), then or Reply()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.received if method in (None, r.method)]

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _next(self, method: str, path: str, headers: dict) -> Reply:
        with self._lock:
            self.received.append(Received(method, path, headers, time.monotonic()))
            return self.replies.pop(0) if self.replies else self.then

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                reply = server._next(self.command, self.path, dict(self.headers))
                raw = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                for name, value in {"content-type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args) -> None:  # quiet
                pass

        return Handler
