"""The ``segstats`` command line: thin Typer commands over the library.

Data goes to stdout, everything for humans to stderr. One place,
:func:`_report_errors`, maps exceptions to a one-line message and an exit code.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from segstats._version import __version__
from segstats.errors import EXIT_BAD_INPUT, SegstatsError, display_path

# Exit codes for interruption (128 + signal number, as shells report them).
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
# Environment variable that makes errors show their traceback, like --debug.
DEBUG_ENV = "SEGSTATS_DEBUG"
# Width of the audit report when stdout is not a terminal.
REPORT_WIDTH = 120
# Exit code of --skip-errors --strict when files were skipped.
EXIT_SKIPPED_STRICT = 1


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup runs (like KeyboardInterrupt)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


app = typer.Typer(
    name="segstats",
    help="Exact class statistics and class weights for semantic-segmentation labels.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


class Messages:
    """Everything for humans, on stderr. ``quiet`` keeps only errors."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        no_color = bool(os.environ.get("NO_COLOR"))
        self.console = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)

    def info(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, markup=False)

    def note(self, text: str) -> None:
        self.info(f"note: {text}")

    def warn(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"[yellow]warning:[/yellow] {_escape(text)}")

    def error(self, text: str) -> None:
        self.console.print(f"[bold red]error:[/bold red] {_escape(text)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _report_errors(func: F) -> F:
    """Map every failure of a command to one line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("debug"):
            os.environ[DEBUG_ENV] = "1"
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except SegstatsError as exc:
            if _debug_enabled():
                traceback.print_exc()
            Messages().error(display_path(str(exc)).replace("\n", " "))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            Messages().error("interrupted")
            raise typer.Exit(EXIT_SIGINT) from None
        except Terminated:
            Messages().error("terminated")
            raise typer.Exit(EXIT_SIGTERM) from None
        except Exception as exc:  # a bug: still one line, traceback on request
            if _debug_enabled():
                traceback.print_exc()
            Messages().error(
                f"internal error: {type(exc).__name__}: {exc} "
                f"(run with --debug or {DEBUG_ENV}=1 for the traceback)"
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"segstats {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    """Exact class statistics and class weights for semantic-segmentation labels.

    Example: segstats weights ./labels --num-classes 19 --ignore-index 255
    """


# ----------------------------------------------------------------- options
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
JobsOpt = Annotated[
    int | None, typer.Option("--jobs", "-j", help="Parallel workers, threads (default: all cores; -1 too).")
]
SkipErrorsOpt = Annotated[
    bool,
    typer.Option("--skip-errors", help="Skip bad files, list them under 'errors' and go on."),
]
DecoderOpt = Annotated[
    str,
    typer.Option(
        "--decoder",
        help="auto (fast PNG reader where it applies, else Pillow) | fast (fast reader only) | pillow.",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on stderr but errors.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help=f"Show tracebacks on errors (or set {DEBUG_ENV}=1).")]
SkipStrictOpt = Annotated[
    bool, typer.Option("--strict", help="With --skip-errors: exit 1 when any file was skipped.")
]
BackendOpt = Annotated[
    str, typer.Option("--backend", help="local (this machine, --jobs) | dask (a Dask cluster, --scheduler).")
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
ColorsOpt = Annotated[
    str | None,
    typer.Option("--colors", help='JSON colour map for RGB/RGBA masks: {"r,g,b": class, ...}.'),
]
MapOpt = Annotated[
    str | None,
    typer.Option("--map", help='JSON raw value -> class map, e.g. labelId -> trainId: {"7": 0, ...}.'),
]
ClassNamesOpt = Annotated[
    str | None,
    typer.Option("--class-names", help="Class names: one per line, or a JSON list (K = their number)."),
]


def _label_options(colors: str | None, value_map: str | None, class_names: str | None) -> dict[str, Any]:
    """Load the --colors / --map / --class-names files into segstats.scan keywords."""
    from segstats.labels import load_class_names, load_colors, load_value_map

    options: dict[str, Any] = {}
    if colors is not None:
        options["colors"] = load_colors(colors)
    if value_map is not None:
        options["value_map"] = load_value_map(value_map)
    if class_names is not None:
        options["class_names"] = load_class_names(class_names)
    return options


@contextmanager
def _progress(messages: Messages, total: int) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; otherwise nothing."""
    if messages.quiet or not messages.console.is_terminal or total == 0:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=messages.console,
        transient=True,
    ) as bar:
        task = bar.add_task("scan", total=total)
        yield lambda done: bar.advance(task, done)


