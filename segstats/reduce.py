"""Many label files -> summed counts (and per-image counts), over one executor seam.

Files are cut into contiguous chunks of the sorted list. A task counts one
chunk with one decoder call (the native reader reads, checks, inflates and
counts the whole chunk with the GIL released) and returns a :class:`ChunkResult`:
the chunk's sums, its bad files and, when asked, one :class:`FileCounts` per
file. The loop below is the only one: it runs the tasks through an executor
(serial, threads or Dask, :mod:`segstats.executors`) and adds the sums as
chunks finish, so memory does not grow with the number of files and the result
does not depend on the number of workers or the order of completion.

One verdict for the whole scan: when a file is bad (and ``skip_errors`` is
off), the scan waits for the chunks before it and names the first bad file in
sorted order, whatever the timing.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from segstats._types import DenseRow, IntArray, ValueHistogram, histogram_from_dense
from segstats.decoders import Item, ReadOptions, decode_chunk
from segstats.errors import BadInputError
from segstats.executors import EXECUTORS
from segstats.histogram import DenseCounts, ImageCounts, LabelSpec, classify, classify_dense, describe_unknown
from segstats.remote import is_remote

# Below this many files the serial path wins: even a thread pool costs more than it saves.
SERIAL_MAX_FILES = 64
# Files per chunk are capped so that progress moves and memory stays small.
MAX_CHUNK_FILES = 256
# Guided scheduling: each chunk holds 1 / (CHUNKS_PER_WORKER * workers) of the files still
# to cut, so chunks shrink toward the end of the list and the workers finish together.
CHUNKS_PER_WORKER = 4
# ... down to this many files (a chunk costs a task and a decoder call of its own).
MIN_CHUNK_FILES = 8
# 8-bit images of a chunk are classified together as one (files, 256) matrix.
DENSE_BINS = 256

ProgressCallback = Callable[[int], None]


class FileProblem(NamedTuple):
    """A file that could not be counted, and why (one line)."""

    path: str
    error: str


class FileCounts(NamedTuple):
    """One image's counts, for the per-image table."""

    path: str
    width: int
    height: int
    counts: ImageCounts


def _grow(array: IntArray, size: int) -> IntArray:
    if array.size >= size:
        return array
    grown = np.zeros(size, dtype=np.int64)
    grown[: array.size] = array
    return grown


@dataclass
class Totals:
    """Summed counts over some files; ``merge`` is associative and commutative."""

    pixel_counts: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    image_counts: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    image_pixels: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    num_images: int = 0
    total_pixels: int = 0
    ignored_pixels: int = 0
    problems: list[FileProblem] = field(default_factory=list)
    sizes: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)

    def ensure(self, size: int) -> None:
        """Room for classes ``0..size-1``."""
        self.pixel_counts = _grow(self.pixel_counts, size)
        self.image_counts = _grow(self.image_counts, size)
        self.image_pixels = _grow(self.image_pixels, size)

    def add_image(self, image: ImageCounts, size: str, mode: str) -> None:
        if image.class_ids.size:
            self.ensure(int(image.class_ids[-1]) + 1)
            self.pixel_counts[image.class_ids] += image.class_pixels
            self.image_counts[image.class_ids] += 1
            self.image_pixels[image.class_ids] += image.labelled_pixels
        self.num_images += 1
        self.total_pixels += image.total_pixels
        self.ignored_pixels += image.ignored_pixels
        self.sizes[size] += 1
        self.modes[mode] += 1

    def merge(self, other: Totals) -> None:
        self.ensure(max(self.pixel_counts.size, other.pixel_counts.size))
        k = other.pixel_counts.size
        self.pixel_counts[:k] += other.pixel_counts
        self.image_counts[:k] += other.image_counts
        self.image_pixels[:k] += other.image_pixels
        self.num_images += other.num_images
        self.total_pixels += other.total_pixels
        self.ignored_pixels += other.ignored_pixels
        self.problems.extend(other.problems)
        self.sizes.update(other.sizes)
        self.modes.update(other.modes)

    def add_dense(
        self, counts: DenseCounts, keep: npt.NDArray[np.bool_], shapes: list[tuple[int, int, str]]
    ) -> None:
        """Add the images ``keep`` selects from ``counts`` (``shapes``: their width, height, mode).

        The same sums as :meth:`add_image` once per image: a class counts
        towards ``image_counts``/``image_pixels`` in the images where it has pixels.
        """
        pixels = counts.class_pixels[keep]
        labelled = counts.total_pixels[keep] - counts.ignored_pixels[keep]
        seen = pixels.any(axis=0)
        if seen.any():
            class_ids, pixels = counts.class_ids[seen], pixels[:, seen]
            self.ensure(int(class_ids[-1]) + 1)
            present = pixels > 0
            self.pixel_counts[class_ids] += pixels.sum(axis=0)
            self.image_counts[class_ids] += present.sum(axis=0)
            self.image_pixels[class_ids] += (present * labelled[:, None]).sum(axis=0)
        self.num_images += int(keep.sum())
        self.total_pixels += int(counts.total_pixels[keep].sum())
        self.ignored_pixels += int(counts.ignored_pixels[keep].sum())
        for (width, height, mode), kept in zip(shapes, keep.tolist(), strict=True):
            if kept:
                self.sizes[f"{width}x{height}"] += 1
                self.modes[mode] += 1


