"""The one executor seam: run chunk tasks serially, on threads, or on a Dask cluster.

An executor takes a function and a list of argument tuples and yields
``(index, result)`` pairs as tasks finish, in any order. Closing the iterator
early (a bad file, Ctrl-C) cancels what has not started. The reduce loop
(:func:`segstats.reduce.reduce_files`) is written once over this seam; an
engine joins it by registering a factory here (joblib's own backends, Ray
through joblib, ...), never by copying the loop.

- ``serial``: in this thread, in order; no pool, nothing pickled.
- ``threads``: a plain thread pool. The native reader releases the GIL for a
  whole chunk, so threads scale without processes (which cost seconds to start).
- ``dask``: every chunk is a task on a Dask cluster through joblib's Dask
  backend (``segstats.cluster`` connects); workers read the files themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from segstats.registry import Registry

Task = Callable[..., Any]


class Executor(Protocol):
    """Runs ``task(*args)`` for each tuple of ``arguments``; yields ``(index, result)`` as they finish."""

    def run(self, task: Task, arguments: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]: ...


class SerialExecutor:
    def __init__(self, workers: int = 1, **_: Any) -> None:
        pass

    def run(self, task: Task, arguments: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]:
        for index, args in enumerate(arguments):
            yield index, task(*args)


class ThreadExecutor:
    """A thread pool; tasks start in submission order (a FIFO queue), finish in any."""

    def __init__(self, workers: int, **_: Any) -> None:
        self.workers = max(1, workers)

    def run(self, task: Task, arguments: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]:
        # imported here: it loads logging (~5 ms), which a serial scan never needs
        import concurrent.futures

        pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="segstats")
        try:
            futures = {pool.submit(task, *args): index for index, args in enumerate(arguments)}
            for future in concurrent.futures.as_completed(futures):
                # popped so that a finished chunk's result (per-image rows too) is freed once
                # the caller has used it: memory follows the chunks in flight, not the scan
                index = futures.pop(future)
                yield index, future.result()
        finally:
            # early close (bad file, Ctrl-C): drop what has not started; running tasks end on their own
            pool.shutdown(wait=False, cancel_futures=True)


def _indexed(task: Task, index: int, *args: Any) -> tuple[int, Any]:
    return index, task(*args)


class DaskExecutor:
    """Chunks as tasks on a Dask cluster, through joblib's Dask backend."""

    def __init__(self, workers: int = 0, *, client: Any, **_: Any) -> None:
        self.client = client

    def run(self, task: Task, arguments: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]:
        import warnings

        from joblib import Parallel, delayed, parallel_config

        from segstats.cluster import WORKER_WAIT_S

        with parallel_config(backend="dask", client=self.client, wait_for_workers_timeout=WORKER_WAIT_S):
            parallel = Parallel(n_jobs=-1, batch_size=1, return_as="generator_unordered")
            generator = parallel(delayed(_indexed)(task, i, *args) for i, args in enumerate(arguments))
            try:
                # a loop, not ``yield from``: closing this generator would close joblib's from
                # inside the ``yield from``, before the filter below is in place
                for result in generator:  # noqa: UP028 (see above)
                    yield result
            finally:
                with warnings.catch_warnings():  # stopping at a bad file cancels the other tasks
                    warnings.filterwarnings("ignore", message=".*tasks which were still being processed")
                    generator.close()


EXECUTORS = Registry("executor")
EXECUTORS.register("serial", "segstats.executors:SerialExecutor")
EXECUTORS.register("threads", "segstats.executors:ThreadExecutor")
EXECUTORS.register("dask", "segstats.executors:DaskExecutor", "pip install 'segstats[dask]'")
