"""Incremental scans (``--per-image FILE --incremental``): which rows of an old table still hold.

A row is reused when its file is still listed, its fingerprint is unchanged and
the table was written with the same label options; every other listed file is
read again, and rows of files no longer listed are dropped. The fingerprint is
what the filesystem gives cheaply:

- local files: size and modification time in nanoseconds (``os.stat``);
- remote files (fsspec ``info``): size, plus the ETag and/or the modification
  time where the backend reports them (s3 ``ETag``/``LastModified``, gcs
  ``etag``/``updated``, http ``ETag``, local ``mtime``, memory ``created``).

Two fingerprints match when the sizes are equal and known, and every other field
known on both sides is equal, with at least one of them (mtime or ETag) known on
both sides; anything less certain is read again. As with ``make``, a file
rewritten with the same size within one tick of the filesystem's clock looks
unchanged: take the fingerprint *before* reading a file, so that a file changed
while it was read is read again next time.

Everything streams: the plan keeps the set of reused paths (no rows), and
:func:`merged_rows` interleaves the reused rows (a second pass over the old
table) with the freshly read ones, both in sorted path order, into the writer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from segstats.errors import BadInputError
from segstats.table.rows import ImageRow, shown_path

# fsspec info keys holding a modification time, most specific first.
MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")
# fsspec info keys holding an ETag (or a content hash that changes with the content).
ETAG_KEYS = ("ETag", "etag", "e_tag", "md5Hash")
# Hex digits of the label-options digest stored in every row.
KEY_DIGITS = 16


@dataclass(frozen=True)
class Fingerprint:
    """What tells whether a file changed: its size, and its mtime (ns) and/or ETag."""

    size: int | None
    mtime_ns: int | None = None
    etag: str | None = None

    def matches(self, other: Fingerprint) -> bool:
        """True only when both say, for sure, that the file is the same."""
        if self.size is None or self.size != other.size:
            return False
        compared = False
        for mine, theirs in ((self.mtime_ns, other.mtime_ns), (self.etag, other.etag)):
            if mine is not None and theirs is not None:
                if mine != theirs:
                    return False
                compared = True
        return compared


def local_fingerprint(path: str) -> Fingerprint:
    """Size and mtime (ns) of a local file, following symlinks.

    Raises:
        BadInputError: the file cannot be stat'ed.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise BadInputError(path, f"cannot read ({exc.strerror or exc})") from None
    return Fingerprint(size=st.st_size, mtime_ns=st.st_mtime_ns)


def _time_ns(value: Any) -> int | None:
    """A modification time in any of fsspec's spellings as integer nanoseconds since the epoch."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 1_000_000_000
    if isinstance(value, float):
        return round(value * 1e9)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        stamp: dt.datetime = value
        if stamp.tzinfo is None:  # naive stamps from object stores are UTC
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        delta = stamp - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return None


def fingerprint_from_info(info: Mapping[str, Any]) -> Fingerprint:
    """The fingerprint of a remote file from its fsspec ``info`` (or ``find(detail=True)``) entry."""
    size = info.get("size")
    mtime_ns = next((t for t in (_time_ns(info.get(k)) for k in MTIME_KEYS) if t is not None), None)
    etag = next((str(info[k]) for k in ETAG_KEYS if info.get(k) not in (None, "")), None)
    return Fingerprint(
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        mtime_ns=mtime_ns,
        etag=etag,
    )


def row_fingerprint(row: ImageRow) -> Fingerprint:
    return Fingerprint(size=row.size, mtime_ns=row.mtime_ns, etag=row.etag)


def _canonical(value: Any) -> Any:
    """JSON-able and order-free: mappings become sorted ``[key, value]`` pairs."""
    if isinstance(value, Mapping):
        return sorted([repr(k) if not isinstance(k, str) else k, _canonical(v)] for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_canonical(v) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def label_options_key(options: Mapping[str, Any]) -> str:
    """A short digest of the label options rows are counted with.

    Pass every option that changes a row: ``{"num_classes": K or None,
    "ignore_index": I or None, "map": value map or None, "colors": colour table or
    None}``. Equal options give equal keys whatever the order of keys; the
    ``--map`` and ``--colors`` tables enter by content, not by file name.
    """
    text = json.dumps(_canonical(dict(options)), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_DIGITS]


@dataclass
class IncrementalPlan:
    """Which listed files to read, and which rows of the old table to keep.

    Attributes:
        reuse: paths (as the table names them) whose old rows are kept.
        to_read: listed files to read, in the order given.
        dropped: rows of the old table whose file is no longer listed.
        changed: listed files that had a row whose fingerprint no longer matches.
        full_rescan: why nothing is reused (None when rows were compared).
    """

    reuse: set[str] = field(default_factory=set)
    to_read: list[str] = field(default_factory=list)
    dropped: int = 0
    changed: int = 0
    full_rescan: str | None = None


def plan_incremental(
    old_rows: Iterable[ImageRow],
    current: Iterable[tuple[str, Fingerprint | None]],
    label_options: str | None,
) -> IncrementalPlan:
    """Compare an old table with the files listed now.

    Args:
        old_rows: the old table (``read_table(FILE)``), read once, streaming.
        current: ``(path, fingerprint)`` of every file to scan now; a None
            fingerprint (unknown) means the file is read.
        label_options: :func:`label_options_key` of this scan's options; rows
            written with other options are never reused.

    The old table must be in strictly increasing path order, as TableWriter
    writes it; otherwise (a hand-edited table) nothing is reused and
    ``full_rescan`` says why.
    """
    wanted: dict[str, tuple[str, Fingerprint | None]] = {}
    for path, fingerprint in current:
        wanted[shown_path(path)] = (path, fingerprint)
    plan = IncrementalPlan()
    seen_old: set[str] = set()
    last: str | None = None
    for number, row in enumerate(old_rows, start=1):
        if row.label_options != label_options:
            plan.full_rescan = "the table was written with other label options"
            break
        if last is not None and row.path <= last:
            plan.full_rescan = f"the table is not in sorted path order (row {number}: {row.path})"
            break
        last = row.path
        entry = wanted.get(row.path)
        if entry is None:
            plan.dropped += 1
            continue
        seen_old.add(row.path)
        fingerprint = entry[1]
        if fingerprint is not None and row_fingerprint(row).matches(fingerprint):
            plan.reuse.add(row.path)
        else:
            plan.changed += 1
    if plan.full_rescan is not None:
        return IncrementalPlan(to_read=[path for path, _ in wanted.values()], full_rescan=plan.full_rescan)
    plan.to_read = [path for shown, (path, _) in wanted.items() if shown not in plan.reuse]
    return plan


def reused_rows(old_rows: Iterable[ImageRow], plan: IncrementalPlan) -> Iterator[ImageRow]:
    """The old rows the plan keeps, in the table's order (a second pass over the old table)."""
    for row in old_rows:
        if row.path in plan.reuse:
            yield row


def merged_rows(*sorted_rows: Iterable[ImageRow]) -> Iterator[ImageRow]:
    """Interleave row streams that are each in sorted path order into one sorted stream.

    Raises:
        ValueError: a path that comes twice (in one stream or in two).
    """
    last: str | None = None
    for row in heapq.merge(*sorted_rows, key=lambda r: shown_path(r.path)):
        shown = shown_path(row.path)
        if last is not None and shown <= last:
            raise ValueError(f"rows out of order or duplicated: {shown} after {last}")
        last = shown
        yield row
