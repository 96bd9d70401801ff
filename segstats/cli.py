"""The ``segstats`` command line: thin Typer commands over the library.

Data goes to stdout, everything for humans to stderr. One place,
:func:`_report_errors`, maps exceptions to a one-line message and an exit code.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from segstats._version import __version__
from segstats.errors import EXIT_BAD_INPUT, SegstatsError

# Exit codes for interruption (128 + signal number, as shells report them).
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
# Environment variable that makes errors show their traceback, like --debug.
DEBUG_ENV = "SEGSTATS_DEBUG"

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
            Messages().error(str(exc).replace("\n", " "))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            Messages().error("interrupted")
            raise typer.Exit(EXIT_SIGINT) from None
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
    int | None, typer.Option("--jobs", "-j", help="Worker processes (default: all cores; -1 too).")
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
) -> Any:
    from segstats.api import scan
    from segstats.discover import discover

    files = discover(paths)
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
        )
    elapsed = time.perf_counter() - started
    rate = stats.num_images / elapsed if elapsed > 0 else float("inf")
    summary = (
        f"scanned {stats.num_images:,} images, {stats.total_pixels:,} pixels "
        f"({stats.ignored_pixels:,} ignored) in {elapsed:.2f} s, {rate:,.1f} images/s"
    )
    if stats.errors:
        summary += f"; {len(stats.errors):,} files skipped with errors"
    messages.info(summary)
    for problem in stats.errors:
        messages.warn(f"skipped {problem['path']}: {problem['error']}")
    if num_classes is None:
        messages.note(
            f"--num-classes not given: using K = {stats.num_classes} (largest class value seen + 1)"
        )
    return stats


def _warn_absent(messages: Messages, stats: Any) -> None:
    for index in stats.absent_classes:
        name = stats.class_name(index)
        label = f"class {index}" + (f" ({name})" if name != str(index) else "")
        messages.warn(f"{label} has no pixels; its weight is 0.0")


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
    decoder: DecoderOpt = "auto",
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
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
        stats = DatasetStats.load(from_stats)
        for flag, given, stored in (
            ("--num-classes", num_classes, stats.num_classes),
            ("--ignore-index", ignore_index, stats.ignore_index),
        ):
            if given is not None and given != stored:
                raise UsageError(f"{flag} {given} differs from {stored} in {from_stats}")
    else:
        if not paths:
            raise UsageError("no label PATH given (or use --from-stats STATS.json)")
        stats = _scan_with_messages(messages, paths, num_classes, ignore_index, jobs, skip_errors, decoder)
    weights = compute_weights(stats, method, **options)
    _warn_absent(messages, stats)
    if output is not None:
        block = {"method": method, "values": [float(w) for w in weights], "options": recorded}
        written = write_output(output, stats.to_dict(weights=block), weights, fmt)
        messages.info(f"wrote {output} ({written})")
    typer.echo(weights_json_list(weights))


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
    decoder: DecoderOpt = "auto",
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
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
    stats = _scan_with_messages(messages, paths, num_classes, ignore_index, jobs, skip_errors, decoder)
    write_output(output, stats.to_dict())
    messages.info(f"wrote {output}")


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


def main() -> None:
    """Console entry point (``segstats`` and ``python -m segstats``)."""
    try:
        app()
    except KeyboardInterrupt:  # raised outside a command (e.g. while importing)
        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_SIGINT)


__all__ = ["EXIT_BAD_INPUT", "app", "main"]
