"""Many label files -> summed counts on a Dask cluster, through joblib's Dask backend.

The same chunked reduction as :func:`segstats.reduce.reduce_files`: each task
reads and counts a chunk of files *on a worker* (the worker opens local paths on
its own disks, or URLs through fsspec) and sends back one small
:class:`~segstats.reduce.Totals`; the client only lists files and adds the
per-chunk sums as they arrive (``return_as="generator_unordered"``), so neither
label data nor per-file arrays cross the network. Sums are exact integers, so the
result does not depend on the cluster size or on the order of completion.

The cluster is reached through ``scheduler`` (``tcp://host:8786``), else the
``SEGSTATS_SCHEDULER`` environment variable, else an already-created default
``distributed.Client`` of this process. Workers need segstats (same version)
installed, plus ``segstats[cloud]`` for remote URLs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

from segstats.decode import ReadOptions
from segstats.errors import SegstatsError, UsageError
from segstats.histogram import LabelSpec
from segstats.reduce import ProgressCallback, Totals, _consume, _sized_chunk, chunk_paths
from segstats.remote import is_process_local

# Environment variable giving the Dask scheduler address when --scheduler is not given.
SCHEDULER_ENV = "SEGSTATS_SCHEDULER"
# Seconds to keep trying to reach the scheduler (a wrong address fails after this).
CONNECT_TIMEOUT_S = 10
# Seconds to wait for a first worker to join a cluster that has none yet.
WORKER_WAIT_S = 60
# What to install for the Dask backend (one line, for error messages).
DASK_INSTALL_HINT = "install the dask extra: pip install 'segstats[dask]'"


# Values of --backend: this machine (joblib processes) or a Dask cluster.
BACKENDS = ("local", "dask")


def check_backend(backend: str, scheduler: str | None, jobs: int | None) -> None:
    """Refuse an unknown backend and options that do not go with it.

    Raises:
        UsageError: unknown ``backend``; ``scheduler`` without "dask"; ``jobs``
            with "dask" (the cluster's worker threads set the parallelism).
    """
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "local" and scheduler is not None:
        raise UsageError("--scheduler needs --backend dask")
    if backend == "dask" and jobs is not None:
        raise UsageError("--jobs applies to --backend local; on Dask the cluster's worker threads set it")


def backend_options(paths: Sequence[str], backend: str, scheduler: str | None) -> dict[str, Any]:
    """Keyword arguments for :func:`segstats.reduce.reduce_files` for ``backend``.

    "local" keeps reduce_files' default, except that ``memory://`` files (visible
    to this process only) are counted with threads instead of processes.
    """
    if backend == "dask":
        return {"backend": "dask", "scheduler": scheduler}
    if any(is_process_local(p) for p in paths):
        return {"backend": "threading"}
    return {}


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError(f"--backend dask needs dask.distributed; {DASK_INSTALL_HINT}") from None
    return distributed


def scheduler_address(scheduler: str | None) -> str | None:
    """``scheduler``, else ``$SEGSTATS_SCHEDULER``, else None (use a default client)."""
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


def _connect(scheduler: str | None) -> tuple[Any, bool]:
    """``(client, owned)``: a new client to ``scheduler`` (owned: close it), or the default one."""
    distributed = _import_distributed()
    address = scheduler_address(scheduler)
    if address is None:
        try:
            return distributed.default_client(), False
        except ValueError:
            raise UsageError(
                f"--backend dask needs --scheduler ADDRESS (e.g. tcp://host:8786) or {SCHEDULER_ENV}"
            ) from None
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        cause = " ".join(str(exc).split()) or type(exc).__name__
        raise UsageError(f"cannot connect to the Dask scheduler at {address}: {cause}") from None
    return client, True


def cluster_threads(client: Any) -> int:
    """Worker threads in the cluster, waiting up to ``WORKER_WAIT_S`` for a first worker."""
    threads = sum(client.nthreads().values())
    if threads == 0:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (TimeoutError, OSError) as exc:
            raise SegstatsError(
                f"the Dask cluster at {client.scheduler.address} has no workers (waited {WORKER_WAIT_S} s)"
            ) from exc
        threads = sum(client.nthreads().values())
    return max(1, int(threads))


def reduce_on_dask(
    paths: Sequence[str],
    spec: LabelSpec,
    *,
    scheduler: str | None = None,
    skip_errors: bool = False,
    options: ReadOptions = ReadOptions(),
    progress: ProgressCallback | None = None,
) -> Totals:
    """Count every file in ``paths`` on a Dask cluster and return the sums.

    Files are cut into contiguous chunks, about ``CHUNKS_PER_WORKER`` per worker
    thread (at most ``MAX_CHUNK_FILES`` files each), so there are more tasks than
    threads and a slow chunk does not hold the others up. Every file goes to the
    cluster, however few (no serial shortcut in this process).

    Args:
        paths: label files as the workers see them (shared paths or URLs).
        spec: how values become classes.
        scheduler: ``tcp://host:8786``; None: ``$SEGSTATS_SCHEDULER`` or the default client.
        skip_errors: record bad files and go on; otherwise the first bad one raises.
        options: how files are read (decoder, pixel limit).
        progress: called in this process with the number of files of each finished chunk.

    Raises:
        UsageError: dask.distributed missing, no scheduler given or reachable,
            or ``memory://`` files (they exist in this process only).
        BadInputError: a bad file (unless ``skip_errors``).
    """
    local = next((p for p in paths if is_process_local(p)), None)
    if local is not None:
        raise UsageError(
            f"{local}: memory:// files exist in this process only, so Dask workers cannot read them; "
            "use --backend local"
        )
    client, owned = _connect(scheduler)
    try:
        from joblib import Parallel, delayed, parallel_config

        totals = Totals()
        if spec.num_classes is not None:
            totals._ensure(spec.num_classes)
        chunks = chunk_paths(paths, cluster_threads(client))
        with parallel_config(backend="dask", client=client, wait_for_workers_timeout=WORKER_WAIT_S):
            parallel = Parallel(n_jobs=-1, batch_size=1, return_as="generator_unordered")
            generator = parallel(delayed(_sized_chunk)(c, spec, skip_errors, options) for c in chunks)
            try:
                _consume(generator, totals, skip_errors, progress)
            finally:
                with warnings.catch_warnings():  # stopping at a bad file cancels the other tasks
                    warnings.filterwarnings("ignore", message=".*tasks which were still being processed")
                    generator.close()
        return totals
    finally:
        if owned:
            client.close()
