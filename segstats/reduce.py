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
import numpy.typing as npt

from segstats.decode import IntArray, ReadOptions, _from_dense, decode_histogram, read_bytes
from segstats.errors import BadInputError
from segstats.histogram import DenseCounts, ImageCounts, LabelSpec, classify, classify_dense, describe_unknown

# Below this many files the serial path wins: a worker pool costs ~0.3-0.5 s to start.
SERIAL_MAX_FILES = 64
# Files per chunk are capped so that progress moves and the work stays balanced.
MAX_CHUNK_FILES = 256
# Chunks per worker aimed for, so that a slow chunk does not leave a core idle.
CHUNKS_PER_WORKER = 8
# joblib backend of the parallel path: both decoders release the GIL while decoding, and
# threads start in milliseconds where loky workers take 1.5-5 s (imports, numba cache load).
DEFAULT_BACKEND = "threading"
# Bins of the per-chunk matrix that 8-bit PNGs read by the fast path are counted into.
DENSE_BINS = 256

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
            self._ensure(int(class_ids[-1]) + 1)
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


def _count_data(
    data: bytes, path: str, spec: LabelSpec, options: ReadOptions
) -> tuple[ImageCounts, str, str]:
    """Decode and classify the file ``path`` holding ``data``; unknown values raise BadInputError."""
    histogram = decode_histogram(data, path, options)
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
    """Sum the counts of ``paths``. A bad file stops the chunk unless ``skip_errors``.

    Unless the decoder is Pillow, 8-bit PNGs that the fast path reads are
    counted into one row each of a ``(files, 256)`` matrix that is classified
    once for the whole chunk (:func:`segstats.histogram.classify_dense`): per
    file, only reading and decoding remain, which release the GIL, so worker
    threads do not queue for it on small masks. Other files go one by one.
    The sums are the same either way.
    """
    totals = Totals()
    if spec.num_classes is not None:
        totals._ensure(spec.num_classes)
    dense: IntArray | None = None
    if options.decoder != "pillow":
        from segstats.fastpng import count_into

        dense = np.zeros((len(paths), DENSE_BINS), dtype=np.int64)
    rows: list[int] = []  # rows of ``dense`` holding a file's counts
    shapes: list[tuple[int, int, str]] = []
    for index, path in enumerate(paths):
        try:
            data = read_bytes(path)
            if dense is not None:
                shape = count_into(data, path, options.max_pixels, dense[index])
                if shape is not None:
                    rows.append(index)
                    shapes.append(shape)
                    continue
            image, size, mode = _count_data(data, path, spec, options)
        except BadInputError as exc:
            totals.problems.append(FileProblem(path, exc.cause))
            if not skip_errors:
                break
            continue
        totals.add_image(image, size, mode)
    if dense is not None and rows:
        _add_dense_rows(totals, dense[rows], [paths[i] for i in rows], shapes, spec)
    return totals


def _add_dense_rows(
    totals: Totals, dense: IntArray, paths: list[str], shapes: list[tuple[int, int, str]], spec: LabelSpec
) -> None:
    """Classify the rows of ``dense`` at once; files holding unknown values become problems."""
    counts = classify_dense(dense, spec)
    keep = counts.unknown_pixels == 0
    for row in np.flatnonzero(~keep).tolist():
        width, height, mode = shapes[row]
        image = classify(_from_dense(dense[row], width, height, mode), spec)
        totals.problems.append(FileProblem(paths[row], describe_unknown(image, spec)))
    totals.add_dense(counts, keep, shapes)


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
    parallel = Parallel(n_jobs=workers, backend=backend or DEFAULT_BACKEND, return_as="generator_unordered")
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