class ChunkResult(NamedTuple):
    """What one task returns: the chunk's sums and, if asked, its per-image counts in order."""

    files: int
    totals: Totals
    rows: list[FileCounts] | None = None


def _is_dense(histogram: ValueHistogram) -> bool:
    values = histogram.values
    return values.size == 0 or (int(values[0]) >= 0 and int(values[-1]) < DENSE_BINS)


def count_chunk(
    paths: Sequence[str],
    spec: LabelSpec,
    skip_errors: bool = False,
    options: ReadOptions = ReadOptions(),
    *,
    items: Sequence[Item] | None = None,
    keep_rows: bool = False,
) -> ChunkResult:
    """Count the files ``paths`` (read from ``items`` when given: bytes already fetched).

    Every file is decoded (one decoder call for the chunk); bad files and files
    holding unknown values become ``totals.problems``. 8-bit images are
    classified together as one ``(files, 256)`` matrix
    (:func:`segstats.histogram.classify_dense`), which the compiled reader fills
    directly (one small tuple per file reaches Python); others one by one; the
    sums are the same either way. ``skip_errors`` is accepted for symmetry: the
    reduce loop decides whether a problem stops the scan.
    """
    del skip_errors  # the loop decides; the chunk reports every problem it saw
    totals = Totals()
    if spec.num_classes is not None:
        totals.ensure(spec.num_classes)
    dense = np.zeros((len(paths), DENSE_BINS), dtype=np.int64)
    results = decode_chunk(items if items is not None else paths, paths, options, dense)
    per_file: list[ImageCounts | None] = [None] * len(paths)
    dense_rows: list[int] = []
    for index, (path, result) in enumerate(zip(paths, results, strict=True)):
        if isinstance(result, DenseRow):
            dense_rows.append(index)
        elif isinstance(result, BadInputError):
            totals.problems.append(FileProblem(path, result.cause))
        elif _is_dense(result):  # an 8-bit histogram from Pillow: into its row
            dense[index, result.values] = result.counts
            dense_rows.append(index)
        else:
            image = classify(result, spec)
            if image.unknown_pixels:
                totals.problems.append(FileProblem(path, describe_unknown(image, spec)))
                continue
            totals.add_image(image, f"{result.width}x{result.height}", result.mode)
            per_file[index] = image
    if dense_rows:
        shapes = [_shape(results[i]) for i in dense_rows]
        chosen = [paths[i] for i in dense_rows]
        images = _add_dense_rows(totals, dense[dense_rows], shapes, chosen, spec, keep_rows)
        if keep_rows:
            for index, cut in zip(dense_rows, images, strict=True):
                per_file[index] = cut
    rows = None
    if keep_rows:
        rows = [
            FileCounts(path, result.width, result.height, image)
            for path, result, image in zip(paths, results, per_file, strict=True)
            if image is not None and not isinstance(result, BadInputError)
        ]
    return ChunkResult(len(paths), totals, rows)


def _shape(result: Any) -> tuple[int, int, str]:
    """Width, height and mode of a counted file (a DenseRow or a ValueHistogram)."""
    return (result.width, result.height, result.mode)


