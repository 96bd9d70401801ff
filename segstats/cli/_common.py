"""What the commands share: option definitions, option groups, and the scan they all run.

- Each option is defined once, as an ``Annotated`` type (``NumClassesOpt``, ...); a
  command takes it as ``num_classes: NumClassesOpt = None``.
- Options that travel together are an option group: a frozen dataclass of such
  fields (:class:`LabelArgs`, :class:`ReadArgs`, :class:`FileListArgs`). A command takes the whole group as
  one parameter (``labels: LabelArgs``); :func:`expand_option_groups` shows Typer
  one option per field and hands the command the built dataclass. A new shared
  option is one new field, and every command that takes the group has it.
- :func:`scan_labels` turns the groups into ``plan_files`` + ``scan`` calls with
  the messages, the progress bar and the summary line around them.

Choice options (``--decoder``, ``--backend``, ...) take their names, help text and
shell completion from the Literal types in :mod:`segstats.choices`; the library
checks the value, so a bad one gets the library's one-line message.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import time
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from segstats.choices import DECODER_HELP, Backend, Decoder, choices_of
from segstats.cli._console import Messages, markup_free, plural, progress_bar

if TYPE_CHECKING:
    from segstats.reduce import FileCounts
    from segstats.stats import DatasetStats

# Environment variable that makes errors show their traceback, like --debug.
DEBUG_ENV = "SEGSTATS_DEBUG"


# ----------------------------------------------------------------- help texts
# Help text is shown as written through markup_free: Typer renders help as rich markup.
def choice_help(choice_type: object, lead: str = "", notes: Mapping[str, str] | None = None) -> str:
    """``"lead: a | b (note) | c."`` from a Literal of names (and notes on some of them).

    >>> from typing import Literal
    >>> choice_help(Literal["id", "share"], "Order", {"share": "largest first"})
    'Order: id | share (largest first).'
    """
    names = choices_of(choice_type)
    notes = notes or {}
    unknown = sorted(set(notes) - set(names))
    if unknown:  # a note for a choice that no longer exists: fail at import, in every test
        raise ValueError(f"notes for unknown choices {unknown}; the choices are {names}")
    listed = " | ".join(f"{name} ({notes[name]})" if name in notes else name for name in names)
    return markup_free(f"{lead}: {listed}." if lead else f"{listed}.")


def completer(choice_type: object) -> Callable[[str], list[str]]:
    """Shell completion of a choice option: the names starting with what is typed."""
    names = choices_of(choice_type)

    def complete(incomplete: str) -> list[str]:
        return [name for name in names if name.startswith(incomplete)]

    return complete


def choice_option(
    choice_type: object, *decls: str, lead: str = "", notes: Mapping[str, str] | None = None
) -> Any:
    """``typer.Option`` for a choice: help and completion generated from ``choice_type``."""
    return typer.Option(
        *decls, help=choice_help(choice_type, lead, notes), autocompletion=completer(choice_type)
    )


# ----------------------------------------------------------------- options, defined once
PathsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Label files, directories (searched recursively for *.png) or globs.", show_default=False
    ),
]
NumClassesOpt = Annotated[
    int | None,
    typer.Option("--num-classes", "-k", help="Number of classes K (default: largest value seen + 1)."),
]
IgnoreIndexOpt = Annotated[
    int | None, typer.Option("--ignore-index", help="Label value of ignored (void) pixels, e.g. 255.")
]
ColorsOpt = Annotated[
    str | None,
    typer.Option(
        "--colors",
        help='Colour map for RGB/RGBA masks: JSON {"r,g,b": class, ...}, or a name,r,g,b CSV '
        "(CamVid class_dict.csv; class = row).",
    ),
]
MapOpt = Annotated[
    str | None,
    typer.Option("--map", help='JSON raw value -> class map, e.g. labelId -> trainId: {"7": 0, ...}.'),
]
GreyRgbOpt = Annotated[
    bool,
    typer.Option(
        "--grey-rgb",
        help="Read RGB/RGBA masks whose three bands are equal as grey (R = G = B is the value); "
        "a pixel whose bands differ is an error.",
    ),
]
ClassNamesOpt = Annotated[
    str | None,
    typer.Option(
        "--class-names",
        help='Class names: one per line, a JSON list, a JSON {"0": name} object (id2label), '
        "or a name,r,g,b CSV (K = their number).",
    ),
]
JobsOpt = Annotated[
    int | None, typer.Option("--jobs", "-j", help="Parallel workers, threads (default: all cores; -1 too).")
]
SkipErrorsOpt = Annotated[
    bool,
    typer.Option("--skip-errors", help="Skip bad files, list them under 'errors' and go on."),
]
DecoderOpt = Annotated[
    str,
    choice_option(
        Decoder,
        "--decoder",
        notes=DECODER_HELP,
    ),
]
BackendOpt = Annotated[
    str,
    choice_option(
        Backend,
        "--backend",
        notes={"local": "this machine, --jobs", "dask": "a Dask cluster, --scheduler"},
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: $SEGSTATS_SCHEDULER)."
    ),
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard", help="Read only shard I of N (I/N, 0 <= I < N): files I, I+N, I+2N... of the sorted list."
    ),
]
FetchConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--fetch-concurrency",
        help="Remote files: requests in flight per worker (default 64; $SEGSTATS_FETCH_CONCURRENCY).",
        show_default=False,
    ),
]
FetchMaxBytesOpt = Annotated[
    str | None,
    typer.Option(
        "--fetch-max-bytes",
        help="Remote files: bytes fetched and not yet counted, per worker (default 64M; "
        "$SEGSTATS_FETCH_MAX_BYTES).",
        show_default=False,
    ),
]
FetchRetriesOpt = Annotated[
    int | None,
    typer.Option(
        "--fetch-retries",
        help="Remote files: retries of a transient error (HTTP 5xx, reset, timeout), with backoff "
        "(default 3; $SEGSTATS_FETCH_RETRIES).",
        show_default=False,
    ),
]
SkipStrictOpt = Annotated[
    bool, typer.Option("--strict", help="With --skip-errors: exit 1 when any file was skipped.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on stderr but errors.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help=f"Show tracebacks on errors (or set {DEBUG_ENV}=1).")]
OutputOpt = Annotated[
    str, typer.Option("--output", "-o", help="The statistics document to write (.json; - for stdout).")
]
PerImageOpt = Annotated[
    str | None,
    typer.Option(
        "--per-image",
        help="Also write one row per label image to FILE (.jsonl, .csv, .parquet), streamed in "
        "sorted path order.",
        show_default=False,
    ),
]
IncrementalOpt = Annotated[
    bool,
    typer.Option(
        "--incremental",
        help="With --per-image FILE: reuse FILE's rows of files whose size and mtime are unchanged "
        "(same label options), read only new and changed files.",
    ),
]
FilesFromOpt = Annotated[
    str | None,
    typer.Option(
        "--files-from",
        help="Also read the label files listed in FILE, one per line ('-': stdin; blank lines and "
        "# comments skipped).",
    ),
]
RootOpt = Annotated[
    str | None,
    typer.Option(
        "--root", help="Folder that relative --files-from entries are in (default: the current one)."
    ),
]
TemplateOpt = Annotated[
    str | None,
    typer.Option(
        "--template",
        help="--files-from entries are stems: the path is T with {} replaced by the entry, "
        "e.g. 'SegmentationClass/{}.png'.",
    ),
]


# ----------------------------------------------------------------- option groups
class OptionGroup:
    """Base of the option groups: frozen dataclasses whose fields are options.

    A command parameter annotated with a subclass becomes one CLI option per field
    (:func:`expand_option_groups`); field names must be unique within a command.
    """


@dataclasses.dataclass(frozen=True)
class LabelArgs(OptionGroup):
    """How label values become classes: K, the ignore index, and the label files' options."""

    num_classes: NumClassesOpt = None
    ignore_index: IgnoreIndexOpt = None
    colors: ColorsOpt = None
    grey_rgb: GreyRgbOpt = False
    value_map: MapOpt = None
    class_names: ClassNamesOpt = None

    @property
    def k_known(self) -> bool:
        """K is given (by --num-classes or by the number of --class-names), not inferred."""
        return self.num_classes is not None or self.class_names is not None

    def scan_keywords(self) -> dict[str, Any]:
        """``segstats.scan`` keywords; reads the --colors / --map / --class-names files."""
        from segstats.labels import load_class_names, load_colors, load_value_map

        keywords: dict[str, Any] = {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "grey_rgb": self.grey_rgb,
        }
        if self.colors is not None:
            keywords["colors"] = load_colors(self.colors)
        if self.value_map is not None:
            keywords["value_map"] = load_value_map(self.value_map)
        if self.class_names is not None:
            keywords["class_names"] = load_class_names(self.class_names)
        return keywords


