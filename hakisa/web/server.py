"""The one small HTTP server behind hakisa's local pages (the profile studio, the live dashboard): static files
from ``static/``, JSON routes, nothing cached, bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from hakisa.errors import HakisaError

STATIC = Path(__file__).with_name("static")
MAX_BODY = 4 << 20
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".png": "image/png"}
LOCAL = ("127.0.0.1", "localhost", "::1")


class Raw(bytes):
    """A GET route's answer that is not JSON: bytes with their content type."""

    def __new__(cls, body: bytes, kind: str):
        obj = super().__new__(cls, body)
        obj.kind = kind
        return obj


def handler(index: str, get: Callable[[str], object], post: Callable[[str, dict], object] | None = None,
            errors: tuple[type[BaseException], ...] = (HakisaError,), name: str = "hakisa"):
    """A request handler: ``/`` is ``index`` (a file in static/); ``get(path)`` answers a GET with a JSON-able
    object or :class:`Raw` (None: try static/, then 404); ``post(path, body)`` answers a POST of JSON."""

    class Handler(BaseHTTPRequestHandler):
        server_version = name

        def log_message(self, fmt, *args):  # quiet: the console shows the command's own lines
            pass

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _answer(self, out) -> None:
            if isinstance(out, Raw):
                return self._send(200, bytes(out), out.kind)
            self._send(200, json.dumps(out).encode(), "application/json")

        def _error(self, msg: str, status: int) -> None:
            self._send(status, json.dumps({"error": msg}).encode(), "application/json")

        def do_GET(self):
            path = urlparse(self.path).path
            try:
                if path in ("/", "/index.html"):
                    path = "/" + index
                if path == "/favicon.ico":
                    return self._send(204, b"", "image/x-icon")
                out = get(path)
                if out is not None:
                    return self._answer(out)
                leaf = path.lstrip("/")
                f = STATIC / leaf
                if "/" not in leaf and f.suffix in TYPES and f.is_file():
                    return self._send(200, f.read_bytes(), TYPES[f.suffix])
                self._error(f"no page {path}", HTTPStatus.NOT_FOUND)
            except errors as exc:
                self._error(str(exc), HTTPStatus.BAD_REQUEST)

        def do_POST(self):
            path = urlparse(self.path).path
            if post is None:
                return self._error(f"no action {path}", HTTPStatus.NOT_FOUND)
            try:
                n = int(self.headers.get("Content-Length") or 0)
                if n > MAX_BODY:
                    raise HakisaError("request too large")
                out = post(path, json.loads(self.rfile.read(n) or b"{}"))
                if out is None:
                    return self._error(f"no action {path}", HTTPStatus.NOT_FOUND)
                self._answer(out)
            except errors as exc:
                self._error(str(exc), HTTPStatus.BAD_REQUEST)

    return Handler


def make_server(handler_class, host: str, port: int, what: str, flag: str = "--port") -> ThreadingHTTPServer:
    """A server for ``handler_class`` (not yet serving: call ``serve_forever``); port 0 picks a free one; ``flag``
    is the option that chooses the port, named when this one is taken."""
    try:
        server = ThreadingHTTPServer((host, port), handler_class)
    except OSError as exc:
        raise HakisaError(f"cannot serve the {what} on {host}:{port} ({exc.strerror or exc}); pick another {flag}."
                          ) from None
    server.daemon_threads = True
    return server
