"""Test helper: an HTTP server on 127.0.0.1 with an object store's habits, and a record of them.

It serves files from a dict (``name -> bytes``) and a listing page at ``/`` with
a link to each (so fsspec's HTTP ``find`` works). Every answer waits ``delay``
seconds first. Per path, the first ``fail[path]`` attempts get a 503, the first
``drop[path]`` attempts have the connection closed without an answer, and the
first ``truncate[path]`` attempts get the headers and half of the body before the
connection is closed; paths in ``forbid`` get a 403. HTTP/1.1 keep-alive, like an object store.

It records attempts per path, requests in progress and their peak, the bytes
of bodies fully written, and the time of each request.

Run as a script it serves a folder (every file under it, by relative path) and
prints its base URL on stdout: ``python tests/delay_server.py FOLDER --delay 0.05``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import html
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Behaviour:
    """What the server does and what it saw (shared by its handler threads, under ``lock``)."""

    def __init__(self, files: dict[str, bytes], delay: float = 0.0) -> None:
        self.files = files
        self.delay = delay
        self.fail: dict[str, int] = {}
        self.drop: dict[str, int] = {}
        self.truncate: dict[str, int] = {}
        self.forbid: set[str] = set()  # answered 403
        self.send_length = True  # False: no Content-Length, the body ends with the connection
        self.lock = threading.Lock()
        self.attempts: collections.Counter[str] = collections.Counter()
        self.active = 0
        self.peak_active = 0
        self.sent_bytes = 0
        self.request_times: list[float] = []

    def reset_record(self) -> None:
        with self.lock:
            self.attempts.clear()
            self.peak_active = self.active
            self.sent_bytes = 0
            self.request_times.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK (~40 ms a request on Linux), which is not the latency under test.
    disable_nagle_algorithm = True
    behaviour: Behaviour  # set on a subclass per server

    def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
        pass

    def do_GET(self) -> None:
        b = self.behaviour
        name = self.path.lstrip("/")
        with b.lock:
            b.attempts[name] += 1
            attempt = b.attempts[name]
            b.active += 1
            b.peak_active = max(b.peak_active, b.active)
            b.request_times.append(time.monotonic())
        try:
            if b.delay:
                time.sleep(b.delay)
            self._answer(b, name, attempt)
        finally:
            with b.lock:
                b.active -= 1

    def _answer(self, b: Behaviour, name: str, attempt: int) -> None:
        if attempt <= b.drop.get(name, 0):
            # RST instead of FIN: the client sees a reset connection, as when a proxy drops it
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if name in b.forbid:
            self._send(403, b"forbidden", "text/plain")
            return
        if attempt <= b.fail.get(name, 0):
            self._send(503, b"busy, try again", "text/plain")
            return
        if name == "":
            links = "".join(f'<a href="/{html.escape(n)}">{html.escape(n)}</a>\n' for n in sorted(b.files))
            self._send(200, f"<html><body>\n{links}</body></html>".encode(), "text/html")
            return
        body = b.files.get(name)
        if body is None:
            self._send(404, b"not found", "text/plain")
            return
        if attempt <= b.truncate.get(name, 0):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self._send(200, body, "application/octet-stream")
        with b.lock:
            b.sent_bytes += len(body)

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if self.behaviour.send_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive connections must not hold up shutdown
    request_queue_size = 1024  # many clients connect at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away: normal here
            super().handle_error(request, client_address)


@contextmanager
def serve_files(files: dict[str, bytes], delay: float = 0.0) -> Iterator[tuple[str, Behaviour]]:
    """Serve ``files`` on a free loopback port; yields ``(base URL without "/", behaviour)``."""
    behaviour = Behaviour(files, delay)
    handler = type("Handler", (_Handler,), {"behaviour": behaviour})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", behaviour
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def read_folder(folder: str) -> dict[str, bytes]:
    """Every file under ``folder``, by its relative path with ``/``."""
    files = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, folder).replace(os.sep, "/")] = handle.read()
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description="serve a folder over HTTP with a delay per answer")
    parser.add_argument("folder")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    with serve_files(read_folder(args.folder), args.delay) as (url, _):
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            sys.stdin.read()  # serve until stdin closes (the parent ends or closes the pipe)


if __name__ == "__main__":
    main()
