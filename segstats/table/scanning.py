"""A scan that writes the per-image table as it goes, and its incremental form.

:class:`TableScan` sits between listing the files and counting them:

1. :meth:`TableScan.prepare` takes every file's fingerprint (local: ``os.stat``;
   remote: the fsspec listing of its folder) *at plan time*, before any file is
   read, so that a file changed while it is being read is read again next time;
   with ``incremental``, it compares them with the old table (a first pass over
   it, :func:`plan_incremental`) and decides which files to read.
2. :meth:`TableScan.run` calls the scan on the files to read with an ``on_rows``
   callback that writes each chunk's rows through :class:`TableWriter` as the
   chunk arrives, interleaving the reused old rows (a second pass over the old
   table) in sorted path order. Nothing holds the table in memory: the old
   rows, the new rows and the sums all stream.

The document of an incremental scan is the scan of the files read plus the sums
of the reused rows (the same integers a full scan gives), its errors those of
the files read (a skipped file has no row, so it is always read again), and its
``files_digest`` that of every file, read or reused. ``image_sizes`` come from
the rows; ``image_modes`` (the audit's, never in the document) only cover the
files read, since a row does not record its image's mode.

The scan itself is passed in (a callable), so this module does not depend on
:mod:`segstats.api`: ``run(lambda files, on_rows: scan(FilePlan(files, ...),
on_rows=on_rows, allow_empty=True, ...))``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from segstats.errors import SegstatsError
from segstats.stats import DatasetStats, file_list_digest, ordered_counts
from segstats.table.incremental import (
    Fingerprint,
    IncrementalPlan,
    fingerprint_from_info,
    label_options_key,
    local_fingerprint,
    plan_incremental,
    reused_rows,
)
from segstats.table.rows import ImageRow, row_from_counts, shown_path, sum_rows
from segstats.table.writer import TableWriter, read_table

if TYPE_CHECKING:
    from segstats.reduce import FileCounts

RowsCallback = Callable[[list["FileCounts"]], None]
# scan(files to read, on_rows, allow_empty) -> the DatasetStats of those files; allow_empty:
# K = 0 instead of refusing when no class pixel was found (other rows are added to it).
ScanFunction = Callable[[list[str], RowsCallback, bool], DatasetStats]
# Reused rows are summed in batches of this many (sum_rows per batch: K counters, not rows).
SUM_BATCH_ROWS = 4096


def table_label_options(
    num_classes: int | None,
    ignore_index: int | None,
    value_map: Any = None,
    colors: Any = None,
    grey_rgb: bool = False,
) -> str:
    """The ``label_options`` key of a scan's options (everything that changes a row).

    ``value_map`` and ``colors`` as the scan takes them (``load_value_map`` /
    ``load_colors``); they enter by content. ``grey_rgb`` is in it too: it decides
    whether an RGB mask gives a row or an error.
    """
    return label_options_key(
        {
            "num_classes": num_classes,
            "ignore_index": ignore_index,
            "map": value_map,
            "colors": [list(pair) for pair in colors] if colors is not None else None,
            "grey_rgb": bool(grey_rgb),
        }
    )


def _remote_fingerprints(files: Sequence[str]) -> dict[str, Fingerprint]:
    """Fingerprints of remote files from one ``ls(detail=True)`` per folder (no request per file).

    A folder that cannot be listed, or a file missing from its listing, gets no
    fingerprint: it is read, and its row is never reused.
    """
    from fsspec.core import url_to_fs

    by_folder: dict[str, list[str]] = {}
    for url in files:
        by_folder.setdefault(url.rsplit("/", 1)[0], []).append(url)
    found: dict[str, Fingerprint] = {}
    for folder, urls in by_folder.items():
        try:
            fs, inner = url_to_fs(folder)
            listing = fs.ls(inner, detail=True)
        except Exception:  # listing is an optimisation: any failure means "read it"
            continue
        infos = {fs.unstrip_protocol(entry["name"]): entry for entry in listing if isinstance(entry, dict)}
        for url in urls:
            info = infos.get(url)
            if info is not None:
                found[url] = fingerprint_from_info(info)
    return found


def fingerprints(files: Sequence[str]) -> Iterator[tuple[str, Fingerprint | None]]:
    """``(file, fingerprint)`` for each file, in order; None where none can be taken.

    Local files: size and mtime_ns from ``os.stat`` (a file that cannot be stat'ed
    gets None: reading it names the problem). Remote files: size and the mtime and/or
    ETag of the folder's fsspec listing.
    """
    from segstats.remote import is_remote

    remote = [path for path in files if is_remote(path)]
    known = _remote_fingerprints(remote) if remote else {}
    for path in files:
        if is_remote(path):
            yield path, known.get(path)
            continue
        try:
            yield path, local_fingerprint(path)
        except SegstatsError:
            yield path, None


# mtime_ns of a file without one, in the compact fingerprint arrays (a real one is never this).
NO_MTIME = np.iinfo(np.int64).min


class FingerprintArrays:
    """The fingerprints of a sorted file list, 16 bytes a file (numpy), ETags apart.

    A dict of Fingerprint objects would cost some 250 bytes a file: the largest thing a
    scan with ``--per-image`` held, growing with the number of files.
    """

    def __init__(self, pairs: Iterable[tuple[str, Fingerprint | None]], count: int) -> None:
        self.size = np.full(count, -1, dtype=np.int64)
        self.mtime_ns = np.full(count, NO_MTIME, dtype=np.int64)
        self.etag: dict[int, str] = {}
        for index, (_, fingerprint) in enumerate(pairs):
            if fingerprint is None:
                continue
            if fingerprint.size is not None:
                self.size[index] = fingerprint.size
            if fingerprint.mtime_ns is not None:
                self.mtime_ns[index] = fingerprint.mtime_ns
            if fingerprint.etag is not None:
                self.etag[index] = fingerprint.etag

    def __getitem__(self, index: int) -> Fingerprint:
        size, mtime_ns = int(self.size[index]), int(self.mtime_ns[index])
        return Fingerprint(
            size=size if size >= 0 else None,
            mtime_ns=mtime_ns if mtime_ns != NO_MTIME else None,
            etag=self.etag.get(index),
        )


@dataclass
class TableScan:
    """A scan writing the per-image table ``path`` (optionally reusing its old rows).

    Build it with :meth:`prepare`; ``to_read`` are the files to count, then :meth:`run`.

    Attributes:
        path: the table.
        label_options: the key stamped on every row.
        files: every listed file, in the table's order (sorted by the path as shown).
        to_read: the files to read (all of ``files`` unless rows are reused).
        reused: rows kept from the old table.
        dropped: old rows whose file is no longer listed.
        note: why nothing was reused although ``incremental`` was asked, or None.
    """

    path: str
    label_options: str
    files: list[str]
    to_read: list[str]
    incremental: bool = False
    plan: IncrementalPlan | None = None
    note: str | None = None
    # Call the scan even with nothing to read (it reports files skipped before reading).
    scan_empty: bool = False
    _prints: FingerprintArrays | None = field(default=None, repr=False)
    # Index in ``files`` of each file of ``to_read`` (rows come in that order).
    _read_index: Any = field(default=None, repr=False)

    @property
    def reused(self) -> int:
        return len(self.plan.reuse) if self.plan is not None else 0

    @property
    def dropped(self) -> int:
        return self.plan.dropped if self.plan is not None else 0

    @classmethod
    def prepare(
        cls, path: str, files: Sequence[str], label_options: str, *, incremental: bool = False
    ) -> TableScan:
        """Fingerprint ``files`` (before any is read) and, with ``incremental``, plan the reuse.

        Raises:
            UsageError: an unknown table suffix or a missing pyarrow (checked first).
            BadInputError: the old table cannot be read.
        """
        from segstats.table.formats import table_format_for

        table_format_for(path)
        # The table's order is the shown path's; sorting by it makes rows come in that order
        # whatever order the files were listed in (a --files-from list, undecodable names).
        ordered = sorted(files, key=shown_path)
        prints = FingerprintArrays(fingerprints(ordered), len(ordered))
        every = np.arange(len(ordered), dtype=np.int64)
        scan = cls(path, label_options, ordered, ordered, incremental, _prints=prints, _read_index=every)
        if not incremental:
            return scan
        if not os.path.exists(path):
            scan.note = f"{path} does not exist yet: reading every file"
            return scan
        current = ((name, prints[index]) for index, name in enumerate(ordered))
        plan = plan_incremental(read_table(path), current, label_options)
        if plan.full_rescan is not None:
            scan.note = f"{path}: {plan.full_rescan}; reading every file"
            return scan
        scan.plan = plan
        scan.to_read = plan.to_read  # in the order given: sorted
        scan._read_index = np.array(
            [index for index, name in enumerate(ordered) if shown_path(name) not in plan.reuse],
            dtype=np.int64,
        )
        return scan

    def _row(self, counted: FileCounts, fingerprint: Fingerprint) -> ImageRow:
        return row_from_counts(
            counted.path,
            counted.counts,
            counted.width,
            counted.height,
            size=fingerprint.size,
            mtime_ns=fingerprint.mtime_ns,
            etag=fingerprint.etag,
            label_options=self.label_options,
        )

    def run(
        self,
        scan: ScanFunction,
        num_classes: int | None = None,
        ignore_index: int | None = None,
        class_names: list[str] | None = None,
        *,
        check: Callable[[DatasetStats], None] | None = None,
    ) -> DatasetStats:
        """Scan ``to_read``, writing the table; the document of all files (read and reused).

        ``num_classes``, ``ignore_index``, ``class_names``: the scan's (K None: inferred
        from all rows). ``check`` may refuse the document (raise) before the table is
        renamed over ``path``, which happens only when everything succeeded.

        Raises:
            SegstatsError: no class pixel in any file and K not given (as a full scan).
        """
        old: Iterator[ImageRow] = iter(())
        if self.plan is not None:
            old = reused_rows(read_table(self.path), self.plan)
        pending: list[ImageRow] = []  # the next reused row, peeked (at most one)
        reused_sums = _RunningSums()

        with TableWriter(self.path, num_classes, label_options=self.label_options) as table:

            def write_reused_before(shown: str | None) -> None:
                """Write the reused rows whose path comes before ``shown`` (all when None)."""
                while True:
                    row = pending.pop() if pending else next(old, None)
                    if row is None:
                        return
                    if shown is not None and row.shown_path > shown:
                        pending.append(row)
                        return
                    table.write(row)
                    reused_sums.add(row)

            cursor = [0]  # position in to_read: rows come in its order (skipped files have none)

            def on_rows(chunk: list[FileCounts]) -> None:
                for counted in chunk:
                    while self.to_read[cursor[0]] != counted.path:
                        cursor[0] += 1
                    position = int(self._read_index[cursor[0]])
                    cursor[0] += 1
                    if self._prints is None or self.files[position] != counted.path:
                        raise RuntimeError(f"{counted.path}: a row the scan was not asked for")
                    row = self._row(counted, self._prints[position])
                    write_reused_before(row.shown_path)
                    table.write(row)

            wanted = bool(self.to_read) or self.scan_empty
            read = scan(self.to_read, on_rows, self.plan is not None) if wanted else None
            write_reused_before(None)
            stats = self._document(read, reused_sums, num_classes, ignore_index, class_names)
            if check is not None:
                check(stats)
            table.num_classes = stats.num_classes
        return stats

    def _document(
        self,
        read: DatasetStats | None,
        reused: _RunningSums,
        num_classes: int | None,
        ignore_index: int | None,
        class_names: list[str] | None,
    ) -> DatasetStats:
        if self.plan is None and read is not None:
            return read  # a full scan: its own document
        k_read = read.num_classes if read is not None else 0
        k = num_classes if num_classes is not None else max(k_read, reused.top)
        if k == 0:
            _refuse_no_pixels(read)
        sums = reused.document(k)
        arrays = {}
        for name in ("pixel_counts", "image_counts", "image_pixels"):
            total = np.asarray(sums[name], dtype=np.int64)
            if read is not None:
                total[:k_read] += getattr(read, name)
            arrays[name] = total
        sizes = dict(reused.sizes)
        for key, value in (read.image_sizes if read is not None else {}).items():
            sizes[key] = sizes.get(key, 0) + value
        return DatasetStats(
            num_classes=k,
            ignore_index=ignore_index,
            num_images=sums["num_images"] + (read.num_images if read is not None else 0),
            total_pixels=sums["total_pixels"] + (read.total_pixels if read is not None else 0),
            ignored_pixels=sums["ignored_pixels"] + (read.ignored_pixels if read is not None else 0),
            class_names=class_names,
            errors=read.errors if read is not None else [],
            image_sizes=ordered_counts(sizes),
            image_modes=read.image_modes if read is not None else {},
            files_digest=file_list_digest(self.files),
            **arrays,
        )


def _refuse_no_pixels(read: DatasetStats | None) -> None:
    """What a full scan says when K cannot be inferred."""
    if read is None or read.num_images == 0:
        raise SegstatsError("no label image could be read (every file was skipped)")
    raise SegstatsError(
        "no class pixels found, so the number of classes cannot be inferred; pass --num-classes"
    )


class _RunningSums:
    """The document's sums over rows added one at a time (memory: K counters, not the rows)."""

    def __init__(self) -> None:
        self.top = 0
        self.sizes: dict[str, int] = {}
        self._sums = sum_rows(())
        self._batch: list[ImageRow] = []

    def add(self, row: ImageRow) -> None:
        self._batch.append(row)
        if row.class_ids.size:
            self.top = max(self.top, int(row.class_ids[-1]) + 1)
        key = f"{row.width}x{row.height}"
        self.sizes[key] = self.sizes.get(key, 0) + 1
        if len(self._batch) >= SUM_BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        part = sum_rows(self._batch)
        self._batch.clear()
        self._sums = _add_sums(self._sums, part)

    def document(self, k: int) -> dict[str, Any]:
        self._flush()
        sums = dict(self._sums)
        for name in ("pixel_counts", "image_counts", "image_pixels"):
            values = list(sums[name])
            sums[name] = values + [0] * (k - len(values))
        return sums