@dataclasses.dataclass(frozen=True)
class ReadArgs(OptionGroup):
    """Which label files are read, and how: workers, bad files, decoder, cluster, shard."""

    jobs: JobsOpt = None
    skip_errors: SkipErrorsOpt = False
    decoder: DecoderOpt = "auto"
    backend: BackendOpt = "local"
    scheduler: SchedulerOpt = None
    shard: ShardOpt = None
    fetch_concurrency: FetchConcurrencyOpt = None
    fetch_max_bytes: FetchMaxBytesOpt = None
    fetch_retries: FetchRetriesOpt = None

    def scan_keywords(self) -> dict[str, Any]:
        """``segstats.scan`` keywords (the shard goes to ``plan_files``)."""
        keywords: dict[str, Any] = {
            "jobs": self.jobs,
            "skip_errors": self.skip_errors,
            "decoder": self.decoder,
            "backend": self.backend,
            "scheduler": self.scheduler,
        }
        fetch = (self.fetch_concurrency, self.fetch_max_bytes, self.fetch_retries)
        if any(value is not None for value in fetch):
            keywords["fetch"] = {
                "concurrency": self.fetch_concurrency,
                "max_bytes_in_flight": self.fetch_max_bytes,
                "retries": self.fetch_retries,
            }
        return keywords