def _scan_with_messages(
    messages: Messages,
    paths: list[str],
    num_classes: int | None,
    ignore_index: int | None,
    jobs: int | None,
    skip_errors: bool,
    decoder: str = "auto",
    *,
    list_errors: bool = True,
    refuse_empty: bool = False,
    backend: str = "local",
    scheduler: str | None = None,
    shard: str | None = None,
    **scan_options: Any,
) -> Any:
    from segstats.api import scan

    k_known = num_classes is not None or scan_options.get("class_names") is not None
    files = _select_files(messages, paths, shard, k_known, backend, scheduler, jobs)
    started = time.perf_counter()
    with _progress(messages, len(files)) as progress:
        stats = scan(
            paths,
            num_classes=num_classes,
            ignore_index=ignore_index,
            jobs=jobs,
            skip_errors=skip_errors,
            progress=progress,
            files=files,
            decoder=decoder,
            backend=backend,
            scheduler=scheduler,
            **scan_options,
        )
    elapsed = time.perf_counter() - started
    if refuse_empty:
        _refuse_if_nothing_read(stats)
    rate = stats.num_images / elapsed if elapsed > 0 else float("inf")
    summary = (
        f"scanned {stats.num_images:,} images, {stats.total_pixels:,} pixels "
        f"({stats.ignored_pixels:,} ignored) in {elapsed:.2f} s, {rate:,.1f} images/s"
    )
    if stats.errors:
        summary += f"; {len(stats.errors):,} files skipped with errors"
    messages.info(summary)
    for problem in stats.errors if list_errors else ():
        messages.warn(f"skipped {problem['path']}: {problem['error']}")
    if num_classes is None and scan_options.get("class_names") is None:
        messages.note(
            f"--num-classes not given: using K = {stats.num_classes} (largest class value seen + 1)"
        )
    return stats


def _select_files(
    messages: Messages,
    paths: list[str],
    shard: str | None,
    k_known: bool,
    backend: str,
    scheduler: str | None,
    jobs: int | None,
) -> list[str]:
    """Check --backend/--scheduler/--jobs/--shard, discover, keep the files of ``--shard I/N``."""
    from segstats.cluster import check_backend
    from segstats.discover import discover
    from segstats.shard import parse_shard, select_shard

    check_backend(backend, scheduler, jobs)
    shard_of = parse_shard(shard) if shard is not None else None
    files = discover(paths)
    if shard_of is None:
        return files
    index, count = shard_of
    selected = select_shard(files, index, count)
    messages.info(f"shard {index}/{count}: {len(selected):,} of {len(files):,} files")
    if not k_known:
        messages.warn("--shard without --num-classes: shards that infer different K cannot be merged")
    return selected


def _warn_absent(messages: Messages, stats: Any) -> None:
    for index in stats.absent_classes:
        name = stats.class_name(index)
        label = f"class {index}" + (f" ({name})" if name != str(index) else "")
        messages.warn(f"{label} has no pixels; its weight is 0.0")


def _refuse_if_nothing_read(stats: Any) -> None:
    """--skip-errors that skipped every file: no statistics at all, so bad input (exit 2)."""
    if stats.num_images == 0 and stats.errors:
        first = stats.errors[0]
        raise SegstatsError(
            f"no label image could be read: all {len(stats.errors)} files were skipped "
            f"(the first: {first['path']}: {first['error']})"
        )


def _exit_if_strict(strict: bool, stats: Any) -> None:
    """--strict with --skip-errors: the output is written, but exit 1 if files were skipped."""
    if strict and stats.errors:
        raise typer.Exit(EXIT_SKIPPED_STRICT)