def _add_sums(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("num_images", "total_pixels", "ignored_pixels"):
        out[name] = a[name] + b[name]
    for name in ("pixel_counts", "image_counts", "image_pixels"):
        x, y = list(a[name]), list(b[name])
        size = max(len(x), len(y))
        x += [0] * (size - len(x))
        y += [0] * (size - len(y))
        out[name] = [p + q for p, q in zip(x, y, strict=True)]
    out["num_classes"] = max(a["num_classes"], b["num_classes"])
    return out


def merge_tables(sources: Sequence[str], output: str) -> int:
    """Merge per-image tables (shards) into ``output``, in sorted path order; the rows written.

    The tables must have been written with the same label options and cover
    disjoint files. Each is read twice, streaming (once to check the options, once
    to merge), never held in memory.

    Raises:
        BadInputError: a table that cannot be read, that holds other label options than
            the first, or a path that two tables (or one, twice) hold, naming both.
        UsageError: an unknown suffix or a missing pyarrow (before anything is read).
    """
    import heapq

    from segstats.errors import BadInputError
    from segstats.table.formats import table_format_for

    for name in [*sources, output]:
        table_format_for(name)
    key: str | None = None
    owner = ""
    for name in sources:
        first = next(read_table(name), None)
        if first is None:
            continue
        if not owner:
            key, owner = first.label_options, name
        elif first.label_options != key:
            raise BadInputError(name, f"rows counted with other label options than {owner}; scan them alike")

    def tagged(index: int) -> Iterator[tuple[str, int, ImageRow]]:
        for row in read_table(sources[index]):
            yield row.shown_path, index, row

    streams = [tagged(i) for i in range(len(sources))]
    last: tuple[str, int] | None = None
    with TableWriter(output, label_options=key) as table:
        for shown, index, row in heapq.merge(*streams, key=lambda item: item[0]):
            if last is not None and shown < last[0]:
                raise BadInputError(sources[index], f"not in sorted path order ({shown} after {last[0]})")
            if last is not None and shown == last[0]:
                where = "twice in it" if last[1] == index else f"also in {sources[last[1]]}"
                raise BadInputError(sources[index], f"{shown} is {where}: a file counted twice")
            table.write(row)
            last = (shown, index)
        return table.rows_written
