"""Options, counters and errors of ``segstats.sources.remote_fetch`` (no fsspec import).

``FetchOptions`` says how many requests are in flight, how many bytes may wait
for the consumer, how often a transient failure is retried; ``from_env`` reads
the ``SEGSTATS_FETCH_*`` variables (how a Dask worker gets the client's options).
``is_transient`` decides what is retried; ``describe_fetch_error`` words the one
line a ``FetchError`` carries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections.abc import Mapping
from typing import Any

from segstats.errors import BadInputError, SegstatsError, UsageError

# Environment variables read by FetchOptions.from_env (the Dask workers' way to get options).
ENV_CONCURRENCY = "SEGSTATS_FETCH_CONCURRENCY"
ENV_MAX_BYTES = "SEGSTATS_FETCH_MAX_BYTES"
ENV_RETRIES = "SEGSTATS_FETCH_RETRIES"
ENV_TIMEOUT = "SEGSTATS_FETCH_TIMEOUT"
# Defaults: 64 requests hide a 50 ms latency for ~1,000 files/s of small masks; 64 MiB of
# buffered files is small next to a worker's memory and holds 64 files of 1 MiB.
DEFAULT_CONCURRENCY = 64
DEFAULT_MAX_BYTES = 64 * 2**20
DEFAULT_RETRIES = 3
# First retry after ~0.2 s, then 0.4, 0.8... (times a jitter in [0.5, 1]), never over 10 s.
DEFAULT_BACKOFF = 0.2
MAX_BACKOFF = 10.0
# Seconds for one attempt's answer (and again for its body); a stalled connection is retried.
DEFAULT_TIMEOUT = 60.0
# HTTP statuses worth retrying: timeouts, rate limits, and the server's own errors (5xx).
TRANSIENT_STATUSES = frozenset({408, 429})
_SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``"67108864"``, ``"64M"``, ``"64MiB"``, ``"1g"`` (binary multiples).

    >>> parse_size("64MiB"), parse_size("512k"), parse_size("100")
    (67108864, 524288, 100)
    """
    match = _SIZE_PATTERN.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (expected e.g. 67108864, 64M or 64MiB)")
    number, unit = int(match.group(1)), match.group(2).lower()
    return int(number * 1024 ** ("kmgt".index(unit) + 1 if unit else 0))


@dataclasses.dataclass(frozen=True)
class FetchOptions:
    """How ``fetch_many`` fetches: requests in flight, bytes buffered, retries, timeout."""

    concurrency: int = DEFAULT_CONCURRENCY
    max_bytes_in_flight: int = DEFAULT_MAX_BYTES
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    timeout: float | None = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.max_bytes_in_flight < 1:
            raise ValueError(f"max_bytes_in_flight must be at least 1, got {self.max_bytes_in_flight}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")
        if self.backoff < 0:
            raise ValueError(f"backoff must be 0 or more seconds, got {self.backoff}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be positive seconds or None, got {self.timeout}")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        concurrency: int | None = None,
        max_bytes_in_flight: int | None = None,
        retries: int | None = None,
        timeout: float | None = None,
    ) -> FetchOptions:
        """Options from keyword values, else ``SEGSTATS_FETCH_*`` variables, else the defaults.

        A keyword that is None is looked up in ``environ`` (``os.environ`` by
        default): ``SEGSTATS_FETCH_CONCURRENCY``, ``SEGSTATS_FETCH_MAX_BYTES``
        (``64M``, ``64MiB`` or bytes), ``SEGSTATS_FETCH_RETRIES``,
        ``SEGSTATS_FETCH_TIMEOUT`` (seconds per attempt; ``0`` for no limit,
        as is ``timeout=0``).

        Raises:
            UsageError: a variable or value that is not valid (one line naming it).
        """
        env = os.environ if environ is None else environ

        def lookup(name: str, value: Any, parse: Any) -> Any:
            if value is not None or not env.get(name, "").strip():
                return value
            try:
                return parse(env[name].strip())
            except ValueError:
                raise UsageError(f"{name}={env[name]!r}: not a valid value") from None

        values = {
            "concurrency": lookup(ENV_CONCURRENCY, concurrency, int),
            "max_bytes_in_flight": lookup(ENV_MAX_BYTES, max_bytes_in_flight, parse_size),
            "retries": lookup(ENV_RETRIES, retries, int),
            "timeout": lookup(ENV_TIMEOUT, timeout, float),
        }
        chosen: dict[str, Any] = {key: value for key, value in values.items() if value is not None}
        if chosen.get("timeout") == 0:
            chosen["timeout"] = None  # 0: no limit
        try:
            return cls(**chosen)
        except ValueError as exc:
            raise UsageError(f"fetch options: {exc}") from None


@dataclasses.dataclass
class FetchStats:
    """Counters of one ``fetch_many`` run (filled in by it; read them after or during)."""

    attempts: int = 0  # requests sent, retries included
    retries: int = 0
    failed: int = 0  # files returned as FetchError
    bytes_fetched: int = 0
    peak_in_flight: int = 0  # requests in flight at once
    peak_bytes_buffered: int = 0  # the budget's account: sizes or estimates of unreleased files
    peak_bytes_held: int = 0  # bytes of files received and not yet released (the real memory)


class FetchError(BadInputError):
    """A file that could not be fetched: ``"<url>: <cause>"``, with the number of attempts."""

    def __init__(self, url: str, cause: str, attempts: int = 1) -> None:
        super().__init__(url, cause)
        self.url = url
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (Dask returns it from a worker)
        return (type(self), (self.url, self.cause, self.attempts))


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: HTTP 5xx/429/408, resets, drops, timeouts."""
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return False
    status = getattr(exc, "status", None)  # aiohttp.ClientResponseError and friends
    if isinstance(status, int):
        return status >= 500 or status in TRANSIENT_STATUSES
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError)):
        return True
    try:
        import aiohttp
    except ImportError:
        return False
    if isinstance(exc, aiohttp.ClientSSLError):  # a certificate problem does not go away
        return False
    return isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError))


def describe_fetch_error(exc: BaseException, timeout: float | None = None) -> str:
    """One line saying why a fetch failed (no URL; ``FetchError`` adds it)."""
    if isinstance(exc, SegstatsError):  # already one line (a missing protocol package)
        return str(exc)
    status = getattr(exc, "status", None)
    if isinstance(exc, FileNotFoundError) or status == 404:
        return "file not found"
    if isinstance(exc, PermissionError) or status in (401, 403):
        return "permission denied" + (f" (HTTP {status})" if isinstance(status, int) else "")
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(status, int):
        reason = " ".join(str(getattr(exc, "message", "") or "").split())
        return f"HTTP {status}" + (f" {reason}" if reason else "")
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) and not str(exc):
        return f"no answer within {timeout:g} s" if timeout else "timed out"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