# ----------------------------------------------------------------- commands
@app.command("weights")
@_report_errors
def weights_cli(
    paths: PathsArg = None,
    num_classes: NumClassesOpt = None,
    ignore_index: IgnoreIndexOpt = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            "-m",
            help="median-frequency | enet | balanced | inverse-sqrt | effective-number.",
        ),
    ] = "median-frequency",
    jobs: JobsOpt = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Also write to FILE: .json (full document), .pt, .npy, .yaml."),
    ] = None,
    from_stats: Annotated[
        str | None,
        typer.Option(
            "--from-stats", help="Compute from a document written by 'segstats scan'; read no images."
        ),
    ] = None,
    normalize: Annotated[
        str, typer.Option("--normalize", help="none | mean (present weights average 1) | sum (sum to 1).")
    ] = "none",
    clip: Annotated[
        float | None, typer.Option("--clip", help="Largest weight allowed (applied after --normalize).")
    ] = None,
    enet_c: Annotated[float, typer.Option("--enet-c", help="ENet's c in 1 / ln(c + p).")] = 1.02,
    beta: Annotated[
        float | None, typer.Option("--beta", help="effective-number's beta, 0 <= beta < 1.")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="json | list | pt | npy | yaml (default: from the --output suffix)."),
    ] = None,
    skip_errors: SkipErrorsOpt = False,
    strict: SkipStrictOpt = False,
    decoder: DecoderOpt = "auto",
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    colors: ColorsOpt = None,
    value_map: MapOpt = None,
    class_names: ClassNamesOpt = None,
    backend: BackendOpt = "local",
    scheduler: SchedulerOpt = None,
    shard: ShardOpt = None,
) -> None:
    """Compute class weights and print them as one JSON array on stdout.

    Example: segstats weights ./labels --num-classes 19 --ignore-index 255 -o weights.pt
    """
    from segstats.errors import UsageError
    from segstats.stats import DatasetStats
    from segstats.weights import compute_weights, method_options
    from segstats.writers import format_for, weights_json_list, write_output

    messages = Messages(quiet)
    options: dict[str, Any] = {"normalize": normalize, "clip": clip}
    if method == "enet":
        options["enet_c"] = enet_c
    if method == "effective-number":
        options["beta"] = beta
    recorded = method_options(method, **options)
    if output is not None:
        format_for(output, fmt)  # refuse a bad suffix before scanning
    elif fmt is not None:
        raise UsageError("--format needs --output FILE")
    if from_stats is not None:
        if paths:
            raise UsageError("give either label PATHs or --from-stats, not both")
        if shard is not None or scheduler is not None or backend != "local":
            raise UsageError("--shard, --backend and --scheduler apply to reading labels, not --from-stats")
        stats = DatasetStats.load(from_stats)
        if colors is not None or value_map is not None:
            raise UsageError("--colors and --map apply when reading label images, not with --from-stats")
        if class_names is not None:
            names = _label_options(None, None, class_names)["class_names"]
            if len(names) != stats.num_classes:
                raise UsageError(f"{len(names)} class names given for {stats.num_classes} classes")
            stats.class_names = names
        for flag, given, stored in (
            ("--num-classes", num_classes, stats.num_classes),
            ("--ignore-index", ignore_index, stats.ignore_index),
        ):
            if given is not None and given != stored:
                raise UsageError(f"{flag} {given} differs from {stored} in {from_stats}")
    else:
        if not paths:
            raise UsageError("no label PATH given (or use --from-stats STATS.json)")
        label_options = _label_options(colors, value_map, class_names)
        stats = _scan_with_messages(
            messages, paths, num_classes, ignore_index, jobs, skip_errors, decoder,
            backend=backend, scheduler=scheduler, shard=shard, refuse_empty=True, **label_options,
        )  # fmt: skip
    weights = compute_weights(stats, method, **options)
    _warn_absent(messages, stats)
    if output is not None:
        block = {"method": method, "values": [float(w) for w in weights], "options": recorded}
        written = write_output(output, stats.to_dict(weights=block), weights, fmt)
        messages.info(f"wrote {output} ({written})")
    typer.echo(weights_json_list(weights))
    _exit_if_strict(strict, stats)


@app.command("scan")
@_report_errors
def scan_cli(
    paths: PathsArg = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="The statistics document to write (.json).")
    ] = ...,  # type: ignore[assignment]
    num_classes: NumClassesOpt = None,
    ignore_index: IgnoreIndexOpt = None,
    jobs: JobsOpt = None,
    skip_errors: SkipErrorsOpt = False,
    strict: SkipStrictOpt = False,
    decoder: DecoderOpt = "auto",
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    colors: ColorsOpt = None,
    value_map: MapOpt = None,
    class_names: ClassNamesOpt = None,
    backend: BackendOpt = "local",
    scheduler: SchedulerOpt = None,
    shard: ShardOpt = None,
) -> None:
    """Count pixels and images per class and write the statistics document.

    Example: segstats scan ./labels --num-classes 19 --ignore-index 255 -o stats.json
    """
    from segstats.errors import UsageError
    from segstats.writers import format_for, write_output

    messages = Messages(quiet)
    if format_for(output) != "json":
        raise UsageError(f"{output}: the statistics document is JSON; use a .json file")
    if not paths:
        raise UsageError("no label PATH given")
    label_options = _label_options(colors, value_map, class_names)
    stats = _scan_with_messages(
        messages, paths, num_classes, ignore_index, jobs, skip_errors, decoder,
        backend=backend, scheduler=scheduler, shard=shard, refuse_empty=True, **label_options,
    )  # fmt: skip
    write_output(output, stats.to_dict())
    messages.info(f"wrote {output}")
    _exit_if_strict(strict, stats)


