"""A local HTTP server on 127.0.0.1 for the weights tests (no network needed).

It serves named files and can misbehave on purpose: drop the connection half-way, serve other
bytes than the name promises, trickle slowly (for cancel tests), answer 404. It also answers
proxy-style requests (``GET http://host/name``), so a test can point ``http_proxy`` at it.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WeightsServer:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        #: file name -> "drop" | "slow" | "wrong" | "404" | "nolength"
        self.mode: dict[str, str] = {}
        self.requests: list[str] = []
        self.slow_chunk = 64 * 1024
        self.slow_delay_s = 0.05
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802 - http.server API
                outer.requests.append(self.path)
                path = urllib.parse.urlsplit(self.path).path  # a proxy request carries the whole URL
                name = path.rsplit("/", 1)[-1]
                mode = outer.mode.get(name, "")
                data = outer.files.get(name)
                if data is None or mode == "404":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if mode == "wrong":
                    data = bytes(len(data))  # as long, other content
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if mode != "nolength":
                    self.send_header("Content-Length", str(len(data)))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if mode == "drop":
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if mode == "slow":
                        for i in range(0, len(data), outer.slow_chunk):
                            self.wfile.write(data[i:i + outer.slow_chunk])
                            self.wfile.flush()
                            time.sleep(outer.slow_delay_s)
                        return
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if mode == "nolength":
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="weights-server", daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def __enter__(self) -> WeightsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_entry(model: str, data: bytes, base_url: str):
    """The catalog entry of ``model`` rewritten to describe ``data`` served under ``base_url``
    (its file name carries ``data``'s sha256 prefix, as torchvision's do); preprocessing,
    licence and the rest stay the real entry's."""
    import dataclasses
    import hashlib

    from studio_desktop.core.weights_catalog import default_weights

    sha = hashlib.sha256(data).hexdigest()
    real = default_weights(model)
    return dataclasses.replace(real, url=f"{base_url.rstrip('/')}/{model}-{sha[:8]}.pth",
                               size_mib=len(data) / (1024 * 1024))


def serve_entry(server: WeightsServer, monkeypatch, model: str, data: bytes, url_base: str | None = None):
    """Put ``data`` on ``server`` and make it ``model``'s only catalog entry (for this test);
    ``url_base`` names another official address (the file then comes through a mirror/proxy)."""
    from studio_desktop.core import weights_catalog

    entry = fake_entry(model, data, url_base or server.base)
    server.files[entry.file_name] = data
    monkeypatch.setitem(weights_catalog.WEIGHTS, model, (entry,))
    return entry
