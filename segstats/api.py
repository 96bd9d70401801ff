"""The Python API the CLI is a thin layer over: which files to read, and scanning them.

:func:`plan_files` turns paths (and ``--shard``) into the sorted list of files to
read; :func:`scan` reads them into DatasetStats. The CLI calls both, so discovery,
sharding and option checks live here only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any, NamedTuple

import numpy as np

from segstats.cluster import check_backend
from segstats.decoders import DEFAULT_MAX_PIXELS, Decoder, ReadOptions
from segstats.discover import discover
from segstats.errors import NoFilesError, SegstatsError, UsageError, display_path
from segstats.histogram import LabelSpec
from segstats.labels import check_targets, colour_table, value_map_from
from segstats.reduce import FileCounts, ProgressCallback, reduce_files
from segstats.remote import is_remote
from segstats.shard import parse_shard, select_shard
from segstats.stats import DatasetStats, file_list_digest, ordered_counts

PathsArg = Sequence[str | os.PathLike[str]] | str | os.PathLike[str]


class FilePlan(NamedTuple):
    """The label files a scan reads, and how they were chosen (for messages).

    Attributes:
        files: the files to read (sorted, unless given unsorted as ``files``).
        found: how many files the paths named before ``--shard`` kept some of.
        shard: ``(I, N)`` of ``--shard I/N``, or None.
        skipped: ``(path, error)`` of the listed files (``files_from``) that do not
            exist, left out with ``skip_errors``; :func:`scan` reports them under
            ``errors``. Sharded like the files, so each is reported by one shard.
    """

    files: list[str]
    found: int
    shard: tuple[int, int] | None = None
    skipped: tuple[tuple[str, str], ...] = ()


def plan_files(
    paths: PathsArg,
    files: Sequence[str] | None = None,
    shard: str | tuple[int, int] | None = None,
    *,
    files_from: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    template: str | None = None,
    skip_errors: bool = False,
    stdin: IO[str] | IO[bytes] | None = None,
) -> FilePlan:
    """The files a scan of ``paths`` reads: discovery, the list file, then ``--shard``.

    Args:
        paths: label files, directories (searched recursively for ``*.png``) or globs;
            may be empty when ``files_from`` names the files.
        files: the already-discovered file list (skips discovery of ``paths``).
        shard: ``"I/N"`` or ``(I, N)``: keep files ``I, I+N, I+2N, ...`` of the sorted
            list (``segstats.shard``).
        files_from: a list file (``"-"``: ``stdin``) whose files are added to those of
            ``paths`` (``segstats.sources.lists``). A file named both by ``paths`` and
            by the list is read once (as when two paths overlap), under the spelling
            of ``paths``; a file listed twice in the list is an error.
        root, template: how list entries become paths (``--root``, ``--template``).
        skip_errors: a listed file that does not exist is left out and recorded in
            ``FilePlan.skipped`` instead of being an error.
        stdin: the stream read for ``files_from="-"`` (default ``sys.stdin``).

    Raises:
        UsageError: a malformed ``shard`` (checked before anything is listed);
            ``root`` or ``template`` without ``files_from``.
        BadInputError, NoFilesError: a path that names nothing, a bad list file or
            entry (naming the list file and the line); no label files at all.

    Example::

        plan_files("sample_masks", shard="0/4").files  # every 4th file, from the first
        plan_files([], files_from="VOC2012/ImageSets/Segmentation/train.txt",
                   root="VOC2012", template="SegmentationClass/{}.png")
    """
    shard_of = parse_shard(shard) if shard is not None else None
    if files_from is None and (root is not None or template is not None):
        raise UsageError("--root and --template apply to the entries of --files-from FILE")
    given = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if files is not None:
        found = list(files)
    elif given or files_from is None:
        found = discover(given)
    else:
        found = []
    missing: dict[str, str] = {}
    if files_from is not None:
        found = _add_listed(found, files_from, root, template, skip_errors, stdin, missing)
    every = found if not missing else sorted([*found, *missing])
    kept = every if shard_of is None else select_shard(every, *shard_of)
    skipped = tuple((path, missing[path]) for path in kept if path in missing)
    if skipped:
        kept = [path for path in kept if path not in missing]
    return FilePlan(kept, len(every), shard_of, skipped)


def _add_listed(
    found: list[str],
    files_from: str | os.PathLike[str],
    root: str | os.PathLike[str] | None,
    template: str | None,
    skip_errors: bool,
    stdin: IO[str] | IO[bytes] | None,
    missing: dict[str, str],
) -> list[str]:
    """``found`` plus the files of the list (sorted, each once); missing ones go to ``missing``."""
    from segstats.sources.lists import STDIN, STDIN_NAME, read_file_list

    def on_missing(path: str, error: str) -> None:
        missing[path] = error

    listed = read_file_list(
        files_from, root, template, stdin=stdin, on_missing=on_missing if skip_errors else None
    )
    # The list's paths are normalised; a PATH's are as discovered (``./a/b.png``): compare
    # both normalised, so one file is read once whichever way it was named.
    named = {_same_file_key(path) for path in found}
    added = [path for path in listed if _same_file_key(path) not in named]
    if not found and not added and not missing:
        name = STDIN_NAME if os.fspath(files_from) == STDIN else os.fspath(files_from)
        raise NoFilesError(f"{name}: lists no label files (--files-from)")
    return sorted([*found, *added]) if added else found


def _same_file_key(path: str) -> str:
    return path if is_remote(path) else os.path.normpath(path)


def fetch_options(fetch: Mapping[str, Any] | None) -> Any:
    """The :class:`~segstats.sources.remote_fetch.FetchOptions` of a scan (options, then environment)."""
    from segstats.sources.fetch_options import parse_size
    from segstats.sources.remote_fetch import FetchOptions

    given = dict(fetch or {})
    unknown = sorted(set(given) - {"concurrency", "max_bytes_in_flight", "retries", "timeout"})
    if unknown:
        raise UsageError(f"unknown fetch option(s) {', '.join(unknown)}")
    try:
        size = given.get("max_bytes_in_flight")
        if isinstance(size, str):
            given["max_bytes_in_flight"] = parse_size(size)
        return FetchOptions.from_env(**{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise UsageError(f"fetch options: {exc}") from None


def scan(
    paths: PathsArg | FilePlan,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    jobs: int | None = None,
    *,
    skip_errors: bool = False,
    value_map: Mapping[int, int] | None = None,
    class_names: Sequence[str] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    decoder: Decoder = "auto",
    progress: ProgressCallback | None = None,
    files: Sequence[str] | None = None,
    colors: Mapping[Any, int] | Iterable[tuple[Any, int]] | None = None,
    grey_rgb: bool = False,
    backend: str = "local",
    scheduler: str | None = None,
    shard: str | tuple[int, int] | None = None,
    fetch: Mapping[str, Any] | None = None,
    on_rows: Callable[[list[FileCounts]], None] | None = None,
    allow_empty: bool = False,
) -> DatasetStats:
    """Count every class in the label images under ``paths``, exactly.

    Args:
        paths: label files, directories (searched recursively for ``*.png``) or globs;
            or a :class:`FilePlan` from :func:`plan_files` (then ``files`` and ``shard``
            must not be given: the plan already applied them).
        num_classes: K; None infers it as the largest class value seen plus one.
        ignore_index: value of ignored (void) pixels, or None.
        jobs: parallel workers (threads); None uses every core. Results never depend on it.
        skip_errors: skip unreadable files and files with unknown values, listing
            them in ``DatasetStats.errors``, instead of raising.
        value_map: raw value -> class mapping applied before counting (e.g.
            Cityscapes labelId -> trainId); raw values missing from it are unknown.
        class_names: optional K class names stored in the result; without
            ``num_classes``, K is the number of names.
        max_pixels: refuse images with more pixels (default: Pillow's limit).
        decoder: "auto", "fast" or "pillow" (:class:`segstats.decoders.Decoder`).
        progress: called with the number of files finished, as they finish.
        files: the already-discovered file list (skips discovery of ``paths``).
        colors: colour -> class for RGB/RGBA masks, keyed by ``(r, g, b)``, ``"r,g,b"``,
            ``"#rrggbb"`` or a packed ``r << 16 | g << 8 | b`` int (alpha is ignored);
            unmapped colours are unknown. Colour ids then go through ``value_map``.
        grey_rgb: read RGB/RGBA masks whose bands are all equal as grey (R = G = B is
            the value); a pixel whose bands differ is an error naming it.
        fetch: remote files: ``concurrency`` (requests in flight per worker),
            ``max_bytes_in_flight`` (an int or "64M"), ``retries``; unset ones come
            from ``SEGSTATS_FETCH_*`` or the defaults (``segstats.sources.remote_fetch``).
        on_rows: called with the per-image counts (:class:`segstats.reduce.FileCounts`)
            of the files read, a chunk at a time, in sorted path order (files skipped
            with ``skip_errors`` have none); the per-image table is written from it.
        allow_empty: without ``num_classes``, return K = 0 (and no files: an empty
            document) instead of refusing a scan that found no class pixel; for callers
            that add other counts to it (incremental scans add the reused rows).
        backend: "local" (this machine; ``jobs`` threads) or "dask" (a Dask
            cluster through joblib's Dask backend; see ``segstats.cluster``).
        scheduler: Dask scheduler address, e.g. ``tcp://host:8786`` (backend
            "dask" only; default: ``$SEGSTATS_SCHEDULER`` or the default client).
        shard: ``"I/N"`` or ``(I, N)``: count only files ``I, I+N, I+2N, ...`` of
            the sorted list (``segstats.shard``); merge the N documents afterwards.

    Returns:
        DatasetStats with exact integer counts.

    Raises:
        BadInputError: a bad file (unless ``skip_errors``) or no usable image.
        UsageError: invalid options.

    Example::

        stats = scan("sample_masks", num_classes=3)
        stats.pixel_counts  # array([523502, 239805, 4693])
    """
    if num_classes is not None and num_classes < 1:
        raise UsageError(f"--num-classes must be at least 1, got {num_classes}")
    if jobs == 0:
        raise UsageError("--jobs must not be 0 (use -1 or omit it for all cores)")
    if num_classes is None and class_names is not None:
        num_classes = len(class_names)
    if class_names is not None and len(class_names) != num_classes:
        raise UsageError(f"{len(class_names)} class names given for {num_classes} classes")
    table = colour_table(colors, "--colors") if colors is not None else None
    mapping = value_map_from(value_map, "--map") if value_map is not None else None
    if mapping is not None:
        check_targets(mapping.values(), num_classes, ignore_index, "--map")
    elif table is not None:
        check_targets((c for _, c in table), num_classes, ignore_index, "--colors")
    check_backend(backend, scheduler, jobs)
    if isinstance(paths, FilePlan):
        if files is not None or shard is not None:
            raise ValueError("scan(FilePlan): give files= and shard= to plan_files, not to scan")
        plan = paths
    else:
        plan = plan_files(paths, files, shard)
    label_files = plan.files
    if plan.shard is not None and not label_files and num_classes is None and not allow_empty:
        raise UsageError(
            f"shard {plan.shard[0]}/{plan.shard[1]} holds no files; pass --num-classes so that "
            "an empty shard still gives a document to merge"
        )
    spec = LabelSpec(num_classes, ignore_index, mapping)
    totals = reduce_files(
        label_files,
        spec,
        jobs=jobs,
        skip_errors=skip_errors,
        options=ReadOptions(decoder=decoder, max_pixels=max_pixels, colors=table, grey_rgb=grey_rgb),
        progress=progress,
        backend=backend,
        scheduler=scheduler,
        fetch_options=fetch_options(fetch) if any(is_remote(p) for p in label_files) else None,
        on_rows=on_rows,
    )
    if num_classes is None:
        seen = np.flatnonzero(totals.pixel_counts)
        if seen.size == 0 and not allow_empty:
            if totals.num_images == 0 and totals.problems:
                first = min(totals.problems, key=lambda p: p.path)
                raise SegstatsError(
                    f"no label image could be read: all {len(totals.problems)} files were skipped "
                    f"(the first: {display_path(first.path)}: {first.error})"
                )
            if totals.num_images == 0:
                raise SegstatsError("no label image could be read (every file was skipped)")
            raise SegstatsError(
                "no class pixels found, so the number of classes cannot be inferred; pass --num-classes"
            )
        num_classes = int(seen[-1]) + 1 if seen.size else 0
    k = num_classes
    if class_names is not None and len(class_names) != k:
        raise UsageError(f"{len(class_names)} class names given for {k} classes")
    return DatasetStats(
        num_classes=k,
        ignore_index=ignore_index,
        num_images=totals.num_images,
        total_pixels=totals.total_pixels,
        ignored_pixels=totals.ignored_pixels,
        pixel_counts=totals.pixel_counts[:k],
        image_counts=totals.image_counts[:k],
        image_pixels=totals.image_pixels[:k],
        class_names=list(class_names) if class_names is not None else None,
        errors=[
            {"path": display_path(path), "error": error}
            for path, error in sorted([*((p.path, p.error) for p in totals.problems), *plan.skipped])
        ],
        image_sizes=ordered_counts(totals.sizes),
        image_modes=ordered_counts(totals.modes),
        files_digest=file_list_digest(label_files),
    )