@app.command("merge")
@_report_errors
def merge_cli(
    documents: Annotated[list[str], typer.Argument(help="Statistics documents written by 'segstats scan'.")],
    output: Annotated[
        str, typer.Option("--output", "-o", help="The merged document to write (.json).")
    ] = ...,  # type: ignore[assignment]
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Add statistics documents (e.g. shards scanned on different machines).

    Example: segstats merge shard-*.json -o stats.json
    """
    from segstats.errors import UsageError
    from segstats.stats import DatasetStats, merge_stats
    from segstats.writers import format_for, write_output

    messages = Messages(quiet)
    if format_for(output) != "json":
        raise UsageError(f"{output}: the statistics document is JSON; use a .json file")
    parts = [DatasetStats.load(path) for path in documents]
    merged = merge_stats(parts, documents)
    write_output(output, merged.to_dict())
    messages.info(
        f"merged {len(parts)} documents: {merged.num_images:,} images, "
        f"{merged.total_pixels:,} pixels; wrote {output}"
    )


@app.command("audit")
@_report_errors
def audit_cli(
    paths: PathsArg = None,
    num_classes: NumClassesOpt = None,
    ignore_index: IgnoreIndexOpt = None,
    class_names: ClassNamesOpt = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the audit as one JSON document on stdout.")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when there are warnings.")] = False,
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            help="Another split (e.g. val) to compare with; repeat for several paths.",
            show_default=False,
        ),
    ] = None,
    colors: ColorsOpt = None,
    value_map: MapOpt = None,
    jobs: JobsOpt = None,
    skip_errors: Annotated[
        bool, typer.Option("--skip-errors", hidden=True, help="Always on for audit (accepted, no effect).")
    ] = True,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot", help="Also draw the imbalance to FILE (.png, .svg, .pdf); needs segstats[plot]."
        ),
    ] = None,
    sort: Annotated[
        str, typer.Option("--sort", help="Order of the classes: id | share | images (largest first).")
    ] = "id",
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", help="Show the first N classes after sorting (-N: the last N; 0: all).", min=None
        ),
    ] = None,
) -> None:
    """Audit class balance: a summary line, a per-class table, then one warning line per finding.

    Bad files do not stop the audit: they are skipped and reported as findings.
    The table and findings go to stdout; exit 1 with --strict when there are warnings.

    Example: segstats audit ./train --ignore-index 255 --class-names names.txt --against ./val

    Example: segstats audit ./ade20k --sort share --limit 20 --plot imbalance.png
    """
    import json

    from segstats.audit import audit, limit_rows, sort_rows
    from segstats.errors import UsageError

    messages = Messages(quiet)
    if not paths:
        raise UsageError("no label PATH given")
    sort_rows([], sort)  # refuse a bad --sort before scanning
    if plot is not None:
        from segstats.plot import plot_format

        plot_format(plot)
    label_options = _label_options(colors, value_map, class_names)
    scan_args = (num_classes, ignore_index, jobs, True)
    stats = _scan_with_messages(messages, paths, *scan_args, list_errors=False, **label_options)
    other = None
    if against:
        other = _scan_with_messages(messages, against, *scan_args, list_errors=False, **label_options)
    report = audit(stats, against=other, label=", ".join(paths), against_label=", ".join(against or []))
    ordered = sort_rows(report.rows, sort)
    shown, hidden = limit_rows(ordered, limit)
    if plot is not None:
        _write_plot(messages, plot, report, shown, other)
    if json_output:
        typer.echo(json.dumps(report.to_dict(rows=ordered), indent=2))
    else:
        from segstats.report import render_audit

        console = Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False, soft_wrap=True)
        if not console.is_terminal:
            console.width = REPORT_WIDTH  # a file or a pipe: do not squeeze the table to 80 columns
        render_audit(report, console, rows=shown, hidden=hidden)
    if strict and report.warnings:
        raise typer.Exit(1)


def _write_plot(messages: Messages, path: str, report: Any, rows: Any, other: Any) -> None:
    """``audit --plot``: draw the rows shown (and the --against split beside them)."""
    from segstats.audit import class_rows, pad_classes
    from segstats.plot import write_imbalance_plot

    options: dict[str, Any] = {
        "method": report.weight_method,
        "title": f"{report.num_images:,} images, {report.num_classes} classes",
    }
    if other is not None and report.comparison is not None:
        options["other_rows"] = class_rows(pad_classes(other, report.num_classes), report.weight_method)
        options["labels"] = (report.comparison.label, report.comparison.other_label)
    write_imbalance_plot(path, rows, **options)
    messages.info(f"wrote {path}")


def main() -> None:
    """Console entry point (``segstats`` and ``python -m segstats``)."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        app(prog_name="segstats")  # also under python -m: help and shell completion say segstats
    except KeyboardInterrupt:  # raised outside a command (e.g. while importing)
        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_SIGINT)
    except Terminated:
        sys.stderr.write("error: terminated\n")
        sys.exit(EXIT_SIGTERM)


__all__ = ["EXIT_BAD_INPUT", "app", "main"]
