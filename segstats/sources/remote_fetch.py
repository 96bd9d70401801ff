"""Fetch many remote files with many requests in flight, in input order, within a byte budget.

At an object store's latency (tens of milliseconds per request) a worker that
fetches one file, waits, counts it and fetches the next spends its time idle.
``fetch_many`` keeps up to ``concurrency`` requests in flight and hands the
files back **in the order given** (the scan counts chunks in sorted order), so
the counting path stays unchanged: it receives ``bytes`` objects.

How (fsspec, imported lazily):

- filesystems with an async implementation (``http(s)://``, ``s3://``,
  ``gs://``) run on **one event loop in a background thread**, one coroutine
  per file, a fresh filesystem instance bound to that loop (the connection pool
  of ``http`` and ``s3`` sized to ``concurrency``), closed when done;
- the others (``file://``, ``memory://``, chained ``a::b://`` URLs) are read by
  a small thread pool driven by the same loop, so the limits, retries and
  cancellation are the same.

Memory: every file launched and not yet taken back by the consumer holds bytes
against ``max_bytes_in_flight``: its size from ``sizes`` (the listing) when
given, else the ``Content-Length`` of the HTTP answer, which arrives before the
body and is checked before the body is read; else an estimate (the largest of
the recent files; ``max_bytes_in_flight / concurrency`` before the first), set
right once the bytes are in. A file larger than the whole budget is fetched when
it is the next one the consumer needs, alone. A result the consumer has been
given is released when it asks for the next one.

Errors: transient ones (HTTP 5xx, 429, 408, connection resets and drops,
timeouts) are retried up to ``retries`` times with exponential backoff and
jitter; the rest (404, 403, a missing protocol package...) are not. A file that
cannot be read is returned as a ``FetchError`` (a ``BadInputError``: one line
naming the URL) in its place, never raised, so ``--skip-errors`` accounting is
the caller's, unchanged.

Stopping early (the generator closed, ``KeyboardInterrupt`` in the consumer)
cancels every pending request and ends the loop thread before ``close`` returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from segstats.errors import UsageError
from segstats.remote import CLOUD_EXTRA_PROTOCOLS, CLOUD_INSTALL_HINT, protocol_of
from segstats.sources.fetch_options import (
    DEFAULT_BACKOFF,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BYTES,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    ENV_CONCURRENCY,
    ENV_MAX_BYTES,
    ENV_RETRIES,
    ENV_TIMEOUT,
    MAX_BACKOFF,
    FetchError,
    FetchOptions,
    FetchStats,
    describe_fetch_error,
    is_transient,
    parse_size,
)

# The API in one place (the options live in fetch_options, importable without this module's loop).
__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "ENV_CONCURRENCY",
    "ENV_MAX_BYTES",
    "ENV_RETRIES",
    "ENV_TIMEOUT",
    "FetchError",
    "FetchOptions",
    "FetchStats",
    "describe_fetch_error",
    "fetch_many",
    "is_transient",
    "parse_size",
]

# Threads for filesystems without an async implementation (local disks, memory).
SYNC_THREADS = 8
# Seconds close() waits for the loop thread to end after cancelling it.
CLOSE_TIMEOUT = 10.0
# Files launched beyond the consumer's position, whatever their size (bounds tiny files too).
AHEAD_PER_REQUEST = 4


def fetch_many(
    urls: Sequence[str],
    options: FetchOptions | None = None,
    *,
    sizes: Mapping[str, int] | None = None,
    stats: FetchStats | None = None,
) -> Iterator[tuple[str, bytes | FetchError]]:
    """``(url, bytes or FetchError)`` for each of ``urls``, in that order, fetched concurrently.

    Args:
        urls: full URLs (``https://...``, ``s3://...``, ``file://...``); duplicates allowed.
        options: limits and retries; ``FetchOptions.from_env()`` when None.
        sizes: byte sizes known from the listing, by URL (the budget is then exact).
        stats: filled in with counters while it runs.

    Nothing starts until the first item is asked for. Closing the generator (or
    an exception in the consumer, ``KeyboardInterrupt`` included) cancels what is
    pending and stops the background thread before returning.
    """
    url_list = list(urls)
    if not url_list:
        return
    fetcher = _Fetcher(url_list, options or FetchOptions.from_env(), sizes or {}, stats or FetchStats())
    fetcher.start()
    try:
        for index, url in enumerate(url_list):
            result = fetcher.take(index)
            yield url, result
            fetcher.release(index)  # the consumer is back: it is done with that file
    finally:
        fetcher.close()


class _Fetcher:
    """The loop thread, its scheduler and the hand-off of results to the consuming thread."""

    def __init__(
        self, urls: list[str], options: FetchOptions, sizes: Mapping[str, int], stats: FetchStats
    ) -> None:
        self.urls, self.options, self.sizes, self.stats = urls, options, sizes, stats
        self.results: dict[int, bytes | FetchError] = {}
        self.ready = threading.Condition()
        self.failure: BaseException | None = None  # a bug in the loop: re-raised in the consumer
        self.thread = threading.Thread(target=self._thread_main, name="segstats-fetch", daemon=True)
        self.started = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.main: asyncio.Task[None] | None = None
        self.pool: ThreadPoolExecutor | None = None
        # Loop-thread state (touched only on the loop).
        self.held: dict[int, int] = {}  # bytes accounted per launched, unreleased file
        self.received: dict[int, int] = {}  # bytes of each received, unreleased file
        self.buffered = 0
        self.data_held = 0  # bytes of received, unreleased files (for FetchStats.peak_bytes_held)
        self.in_flight = 0
        self.released = 0  # files released by the consumer: the next one it needs is index `released`
        # Shared with the consumer, under `ready`: how far it has released, and whether the loop
        # is waiting for that (then release() wakes it).
        self.release_upto = 0
        self.loop_blocked = False
        self.recent: collections.deque[int] = collections.deque(maxlen=max(8, options.concurrency))
        self.changed: asyncio.Event | None = None
        self.filesystems: dict[str, tuple[str, Any]] = {}

    # -- consumer side ---------------------------------------------------------
    def start(self) -> None:
        self.thread.start()
        self.started.wait()

    def take(self, index: int) -> bytes | FetchError:
        with self.ready:
            while index not in self.results:
                if self.failure is not None:
                    raise RuntimeError("the fetch loop failed") from self.failure
                if not self.thread.is_alive():
                    raise RuntimeError("the fetch loop ended before all files were fetched")
                self.ready.wait(0.1)  # a timeout keeps Ctrl-C prompt on every platform
            return self.results.pop(index)

    def release(self, index: int) -> None:
        # Told to the loop only when it waits for room: a wake-up per file costs more CPU
        # than the fetching itself at hundreds of files a second.
        with self.ready:
            self.release_upto = index + 1
            wake, self.loop_blocked = self.loop_blocked, False
        if wake:
            self._call_on_loop(self._wake)

    def close(self) -> None:
        if self.main is not None:
            self._call_on_loop(self.main.cancel)
        # Cancelled requests end at once; only a blocking read stuck in the thread pool (a hung
        # network mount) can outlast this, and then it is left to its daemon thread.
        self.thread.join(CLOSE_TIMEOUT)
        if self.pool is not None:  # local reads end quickly; queued ones are dropped
            self.pool.shutdown(wait=not self.thread.is_alive(), cancel_futures=True)

    def _call_on_loop(self, function: Any, *args: Any) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            # closed between the check and the call: nothing is left to tell
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(function, *args)

    # -- loop thread -----------------------------------------------------------
    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self.loop = loop
            self.changed = asyncio.Event()
            self.main = loop.create_task(self._run())
            self.started.set()
            try:
                loop.run_until_complete(self.main)
            except asyncio.CancelledError:
                pass
            except BaseException as exc:  # a bug: hand it to the consumer rather than hang it
                with self.ready:
                    self.failure = exc
                    self.ready.notify_all()
        finally:
            self.started.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _wake(self) -> None:
        assert self.changed is not None
        self.changed.set()

    def _apply_releases(self) -> None:
        with self.ready:
            upto = self.release_upto
        for index in range(self.released, upto):
            self.buffered -= self.held.pop(index, 0)
            self.data_held -= self.received.pop(index, 0)
        self.released = max(self.released, upto)

    def _estimate(self, index: int) -> int:
        known = self.sizes.get(self.urls[index])
        if known is not None:
            return int(known)
        if self.recent:
            return max(self.recent)
        return self.options.max_bytes_in_flight // self.options.concurrency

    def _fits(self, index: int, nbytes: int, already: int) -> bool:
        """May ``index`` hold ``nbytes`` (it holds ``already``)? Always, for the next one needed."""
        return index <= self.released or self.buffered - already + nbytes <= self.options.max_bytes_in_flight

    def _account(self, index: int, nbytes: int) -> None:
        self.buffered += nbytes - self.held.get(index, 0)
        self.held[index] = nbytes
        self.stats.peak_bytes_buffered = max(self.stats.peak_bytes_buffered, self.buffered)

    async def _wait_for_change(self) -> None:
        """Wait until a request ends or the consumer releases files (then applied)."""
        assert self.changed is not None
        with self.ready:
            released_meanwhile = self.release_upto > self.released
            self.loop_blocked = not released_meanwhile
        if not released_meanwhile:
            self.changed.clear()
            await self.changed.wait()
        self._apply_releases()

    async def _run(self) -> None:
        options = self.options
        tasks: set[asyncio.Task[None]] = set()
        try:
            for index in range(len(self.urls)):
                while True:
                    estimate = self._estimate(index)
                    if (
                        self.in_flight < options.concurrency
                        and index - self.released < AHEAD_PER_REQUEST * options.concurrency
                        and self._fits(index, estimate, 0)
                    ):
                        break
                    await self._wait_for_change()
                self._account(index, estimate)
                self.in_flight += 1
                self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.in_flight)
                task = asyncio.ensure_future(self._fetch_and_deliver(index))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            while tasks:
                await asyncio.gather(*list(tasks))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*list(tasks), return_exceptions=True)
            await self._close_filesystems()

    async def _fetch_and_deliver(self, index: int) -> None:
        try:
            result = await self._fetch_one(index)
        finally:
            self.in_flight -= 1
            self._wake()
        if isinstance(result, bytes):
            self._account(index, len(result))
            self.recent.append(len(result))
            self.stats.bytes_fetched += len(result)
            self.received[index] = len(result)
            self.data_held += len(result)
            self.stats.peak_bytes_held = max(self.stats.peak_bytes_held, self.data_held)
        else:
            self._account(index, 0)
            self.stats.failed += 1
        with self.ready:
            self.results[index] = result
            self.ready.notify_all()

    async def _fetch_one(self, index: int) -> bytes | FetchError:
        url, options = self.urls[index], self.options
        attempt = 0
        while True:
            attempt += 1
            self.stats.attempts += 1
            try:
                return await self._read(index, url)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of any backend: classified, retried or reported
                if is_transient(exc) and attempt <= options.retries:
                    self.stats.retries += 1
                    delay = min(MAX_BACKOFF, options.backoff * 2 ** (attempt - 1))
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    continue
                cause = describe_fetch_error(exc, options.timeout)
                if attempt > 1:
                    cause += f" (after {attempt} attempts)"
                return FetchError(url, cause, attempt)

    async def _filesystem(self, url: str) -> tuple[str, Any]:
        """``(kind, filesystem)`` for ``url``: kind is "http", "async", "sync" or "chained"."""
        if "::" in url:
            return "chained", None
        protocol = protocol_of(url) or "file"
        if protocol not in self.filesystems:
            try:
                self.filesystems[protocol] = self._open_filesystem(url, protocol)
            except Exception as exc:  # remembered: every file of this protocol fails the same way
                self.filesystems[protocol] = ("broken", exc)
        kind, fs = self.filesystems[protocol]
        if kind == "broken":
            raise fs
        return kind, fs

    def _open_filesystem(self, url: str, protocol: str) -> tuple[str, Any]:
        import fsspec
        from fsspec.core import url_to_fs

        try:
            cls = fsspec.get_filesystem_class(protocol)
        except ImportError as exc:
            hint = CLOUD_INSTALL_HINT if protocol in CLOUD_EXTRA_PROTOCOLS else "install the package it names"
            raise UsageError(f"the {protocol}:// protocol is not available ({exc}); {hint}") from None
        if not getattr(cls, "async_impl", False):
            return "sync", url_to_fs(url)[0]
        extra: dict[str, Any] = {}
        kind = "async"
        if protocol in ("http", "https"):
            # aiohttp pools 100 connections by default: size the pool to the requests in flight.
            kind, extra["get_client"] = "http", _HttpClientFactory(self.options.concurrency)
        elif protocol in ("s3", "s3a"):
            # botocore pools 10 connections by default (s3fs passes config_kwargs to its Config).
            # Not exercised by the tests here (no s3fs in the test environment).
            extra["config_kwargs"] = {"max_pool_connections": self.options.concurrency}
        fs = url_to_fs(url, asynchronous=True, loop=self.loop, skip_instance_cache=True, **extra)[0]
        return kind, fs

    async def _read(self, index: int, url: str) -> bytes:
        kind, fs = await self._filesystem(url)
        timeout = self.options.timeout
        if kind == "http":
            return await self._read_http(index, fs, url)
        if kind == "async":
            data = await _limited(fs._cat_file(fs._strip_protocol(url)), timeout)
            return bytes(data)
        if self.pool is None:
            self.pool = ThreadPoolExecutor(min(SYNC_THREADS, self.options.concurrency), "segstats-read")
        loop = asyncio.get_running_loop()
        return bytes(await _limited(loop.run_in_executor(self.pool, _read_sync, fs, url), timeout))

    async def _read_http(self, index: int, fs: Any, url: str) -> bytes:
        """GET with the size checked against the budget before the body is read."""
        timeout = self.options.timeout
        session = await fs.set_session()
        target = fs.encode_url(url) if hasattr(fs, "encode_url") else url
        response = await _limited(session.get(target, **fs.kwargs), timeout)
        try:
            if response.status == 404:
                raise FileNotFoundError(url)
            response.raise_for_status()
            size = response.content_length
            if size is not None and url not in self.sizes:
                while not self._fits(index, size, self.held.get(index, 0)):
                    await self._wait_for_change()
                self._account(index, size)
            return bytes(await _limited(response.read(), timeout))
        finally:
            response.release()

    async def _close_filesystems(self) -> None:
        for kind, fs in self.filesystems.values():
            if kind in ("sync", "broken"):
                continue
            # http and gcsfs keep an aiohttp session, s3fs an aiobotocore client: close what is there.
            for attribute in ("_session", "_s3"):
                client = getattr(fs, attribute, None)
                close = getattr(client, "close", None)
                if close is not None:
                    try:
                        outcome = close()
                        if asyncio.iscoroutine(outcome):
                            await asyncio.wait_for(outcome, 5)
                    except Exception:  # closing is best effort: the loop goes away anyway
                        pass


async def _limited(awaitable: Any, seconds: float | None) -> Any:
    """``await awaitable``, raising TimeoutError after ``seconds`` (None: no limit)."""
    if seconds is None:
        return await awaitable
    if sys.version_info >= (3, 11):  # a timer on this task: no extra task per await (wait_for's cost)
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


class _HttpClientFactory:
    """fsspec's ``get_client`` for HTTP: an aiohttp session whose pool holds ``limit`` connections."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def __call__(self, **kwargs: Any) -> Any:
        import aiohttp

        kwargs.pop("loop", None)  # the running loop is the one; aiohttp deprecates the argument
        kwargs.setdefault("connector", aiohttp.TCPConnector(limit=self.limit))
        return aiohttp.ClientSession(**kwargs)


def _read_sync(fs: Any, url: str) -> bytes:
    """Read one file with a blocking filesystem (runs in the thread pool)."""
    if fs is None:  # a chained URL: its own filesystem stack
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(url)
    else:
        path = fs._strip_protocol(url)
    return bytes(fs.cat_file(path))
