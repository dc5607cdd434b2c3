"""A loopback reverse proxy in front of the S3 server that counts requests and bytes both ways.

Every client (the commands, the Ray actors) reaches the store through it, so the benchmark's
S3 figures are measured on the wire: request and response bodies, by HTTP method.
"""

from __future__ import annotations

import collections
import http.client
import http.server
import threading
from dataclasses import dataclass, field

_HOP_HEADERS = {"connection", "keep-alive", "expect", "transfer-encoding", "proxy-connection", "upgrade", "te"}


@dataclass
class Counts:
    """Requests, bytes sent to the server (request bodies) and bytes received (response bodies)."""

    requests: collections.Counter = field(default_factory=collections.Counter)
    sent: int = 0
    received: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict:
        """The counts now, as plain numbers."""
        with self.lock:
            return {"requests": sum(self.requests.values()), "by_method": dict(self.requests),
                    "bytes_sent": self.sent, "bytes_received": self.received}


def _read_body(handler: http.server.BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _handler(upstream_port: int, counts: Counts):
    local = threading.local()

    class Forward(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _forward(self) -> None:
            body = _read_body(self)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            for attempt in range(2):
                connection = getattr(local, "connection", None) or http.client.HTTPConnection(
                    "127.0.0.1", upstream_port, timeout=300)
                local.connection = connection
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    payload = response.read()
                    break
                except (http.client.HTTPException, OSError):
                    connection.close()
                    local.connection = None
                    if attempt:
                        raise
            with counts.lock:
                counts.requests[self.command] += 1
                counts.sent += len(body)
                counts.received += len(payload)
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_HEADERS and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Forward


class _QuietServer(http.server.ThreadingHTTPServer):
    """Ignores clients that vanish mid-request (a killed node's processes), as a real endpoint would."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class CountingProxy:
    """A threaded HTTP proxy on 127.0.0.1 forwarding to ``upstream_port``; ``counts`` holds its figures.

    Example:
        >>> proxy = CountingProxy(9000)  # doctest: +SKIP
        >>> proxy.endpoint_url  # doctest: +SKIP
        'http://127.0.0.1:40123'
    """

    def __init__(self, upstream_port: int):
        self.counts = Counts()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(upstream_port, self.counts))
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops serving."""
        self._server.shutdown()
        self._server.server_close()
