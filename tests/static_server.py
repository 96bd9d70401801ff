"""Test helper: serve a folder over HTTP on 127.0.0.1 (Python's http.server, directory listings on)."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # no access log on stderr
        pass


@contextmanager
def serve_directory(folder: str | os.PathLike[str]) -> Iterator[str]:
    """Serve ``folder`` on a free loopback port; yields the base URL ``http://127.0.0.1:PORT``."""
    handler = functools.partial(_QuietHandler, directory=os.fspath(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