def _add_dense_rows(
    totals: Totals,
    dense: IntArray,
    shapes: list[tuple[int, int, str]],
    paths: list[str],
    spec: LabelSpec,
    keep_rows: bool = False,
) -> list[ImageCounts | None]:
    """Classify 8-bit rows at once (``dense[i, v]``: pixels of value ``v`` in file ``paths[i]``).

    Files holding unknown values become problems, described as a lone file would be.
    With ``keep_rows``, returns each file's counts (what :func:`classify` gives it; None
    for a problem); otherwise nothing (an empty list).
    """
    counts = classify_dense(dense, spec)
    keep = counts.unknown_pixels == 0
    for row in np.flatnonzero(~keep).tolist():
        image = classify(histogram_from_dense(dense[row], *shapes[row]), spec)
        totals.problems.append(FileProblem(paths[row], describe_unknown(image, spec)))
    totals.add_dense(counts, keep, shapes)
    return dense_images(counts, keep) if keep_rows else []


def dense_images(counts: DenseCounts, keep: npt.NDArray[np.bool_]) -> list[ImageCounts | None]:
    """Each image's :class:`ImageCounts` from ``counts`` (None where ``keep`` is False).

    The classes with pixels, in increasing order, as :func:`classify` gives them; cut from
    two flat arrays (a few numpy calls for the chunk, not per image).
    """
    present = counts.class_pixels > 0
    rows, columns = np.nonzero(present)
    ids = counts.class_ids[columns]
    pixels = counts.class_pixels[rows, columns]
    ends = np.cumsum(present.sum(axis=1)).tolist()
    totals, ignored = counts.total_pixels.tolist(), counts.ignored_pixels.tolist()
    no_values = np.zeros(0, dtype=np.int64)
    images: list[ImageCounts | None] = []
    start = 0
    for index, (end, kept) in enumerate(zip(ends, keep.tolist(), strict=True)):
        if kept:
            images.append(
                ImageCounts(ids[start:end], pixels[start:end], totals[index], ignored[index], no_values, 0)
            )
        else:
            images.append(None)
        start = end
    return images


def effective_jobs(jobs: int | None) -> int:
    """Number of workers for ``jobs``: None or -1 all usable cores, -2 all but one (joblib's convention).

    Cores are those this process may run on (CPU affinity, as containers and Slurm set it).
    """
    if jobs is not None and jobs > 0:
        return jobs
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores + 1 + (-1 if jobs is None else jobs))


def chunk_paths(paths: Sequence[str], workers: int) -> list[Sequence[str]]:
    """Split ``paths`` into contiguous chunks for ``workers``, in order, smaller toward the end.

    Equal chunks leave one worker idle at the end for up to a whole chunk (measured on
    2,975 Cityscapes-size masks in 16 chunks: the two threads ended 7-109 ms apart when
    outside load slowed one of them, 2-16 ms apart on a quiet machine). With
    guided sizes (OpenMP's ``schedule(guided)``) the last chunks are a few files each, so
    the workers end within about one small chunk of each other, while the first chunks
    stay large (few tasks, few decoder calls).
    """
    divisor = max(1, workers) * CHUNKS_PER_WORKER
    chunks: list[Sequence[str]] = []
    start = 0
    while start < len(paths):
        left = len(paths) - start
        size = max(MIN_CHUNK_FILES, min(MAX_CHUNK_FILES, math.ceil(left / divisor)))
        if left - size < MIN_CHUNK_FILES:
            size = left  # no last chunk of a file or two
        chunks.append(paths[start : start + size])
        start += size
    return chunks


# A task counts fetched remote files in batches of at most this many bytes or files, so
# that memory follows the batch, not the chunk (whatever the size of the objects).
FETCH_BATCH_BYTES = 32 << 20
FETCH_BATCH_FILES = 64


def _count_remote(
    paths: Sequence[str], spec: LabelSpec, options: ReadOptions, keep_rows: bool, fetch_options: Any
) -> ChunkResult:
    """Fetch a chunk's files with many requests in flight, counting them in batches as they come."""
    from segstats.sources.remote_fetch import fetch_many

    result = ChunkResult(len(paths), Totals(), [] if keep_rows else None)
    if spec.num_classes is not None:
        result.totals.ensure(spec.num_classes)
    batch: list[tuple[str, bytes]] = []
    held = 0

    def flush() -> None:
        if batch:
            part = count_chunk(
                [p for p, _ in batch], spec, options=options, items=[d for _, d in batch], keep_rows=keep_rows
            )
            result.totals.merge(part.totals)
            if result.rows is not None and part.rows is not None:
                result.rows.extend(part.rows)
            batch.clear()

    for url, data in fetch_many(paths, fetch_options):
        if isinstance(data, BadInputError):
            result.totals.problems.append(FileProblem(url, data.cause))
            continue
        batch.append((url, data))
        held += len(data)
        if held >= FETCH_BATCH_BYTES or len(batch) >= FETCH_BATCH_FILES:
            flush()
            held = 0
    flush()
    return result