@dataclasses.dataclass(frozen=True)
class TableArgs(OptionGroup):
    """The per-image table: ``--per-image FILE`` and ``--incremental``."""

    per_image: PerImageOpt = None
    incremental: IncrementalOpt = False

    def check(self) -> None:
        """Refuse --incremental without a table, an unknown suffix, a missing pyarrow (before reading)."""
        from segstats.errors import UsageError

        if self.incremental and self.per_image is None:
            raise UsageError("--incremental needs --per-image FILE (the table whose rows it reuses)")
        if self.per_image is not None:
            # Imported here: a scan without --per-image never loads the table package.
            from segstats.table import table_format_for

            table_format_for(self.per_image)


@dataclasses.dataclass(frozen=True)
class FileListArgs(OptionGroup):
    """Label files named by a list file (VOC ``ImageSets``, an mmseg ``ann_file``), added to PATHs."""

    files_from: FilesFromOpt = None
    root: RootOpt = None
    template: TemplateOpt = None

    @property
    def given(self) -> bool:
        """--files-from (or one of its companions) was given."""
        return any(value is not None for value in (self.files_from, self.root, self.template))

    def plan_keywords(self) -> dict[str, Any]:
        """``plan_files`` keywords (it refuses --root / --template without --files-from)."""
        return {"files_from": self.files_from, "root": self.root, "template": self.template}


def _group_of(annotation: object) -> type[OptionGroup] | None:
    if isinstance(annotation, type) and issubclass(annotation, OptionGroup):
        return annotation
    return None


