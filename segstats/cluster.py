"""Reaching a Dask cluster for ``--backend dask``.

The reduce loop (:func:`segstats.reduce.reduce_files`) sends every chunk as a
task through joblib's Dask backend (:class:`segstats.executors.DaskExecutor`):
each task reads and counts a chunk of files *on a worker* (the worker opens
local paths on its own disks, or URLs through fsspec) and sends back one small
sum; the client only lists files and adds the per-chunk sums as they arrive, so
neither label data nor per-file arrays cross the network. Sums are exact
integers, so the result does not depend on the cluster size or on the order of
completion.

The cluster is reached through ``scheduler`` (``tcp://host:8786``), else the
``SEGSTATS_SCHEDULER`` environment variable, else an already-created default
``distributed.Client`` of this process. Workers need segstats (same version)
installed, plus ``segstats[cloud]`` for remote URLs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from segstats.errors import SegstatsError, UsageError
from segstats.remote import is_process_local

# Environment variable giving the Dask scheduler address when --scheduler is not given.
SCHEDULER_ENV = "SEGSTATS_SCHEDULER"
# Seconds to keep trying to reach the scheduler (a wrong address fails after this).
CONNECT_TIMEOUT_S = 10
# Seconds to wait for a first worker to join a cluster that has none yet.
WORKER_WAIT_S = 60
# What to install for the Dask backend (one line, for error messages).
DASK_INSTALL_HINT = "install the dask extra: pip install 'segstats[dask]'"


# Values of --backend: this machine (threads) or a Dask cluster.
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


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError(f"--backend dask needs dask.distributed; {DASK_INSTALL_HINT}") from None
    return distributed


def scheduler_address(scheduler: str | None) -> str | None:
    """``scheduler``, else ``$SEGSTATS_SCHEDULER``, else None (use a default client)."""
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


def connect(scheduler: str | None, paths: Sequence[str] = ()) -> tuple[Any, bool]:
    """``(client, owned)``: a new client to ``scheduler`` (owned: close it), or the default one.

    Raises:
        UsageError: dask.distributed missing, no scheduler given or reachable,
            or ``memory://`` files among ``paths`` (they exist in this process only).
    """
    local = next((p for p in paths if is_process_local(p)), None)
    if local is not None:
        raise UsageError(
            f"{local}: memory:// files exist in this process only, so Dask workers cannot read them; "
            "use --backend local"
        )
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