def _chunk_task(
    paths: Sequence[str], spec: LabelSpec, options: ReadOptions, keep_rows: bool, fetch_options: Any
) -> ChunkResult:
    """One task: count a chunk with one decoder call (remote files: fetched first, concurrently)."""
    if any(is_remote(p) for p in paths):
        return _count_remote(paths, spec, options, keep_rows, fetch_options)
    return count_chunk(paths, spec, options=options, keep_rows=keep_rows)


def reduce_files(
    paths: Sequence[str],
    spec: LabelSpec,
    *,
    jobs: int | None = None,
    skip_errors: bool = False,
    options: ReadOptions = ReadOptions(),
    backend: str = "local",
    scheduler: str | None = None,
    progress: ProgressCallback | None = None,
    on_rows: Callable[[list[FileCounts]], None] | None = None,
    fetch_options: Any = None,
) -> Totals:
    """Count every file in ``paths`` and return the sums.

    Args:
        paths: label files in sorted order (chunks are contiguous slices).
        spec: how values become classes.
        jobs: worker threads (None: all cores). One job, or fewer than
            ``SERIAL_MAX_FILES`` files, runs serially in this thread.
        skip_errors: record bad files in ``Totals.problems`` and go on;
            otherwise the first bad file in sorted order raises BadInputError.
        options: how files are read (decoder, pixel limit, colours).
        backend: "local" (threads) or "dask" (a cluster; ``scheduler`` as in
            :func:`segstats.cluster.connect`).
        progress: called with the number of files of each chunk as it finishes.
        on_rows: called with each chunk's per-image counts, in sorted path order.
        fetch_options: how tasks fetch remote files (a
            :class:`segstats.sources.remote_fetch.FetchOptions`; None: from the environment).
    """
    if fetch_options is None and any(is_remote(p) for p in paths):
        from segstats.sources.remote_fetch import FetchOptions

        fetch_options = FetchOptions.from_env()
    if backend == "dask":
        from segstats.cluster import cluster_threads, connect

        client, owned = connect(scheduler, paths)
        try:
            executor = EXECUTORS.load("dask")(client=client)
            return _run(
                executor,
                chunk_paths(paths, cluster_threads(client)),
                spec,
                options,
                skip_errors,
                progress,
                on_rows,
                fetch_options,
            )
        finally:
            if owned:
                client.close()
    workers = 1 if len(paths) < SERIAL_MAX_FILES else effective_jobs(jobs)
    name = "serial" if workers == 1 else "threads"
    executor = EXECUTORS.load(name)(workers)
    return _run(
        executor, chunk_paths(paths, workers), spec, options, skip_errors, progress, on_rows, fetch_options
    )


def _run(
    executor: Any,
    chunks: list[Sequence[str]],
    spec: LabelSpec,
    options: ReadOptions,
    skip_errors: bool,
    progress: ProgressCallback | None,
    on_rows: Callable[[list[FileCounts]], None] | None,
    fetch_options: Any,
) -> Totals:
    """The reduce loop: sums as chunks finish, rows in order, the first bad file in sorted order."""
    totals = Totals()
    if spec.num_classes is not None:
        totals.ensure(spec.num_classes)
    keep_rows = on_rows is not None
    arguments = [(chunk, spec, options, keep_rows, fetch_options) for chunk in chunks]
    pending_rows: dict[int, list[FileCounts]] = {}
    next_rows = 0
    done: set[int] = set()
    first_bad: int | None = None  # lowest chunk holding a bad file
    bad: list[FileProblem] = []
    results = executor.run(_chunk_task, arguments)
    try:
        for index, result in results:
            done.add(index)
            if result.totals.problems and not skip_errors:
                first_bad = index if first_bad is None else min(first_bad, index)
                bad.extend(result.totals.problems)
            if first_bad is not None:
                if all(i in done for i in range(first_bad)):
                    break  # every chunk before the first bad one has reported
                continue
            totals.merge(result.totals)
            if keep_rows and result.rows is not None:
                pending_rows[index] = result.rows
                while next_rows in pending_rows:
                    on_rows(pending_rows.pop(next_rows))  # type: ignore[misc]
                    next_rows += 1
            if progress is not None:
                progress(result.files)
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    if first_bad is not None:
        first = min(bad, key=lambda p: p.path)
        raise BadInputError(first.path, first.error)
    return totals
