"""A JSON webhook on 127.0.0.1 for alert tests: what apprise's ``json://`` target POSTs, kept.

Real HTTP over a real socket (``http.server`` in a thread), so a test exercises apprise and our
sender exactly as an operator's webhook would; ``fail_first`` makes it answer 500 that many times
(a target that is down for a while).
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.raw: list[bytes] = []
        self.refused = 0
        self.fail_first = fail_first
        self._lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                with rec._lock:
                    if rec.refused < rec.fail_first:
                        rec.refused += 1
                        self.send_response(500)
                        self.end_headers()
                        return
                    rec.raw.append(body + self.path.encode() + str(self.headers).encode())
                    rec.paths.append(self.path)
                    rec.posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, secret: str) -> str:
        """A ``json://`` URL whose path carries ``secret`` (as real webhook URLs carry tokens)."""
        return f"json://127.0.0.1:{self.port}/hook/{secret}"

    def titles(self) -> list[str]:
        with self._lock:
            return [p["title"] for p in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dead_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port
