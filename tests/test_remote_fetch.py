"""fetch_many: many requests in flight, input order, a byte budget, retries, prompt cancellation.

Against tests/delay_server.py: a loopback HTTP server that delays every answer
and fails, drops or cuts chosen requests, and records what it saw. Expected
bytes are the served dict itself; counts of attempts and of requests in
progress are the server's, not the fetcher's.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import signal
import threading
import time
import tracemalloc
import uuid

import fsspec
import pytest
from delay_server import serve_files

from segstats.errors import BadInputError, UsageError
from segstats.sources.remote_fetch import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BYTES,
    DEFAULT_RETRIES,
    FetchError,
    FetchOptions,
    FetchStats,
    fetch_many,
    is_transient,
    parse_size,
)

# Quick retries for the tests (the default backoff is for real servers).
FAST = {"backoff": 0.01, "timeout": 10.0}


def make_files(count: int, rng_seed: int = 1, low: int = 100, high: int = 5000) -> dict[str, bytes]:
    """``count`` files of varied sizes and contents, named so that sorted order is not input order."""
    import random

    rng = random.Random(rng_seed)
    return {f"d{index % 3}/f{index:04d}.png": rng.randbytes(rng.randint(low, high)) for index in range(count)}


def fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("segstats-")]


def test_results_equal_the_files_in_input_order():
    files = make_files(60)
    names = sorted(files, key=lambda n: (len(files[n]) % 7, n))  # an order neither sorted nor by size
    names += names[:3]  # duplicates are fetched twice, in place
    with serve_files(files, delay=0.02) as (base, server):
        urls = [f"{base}/{name}" for name in names]
        got = list(fetch_many(urls, FetchOptions(concurrency=16, **FAST)))
    assert [url for url, _ in got] == urls
    assert [data for _, data in got] == [files[name] for name in names]
    assert all(type(data) is bytes for _, data in got)
    assert sum(server.attempts.values()) == len(urls)
    assert fetch_threads() == []


def test_empty_list_starts_nothing():
    assert list(fetch_many([])) == []
    assert fetch_threads() == []


def test_local_and_memory_urls_mixed_with_http(tmp_path):
    files = make_files(12)
    mem = fsspec.filesystem("memory")
    root = f"/fetch-{uuid.uuid4().hex}"
    urls, expected = [], []
    with serve_files(files) as (base, _):
        for index, (name, data) in enumerate(sorted(files.items())):
            if index % 3 == 0:
                path = tmp_path / f"{index}.png"
                path.write_bytes(data)
                urls.append(path.as_uri())
            elif index % 3 == 1:
                mem.pipe(f"{root}/{index}.png", data)
                urls.append(f"memory://{root}/{index}.png")
            else:
                urls.append(f"{base}/{name}")
            expected.append(data)
        urls.append((tmp_path / "missing.png").as_uri())
        got = list(fetch_many(urls, FetchOptions(concurrency=4, **FAST)))
    mem.rm(root, recursive=True)
    assert [u for u, _ in got] == urls
    assert [d for _, d in got[:-1]] == expected
    error = got[-1][1]
    assert isinstance(error, FetchError) and str(error) == f"{urls[-1]}: file not found"
    assert error.attempts == 1


@pytest.mark.parametrize("concurrency", [16, 110])  # 110: above aiohttp's default pool of 100
def test_server_sees_the_configured_number_of_requests_at_once(concurrency):
    files = make_files(concurrency + 30, low=10, high=50)
    with serve_files(files, delay=1.0) as (base, server):  # long enough to open them all, even busy
        urls = [f"{base}/{name}" for name in files]
        got = list(fetch_many(urls, FetchOptions(concurrency=concurrency, **FAST)))
    assert [d for _, d in got] == list(files.values())
    assert server.peak_active == concurrency


def test_known_sizes_keep_the_bytes_sent_and_not_consumed_under_the_cap():
    # 40 files of 10-40 kB (1 MB in all) through a 100 kB budget, consumed slowly: without
    # the budget, 16 requests in flight would have ~400 kB sent and not consumed.
    files = make_files(40, low=10_000, high=40_000)
    cap = 100_000
    with serve_files(files, delay=0.01) as (base, server):
        urls = [f"{base}/{name}" for name in files]
        sizes = {f"{base}/{name}": len(data) for name, data in files.items()}
        consumed, worst = 0, 0
        stats = FetchStats()
        for url, data in fetch_many(
            urls, FetchOptions(concurrency=16, max_bytes_in_flight=cap, **FAST), sizes=sizes, stats=stats
        ):
            time.sleep(0.02)  # a slow consumer: the server finishes whatever it was asked for
            with server.lock:
                # the files before this one are released; this one is still the consumer's
                worst = max(worst, server.sent_bytes - consumed)
            assert data == files[url.removeprefix(base + "/")]
            consumed += len(data)
    assert worst <= cap
    assert worst > cap // 2  # the budget was used, not just respected
    assert stats.peak_bytes_buffered <= cap


def test_unknown_sizes_are_checked_from_content_length_before_the_body_is_read():
    # 40 files of 256 kB (10 MB) through a 1 MB budget, no sizes given, consumed slowly:
    # Python's own allocations stay near the budget (aiohttp reads ahead up to ~128 kB per
    # connection), far from the 10 MB that reading everything would hold.
    files = {f"f{index:02d}": os.urandom(256 * 1024) for index in range(40)}
    cap = 1024 * 1024
    with serve_files(files) as (base, _):
        urls = [f"{base}/{name}" for name in files]
        stats = FetchStats()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            baseline = tracemalloc.get_traced_memory()[0]
            count = 0
            for _, data in fetch_many(
                urls, FetchOptions(concurrency=8, max_bytes_in_flight=cap, **FAST), stats=stats
            ):
                time.sleep(0.01)
                count += len(data) == 256 * 1024
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()
    assert count == 40
    assert stats.peak_bytes_held <= cap
    assert peak < 3 * cap, peak  # reading all 10 MB before consuming: over 10 * cap


def test_a_file_larger_than_the_budget_is_still_fetched_alone():
    files = {"big": os.urandom(300_000), "small": b"x" * 10}
    with serve_files(files) as (base, _):
        got = list(
            fetch_many(
                [f"{base}/big", f"{base}/small", f"{base}/big"],
                FetchOptions(max_bytes_in_flight=1000, **FAST),
            )
        )
    assert [d for _, d in got] == [files["big"], files["small"], files["big"]]


def test_no_content_length_uses_the_estimate_and_still_reads_right():
    files = make_files(20)
    with serve_files(files) as (base, server):
        server.send_length = False
        got = list(fetch_many([f"{base}/{n}" for n in files], FetchOptions(concurrency=4, **FAST)))
    assert [d for _, d in got] == list(files.values())


def test_transient_failures_are_retried_within_the_bound():
    files = make_files(12)
    names = list(files)
    with serve_files(files, delay=0.01) as (base, server):
        server.fail = {names[0]: 3, names[1]: 1}  # 503s
        server.drop = {names[2]: 2}  # connection reset before any answer
        server.truncate = {names[3]: 1}  # half a body, then a reset
        stats = FetchStats()
        got = list(fetch_many([f"{base}/{n}" for n in names], FetchOptions(retries=3, **FAST), stats=stats))
    assert [d for _, d in got] == [files[n] for n in names]
    assert server.attempts[names[0]] == 4
    assert server.attempts[names[1]] == 2
    assert server.attempts[names[2]] == 3
    assert server.attempts[names[3]] == 2
    assert all(server.attempts[n] == 1 for n in names[4:])
    # (aiohttp itself resends once a request whose reused connection was reset, so the
    # fetcher's own count of retries can be below the server's count of extra attempts)
    assert 3 + 1 + 1 + 1 <= stats.retries <= 3 + 1 + 2 + 1
    assert stats.attempts == len(names) + stats.retries and stats.failed == 0


@pytest.mark.parametrize("how", ["fail", "drop", "truncate"])
def test_a_persistent_failure_gives_one_line_naming_the_url_after_retries_plus_one(how):
    files = make_files(5)
    bad = next(iter(files))
    with serve_files(files) as (base, server):
        setattr(server, how, {bad: 1000})
        got = dict(fetch_many([f"{base}/{n}" for n in files], FetchOptions(retries=2, **FAST)))
    error = got[f"{base}/{bad}"]
    assert isinstance(error, FetchError) and isinstance(error, BadInputError)
    assert error.attempts == 3
    if how == "fail":
        assert server.attempts[bad] == 3
    else:  # aiohttp itself resends once a request whose reused connection was reset
        assert 3 <= server.attempts[bad] <= 6
    message = str(error)
    assert message.startswith(f"{base}/{bad}: ") and message.endswith("(after 3 attempts)")
    assert "\n" not in message
    if how == "fail":
        assert "HTTP 503" in message
    assert all(got[f"{base}/{n}"] == files[n] for n in files if n != bad)


def test_not_found_and_forbidden_are_not_retried():
    files = make_files(3)
    secret = next(iter(files))
    with serve_files(files) as (base, server):
        server.forbid = {secret}
        got = dict(fetch_many([f"{base}/nope.png", f"{base}/{secret}"], FetchOptions(retries=3, **FAST)))
    assert str(got[f"{base}/nope.png"]) == f"{base}/nope.png: file not found"
    assert str(got[f"{base}/{secret}"]) == f"{base}/{secret}: permission denied (HTTP 403)"
    assert server.attempts["nope.png"] == 1 and server.attempts[secret] == 1


def test_a_stalled_answer_times_out_and_is_retried():
    files = {"slow": b"late"}
    with serve_files(files, delay=1.0) as (base, server):
        start = time.monotonic()
        [(_, error)] = list(fetch_many([f"{base}/slow"], FetchOptions(retries=1, backoff=0.01, timeout=0.2)))
        elapsed = time.monotonic() - start
    assert isinstance(error, FetchError)
    assert str(error) == f"{base}/slow: no answer within 0.2 s (after 2 attempts)"
    assert server.attempts["slow"] == 2 and elapsed < 1.8  # two full answers would take 2 s


def test_closing_early_cancels_pending_requests_and_leaves_no_thread():
    files = make_files(400, low=10, high=20)
    with serve_files(files, delay=1.0) as (base, server):
        generator = fetch_many([f"{base}/{n}" for n in files], FetchOptions(concurrency=8, **FAST))
        for _ in range(3):
            next(generator)
        start = time.monotonic()
        generator.close()
        closing = time.monotonic() - start
        # A request already on the wire when close() ran may reach the server's handler a
        # moment later (CI saw 15 counted, then 16): let those land before counting. A fetcher
        # still running would only send more after its answers, ~1 s later.
        time.sleep(0.3)
        seen = sum(server.attempts.values())
        time.sleep(1.2)
        assert sum(server.attempts.values()) == seen
    assert seen < 40
    assert closing < 0.6  # cancelled: waiting for the requests in flight would take ~1 s
    assert fetch_threads() == []


def test_an_exception_in_the_consumer_stops_the_fetching_too():
    files = make_files(200, low=10, high=20)
    with serve_files(files, delay=0.5) as (base, server):
        with pytest.raises(KeyboardInterrupt):
            for _ in fetch_many([f"{base}/{n}" for n in files], FetchOptions(concurrency=8, **FAST)):
                raise KeyboardInterrupt
        time.sleep(0.2)  # requests already on the wire land; new ones would follow answers (0.5 s)
        seen = sum(server.attempts.values())
        time.sleep(0.8)
        assert sum(server.attempts.values()) == seen
    assert fetch_threads() == []


def test_ctrl_c_while_waiting_for_a_file_interrupts_promptly():
    with serve_files({"slow": b"x"}, delay=3.0) as (base, _):
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        start = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            list(fetch_many([f"{base}/slow"], FetchOptions(**FAST)))
        elapsed = time.monotonic() - start
        timer.join()
    assert elapsed < 1.5
    assert fetch_threads() == []


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed here")
def test_a_missing_protocol_package_is_a_fetch_error_not_a_crash():
    [(_, error)] = list(fetch_many(["s3://bucket/key.png"], FetchOptions(**FAST)))
    assert isinstance(error, FetchError) and error.attempts == 1
    assert str(error).startswith("s3://bucket/key.png: the s3:// protocol is not available")
    assert "pip install 'segstats[cloud]'" in str(error)


def test_fetch_error_pickles():
    error = FetchError("https://h/x.png", "HTTP 503 (after 4 attempts)", 4)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.url, copy.cause, copy.attempts) == (
        FetchError,
        str(error),
        error.url,
        error.cause,
        4,
    )


def test_options_from_the_environment_and_overrides():
    assert FetchOptions.from_env({}) == FetchOptions()
    assert (DEFAULT_CONCURRENCY, DEFAULT_MAX_BYTES, DEFAULT_RETRIES) == (64, 64 * 2**20, 3)
    env = {
        "SEGSTATS_FETCH_CONCURRENCY": "128",
        "SEGSTATS_FETCH_MAX_BYTES": "16MiB",
        "SEGSTATS_FETCH_RETRIES": "0",
        "SEGSTATS_FETCH_TIMEOUT": "0",
    }
    options = FetchOptions.from_env(env)
    assert (options.concurrency, options.max_bytes_in_flight, options.retries, options.timeout) == (
        128,
        16 * 2**20,
        0,
        None,
    )
    options = FetchOptions.from_env(env, concurrency=8, max_bytes_in_flight=1000, retries=5, timeout=2.5)
    assert (options.concurrency, options.max_bytes_in_flight, options.retries, options.timeout) == (
        8,
        1000,
        5,
        2.5,
    )
    with pytest.raises(UsageError, match="SEGSTATS_FETCH_CONCURRENCY='many'"):
        FetchOptions.from_env({"SEGSTATS_FETCH_CONCURRENCY": "many"})
    with pytest.raises(UsageError, match="concurrency must be at least 1"):
        FetchOptions.from_env({"SEGSTATS_FETCH_CONCURRENCY": "0"})
    with pytest.raises(ValueError, match="retries"):
        FetchOptions(retries=-1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100", 100),
        ("4k", 4096),
        ("64M", 64 * 2**20),
        ("64MiB", 64 * 2**20),
        ("1 GB", 2**30),
        ("2t", 2 * 2**40),
    ],
)
def test_parse_size(text, value):
    assert parse_size(text) == value


def test_parse_size_rejects_junk():
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_transient_classification():
    import aiohttp

    def status(code):
        return aiohttp.ClientResponseError(None, (), status=code)  # type: ignore[arg-type]

    assert all(is_transient(status(code)) for code in (500, 502, 503, 504, 429, 408))
    assert not any(is_transient(status(code)) for code in (400, 401, 403, 404, 416))
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    assert is_transient(aiohttp.ServerDisconnectedError()) and is_transient(aiohttp.ClientPayloadError())
    assert not is_transient(FileNotFoundError()) and not is_transient(ValueError())


def test_options_read_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("SEGSTATS_FETCH_CONCURRENCY", "7")
    monkeypatch.setenv("SEGSTATS_FETCH_MAX_BYTES", "3M")
    options = FetchOptions.from_env()
    assert (options.concurrency, options.max_bytes_in_flight) == (7, 3 * 2**20)
    with serve_files({"a": b"abc"}) as (base, _):
        assert list(fetch_many([f"{base}/a"])) == [(f"{base}/a", b"abc")]  # options=None: from_env