def expand_option_groups(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with each option-group parameter shown to Typer as the group's options.

    A parameter annotated :class:`Messages` becomes ``--quiet/-q`` and ``--debug``
    (the error mapper reads ``debug``) and receives ``Messages(quiet)``. The
    wrapper's signature lists, in place of ``labels: LabelArgs``, one keyword
    parameter per field of LabelArgs (with the field's Annotated option and
    default); when called, it builds ``LabelArgs(...)`` from those and calls
    ``func(labels=...)``. Other parameters pass through unchanged.

    Raises:
        TypeError: two options of the command share a name.
    """
    hints = typing.get_type_hints(func, include_extras=True)
    groups: dict[str, tuple[type[OptionGroup], list[str]]] = {}
    messages_name: str | None = None
    parameters: list[inspect.Parameter] = []
    for parameter in inspect.signature(func).parameters.values():
        annotation = hints.get(parameter.name, parameter.annotation)
        if annotation is Messages:  # --quiet and --debug (read by the error mapper)
            messages_name = parameter.name
            parameters += [
                inspect.Parameter(
                    "quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=QuietOpt
                ),
                inspect.Parameter(
                    "debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOpt
                ),
            ]
            continue
        group = _group_of(annotation)
        if group is None:
            parameters.append(parameter.replace(annotation=annotation))
            continue
        field_hints = typing.get_type_hints(group, include_extras=True)
        fields = dataclasses.fields(group)  # type: ignore[arg-type]
        groups[parameter.name] = (group, [f.name for f in fields])
        parameters += [
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=field_hints[f.name]
            )
            for f in fields
        ]
    names = [p.name for p in parameters]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise TypeError(f"{func.__qualname__}: options defined twice: {', '.join(clashes)}")

    def wrapper(**kwargs: Any) -> Any:
        if messages_name is not None:
            kwargs.pop("debug")
            kwargs[messages_name] = Messages(kwargs.pop("quiet"))
        for name, (group, field_names) in groups.items():
            kwargs[name] = group(**{f: kwargs.pop(f) for f in field_names})
        return func(**kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__qualname__ = func.__qualname__
    wrapper.__doc__ = func.__doc__
    wrapper.__module__ = func.__module__
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


# ----------------------------------------------------------------- optional extras, checked first
def module_installed(module: str) -> bool:
    """``module`` (a top-level name) can be imported: found by ``find_spec``, never imported.

    Importing torch or dask just to check costs seconds; ``find_spec`` only looks.
    """
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # already imported, without a spec (e.g. __main__): it is there
        return True


def require_module(module: str, needed_for: str, hint: str) -> None:
    """Refuse ``needed_for`` (e.g. ``"-o w.pt"``) before any work when ``module`` is missing.

    Raises:
        UsageError: ``"<needed_for> needs <module>, which is not installed; <hint>"``.
    """
    from segstats.errors import UsageError

    if not module_installed(module):
        raise UsageError(f"{needed_for} needs {module}, which is not installed; {hint}")


def require_read_extras(paths: list[str], read: ReadArgs) -> None:
    """The extras reading ``paths`` with ``read`` needs: fsspec for URLs, dask for --backend dask.

    Called before any file is listed or read (contract: a missing optional
    dependency is reported before any image is read).
    """
    from segstats.cluster import DASK_INSTALL_HINT
    from segstats.remote import CLOUD_INSTALL_HINT, is_remote

    remote = next((path for path in paths if is_remote(path)), None)
    if remote is not None:
        require_module("fsspec", f"reading {remote}", CLOUD_INSTALL_HINT)
    if read.backend == "dask":
        for module in ("dask", "distributed"):
            require_module(module, "--backend dask", DASK_INSTALL_HINT)


def require_output_extras(output: str, fmt: str) -> None:
    """The extras writing ``fmt`` needs: torch for .pt (hint: the CPU wheel, not CUDA)."""
    from segstats.writers import TORCH_INSTALL_HINT

    if fmt == "pt":
        require_module("torch", f"writing {output} as .pt", TORCH_INSTALL_HINT)


def warn_label_notes(messages: Messages, stats: DatasetStats) -> None:
    """The notes on how the labels were read (:func:`segstats.notes.label_notes`) on stderr."""
    from segstats.notes import WARNING, label_notes

    for note in label_notes(stats):
        (messages.warn if note.severity == WARNING else messages.note)(note.text)


def destination(output: str) -> str:
    """How messages name an output: the path, or "stdout" for ``-``."""
    from segstats.writers import STDOUT

    return "stdout" if output == STDOUT else output


# ----------------------------------------------------------------- the scan every command runs
def scan_labels(
    messages: Messages,
    paths: list[str] | None,
    labels: LabelArgs,
    read: ReadArgs,
    *,
    file_list: FileListArgs | None = None,
    list_errors: bool = True,
    refuse_empty: bool = False,
    on_rows: Callable[[list[FileCounts]], None] | None = None,
    notes: bool = True,
    table: TableArgs | None = None,
) -> DatasetStats:
    """``plan_files`` + ``scan`` with the CLI's messages: the shard line, a progress bar,
    the summary line, one warning per skipped file, the note on an inferred K, and
    the notes on the label values (:func:`warn_label_notes`).

    Args:
        file_list: --files-from / --root / --template: files added to ``paths``.
        list_errors: warn about each skipped file (audit reports them as findings instead).
        refuse_empty: bad input (exit 2) when --skip-errors skipped every file.
        on_rows: ``segstats.scan``'s per-image counts callback.
        notes: print the label notes (audit has them among its findings instead).
        table: --per-image / --incremental (the table is written by ``segstats.cli.per_image``).
    """
    from segstats.api import plan_files, scan

    if table is not None:
        table.check()
    require_read_extras(paths or [], read)
    keywords = labels.scan_keywords()
    listing = file_list.plan_keywords() if file_list is not None else {}
    plan = plan_files(paths or [], shard=read.shard, skip_errors=read.skip_errors, **listing)
    if listing.get("files_from") is not None:
        require_read_extras(plan.files, read)  # listed URLs need fsspec too (no image read yet)
    if plan.shard is not None:
        index, count = plan.shard
        messages.info(f"shard {index}/{count}: {len(plan.files):,} of {plural(plan.found, 'file')}")
        if not labels.k_known:
            messages.warn("--shard without --num-classes: shards that infer different K cannot be merged")
    started = time.perf_counter()
    if table is not None and table.per_image is not None:
        if on_rows is not None:
            raise ValueError("scan_labels: on_rows and a per-image table cannot be combined")
        from segstats.cli.per_image import scan_with_table

        stats, table_line = scan_with_table(
            messages,
            plan,
            table.per_image,
            table.incremental,
            keywords,
            read.scan_keywords(),
            check=refuse_if_nothing_read if refuse_empty else None,
        )
    else:
        table_line = None
        with progress_bar(messages, len(plan.files)) as progress:
            stats = scan(plan, progress=progress, on_rows=on_rows, **keywords, **read.scan_keywords())
    elapsed = time.perf_counter() - started
    if refuse_empty:
        refuse_if_nothing_read(stats)
    rate = stats.num_images / elapsed if elapsed > 0 else float("inf")
    summary = (
        f"scanned {plural(stats.num_images, 'image')}, {plural(stats.total_pixels, 'pixel')} "
        f"({stats.ignored_pixels:,} ignored) in {elapsed:.2f} s, {rate:,.1f} images/s"
    )
    if stats.errors:
        summary += f"; {plural(len(stats.errors), 'file')} skipped with errors"
    if table_line is not None:
        summary += f"; {table_line}"
    messages.info(summary)
    for problem in stats.errors if list_errors else ():
        messages.warn(f"skipped {problem['path']}: {problem['error']}")
    if not labels.k_known:
        messages.note(
            f"--num-classes not given: using K = {stats.num_classes} (largest class value seen + 1)"
        )
    if notes:
        warn_label_notes(messages, stats)
    return stats


def refuse_no_paths(paths: list[str] | None, file_list: FileListArgs, alternative: str = "") -> None:
    """Neither a label PATH nor --files-from: usage error (``alternative``: another source)."""
    from segstats.errors import UsageError

    if not paths and file_list.files_from is None:
        raise UsageError(f"no label PATH given (nor --files-from FILE{alternative})")


def refuse_if_nothing_read(stats: DatasetStats) -> None:
    """--skip-errors that skipped every file: no statistics at all, so bad input (exit 2)."""
    from segstats.errors import SegstatsError

    if stats.num_images == 0 and stats.errors:
        first = stats.errors[0]
        raise SegstatsError(
            f"no label image could be read: all {len(stats.errors)} files were skipped "
            f"(the first: {first['path']}: {first['error']})"
        )


# Exit code of --skip-errors --strict when files were skipped.
EXIT_SKIPPED_STRICT = 1


def exit_if_strict(strict: bool, stats: DatasetStats) -> None:
    """--strict with --skip-errors: the output is written, but exit 1 if files were skipped."""
    if strict and stats.errors:
        raise typer.Exit(EXIT_SKIPPED_STRICT)


def refuse_non_json(output: str) -> None:
    """The statistics document is JSON: refuse another suffix before anything is read
    (``-``, standard output, is JSON)."""
    from segstats.errors import UsageError
    from segstats.writers import format_for

    if format_for(output) != "json":
        raise UsageError(f"{output}: the statistics document is JSON; use a .json file (or - for stdout)")
