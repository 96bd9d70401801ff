"""Many label files -> summed counts, serially or in parallel with joblib.

Workers read a chunk of files and return one :class:`Totals` per chunk (sums,
never per-file arrays), so memory does not grow with the number of files and
the result does not depend on the number of workers or the order of chunks.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from segstats.decode import IntArray, ReadOptions, read_value_histogram
from segstats.errors import BadInputError
from segstats.histogram import ImageCounts, LabelSpec, classify, describe_unknown

# Below this many files the serial path wins: a worker pool costs ~0.3-0.5 s to start.
SERIAL_MAX_FILES = 64
# Files per chunk are capped so that progress moves and the work stays balanced.
MAX_CHUNK_FILES = 256
# Chunks per worker aimed for, so that a slow chunk does not leave a core idle.
CHUNKS_PER_WORKER = 8
# joblib backend of the parallel path: both decoders release the GIL while decoding, and
# threads start in milliseconds where loky workers take 1.5-5 s (imports, numba cache load).
DEFAULT_BACKEND = "threading"

ProgressCallback = Callable[[int], None]


@dataclass
class FileProblem:
    """A file that could not be counted, and why (one line)."""

    path: str
    error: str


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

    def _ensure(self, size: int) -> None:
        self.pixel_counts = _grow(self.pixel_counts, size)
        self.image_counts = _grow(self.image_counts, size)
        self.image_pixels = _grow(self.image_pixels, size)

    def add_image(self, image: ImageCounts, size: str, mode: str) -> None:
        if image.class_ids.size:
            self._ensure(int(image.class_ids[-1]) + 1)
            self.pixel_counts[image.class_ids] += image.class_pixels
            self.image_counts[image.class_ids] += 1
            self.image_pixels[image.class_ids] += image.labelled_pixels
        self.num_images += 1
        self.total_pixels += image.total_pixels
        self.ignored_pixels += image.ignored_pixels
        self.sizes[size] += 1
        self.modes[mode] += 1

    def merge(self, other: Totals) -> None:
        size = max(self.pixel_counts.size, other.pixel_counts.size)
        self._ensure(size)
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


def count_file(path: str, spec: LabelSpec, options: ReadOptions) -> tuple[ImageCounts, str, str]:
    """Decode and classify one file; unknown values raise BadInputError."""
    histogram = read_value_histogram(path, options)
    image = classify(histogram, spec)
    if image.unknown_pixels:
        raise BadInputError(path, describe_unknown(image, spec))
    return image, f"{histogram.width}x{histogram.height}", histogram.mode


def count_chunk(
    paths: Sequence[str],
    spec: LabelSpec,
    skip_errors: bool = False,
    options: ReadOptions = ReadOptions(),
) -> Totals:
    """Sum the counts of ``paths``. A bad file stops the chunk unless ``skip_errors``."""
    totals = Totals()
    if spec.num_classes is not None:
        totals._ensure(spec.num_classes)
    for path in paths:
        try:
            image, size, mode = count_file(path, spec, options)
        except BadInputError as exc:
            totals.problems.append(FileProblem(path, exc.cause))
            if not skip_errors:
                break
            continue
        totals.add_image(image, size, mode)
    return totals


def effective_jobs(jobs: int | None) -> int:
    """Number of workers for ``jobs`` (None or -1: all cores; joblib's convention)."""
    if jobs is not None and jobs > 0:
        return jobs
    from joblib import effective_n_jobs

    return int(effective_n_jobs(-1 if jobs is None else jobs))


def chunk_paths(paths: Sequence[str], workers: int) -> list[Sequence[str]]:
    """Split ``paths`` into contiguous chunks sized for ``workers``."""
    size = math.ceil(len(paths) / (workers * CHUNKS_PER_WORKER)) if paths else 1
    size = max(1, min(MAX_CHUNK_FILES, size))
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def _raise_first(problems: list[FileProblem]) -> None:
    first = min(problems, key=lambda p: p.path)
    raise BadInputError(first.path, first.error)


def reduce_files(
    paths: Sequence[str],
    spec: LabelSpec,
    *,
    jobs: int | None = None,
    skip_errors: bool = False,
    options: ReadOptions = ReadOptions(),
    backend: str | None = None,
    progress: ProgressCallback | None = None,
    scheduler: str | None = None,
) -> Totals:
    """Count every file in ``paths`` and return the sums.

    Args:
        paths: label files, in any order (the result does not depend on it).
        spec: how values become classes.
        jobs: worker processes (None: all cores). One job, or fewer than
            ``SERIAL_MAX_FILES`` files, runs serially in this process.
        options: how files are read (decoder, pixel limit).
        backend: joblib backend for the parallel path (None: ``DEFAULT_BACKEND``, threads);
            "dask" sends every chunk to a Dask cluster (:mod:`segstats.cluster`).
        scheduler: Dask scheduler address for backend "dask".
        skip_errors: record bad files in ``Totals.problems`` and go on; otherwise
            the first bad file raises :class:`BadInputError`.
        progress: called with the number of files just finished.
    """
    if backend == "dask":
        from segstats.cluster import reduce_on_dask

        return reduce_on_dask(
            paths, spec, scheduler=scheduler, skip_errors=skip_errors, options=options, progress=progress
        )
    workers = 1 if len(paths) < SERIAL_MAX_FILES else effective_jobs(jobs)
    if options.decoder == "auto":  # the fast PNG path only where loading numba pays off
        from dataclasses import replace

        from segstats.fastpng import choose_decoder

        options = replace(options, decoder=choose_decoder(paths, options.decoder))
    totals = Totals()
    if spec.num_classes is not None:
        totals._ensure(spec.num_classes)
    if workers == 1:
        chunks = chunk_paths(paths, 1)
        results: Iterator[tuple[int, Totals]] = (
            (len(c), count_chunk(c, spec, skip_errors, options)) for c in chunks
        )
        _consume(results, totals, skip_errors, progress)
        return totals

    from joblib import Parallel, delayed

    chunks = chunk_paths(paths, workers)
    parallel = Parallel(
        n_jobs=workers, backend=backend or DEFAULT_BACKEND, return_as="generator_unordered"
    )
    generator = parallel(delayed(_sized_chunk)(c, spec, skip_errors, options) for c in chunks)
    try:
        _consume(generator, totals, skip_errors, progress)
    finally:
        close = getattr(generator, "close", None)
        if close is not None:
            close()
    return totals


def _sized_chunk(
    paths: Sequence[str], spec: LabelSpec, skip_errors: bool, options: ReadOptions
) -> tuple[int, Totals]:
    return len(paths), count_chunk(paths, spec, skip_errors, options)


def _consume(
    results: Iterator[tuple[int, Totals]],
    totals: Totals,
    skip_errors: bool,
    progress: ProgressCallback | None,
) -> None:
    for done, chunk_totals in results:
        if chunk_totals.problems and not skip_errors:
            _raise_first(chunk_totals.problems)
        totals.merge(chunk_totals)
        if progress is not None:
            progress(done)
