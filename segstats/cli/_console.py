"""Everything for humans, on stderr: messages, the progress bar, counted nouns."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

from segstats.errors import printable


class Messages:
    """Everything for humans, on stderr. ``quiet`` keeps only errors.

    Every text is passed through :func:`segstats.errors.printable` here, the one
    place all messages (the error mapper's too) go through: file names and bytes
    from files never reach the terminal as control sequences.
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        no_color = bool(os.environ.get("NO_COLOR"))
        self.console = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)

    def info(self, text: str) -> None:
        if not self.quiet:
            self.console.print(printable(text), markup=False)

    def note(self, text: str) -> None:
        self.info(f"note: {text}")

    def warn(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"[yellow]warning:[/yellow] {escape(printable(text))}")

    def error(self, text: str) -> None:
        self.console.print(f"[bold red]error:[/bold red] {escape(printable(text))}")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 file"``, ``"2 files"``, ``"1,024 files"``: the count with its noun agreeing.

    >>> plural(1, "document"), plural(3, "document"), plural(1000, "image")
    ('1 document', '3 documents', '1,000 images')
    """
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


@contextmanager
def progress_bar(messages: Messages, total: int) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; otherwise nothing (None)."""
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
