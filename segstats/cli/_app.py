"""The Typer app: the command table, the one exception -> message + exit code mapper, main().

Adding a command: write ``segstats/cli/<name>.py`` with one function (its
docstring is the --help text, with an ``Example: segstats <name> ...`` line), and
add ``(name, "segstats.cli.<name>:function")`` to :data:`COMMANDS`.
:func:`build_command` wraps it in the error mapper and expands its option groups,
so the function only does its work; it takes ``messages: Messages`` (which gives it
``--quiet`` and ``--debug``).

Commands are built on first use (:class:`LazyCommands`): ``segstats scan`` imports
and builds scan only, not the other commands' modules and options; ``--help`` and
shell completion build them all.
"""

from __future__ import annotations

import functools
import gc
import importlib
import inspect
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, MutableMapping
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from segstats._version import __version__
from segstats.cli._common import DEBUG_ENV, expand_option_groups
from segstats.cli._console import Messages
from segstats.errors import SegstatsError

# Exit codes for interruption (128 + signal number, as shells report them).
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
# Exit code of an internal error (a bug), as for an uncaught exception.
EXIT_INTERNAL = 1

# ctx.meta key set while the group's --help is drawn (its command list needs no options).
LISTING_KEY = "segstats.listing"

# The commands, in the order of `segstats --help`: (name, "module:function").
# Named, not imported: a run imports the module of the command it runs only.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("weights", "segstats.cli.weights:weights_command"),
    ("scan", "segstats.cli.scan:scan_command"),
    ("merge", "segstats.cli.merge:merge_command"),
    ("audit", "segstats.cli.audit:audit_command"),
    ("sample", "segstats.cli.sample:sample_command"),
)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup runs (like KeyboardInterrupt)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _blank_flag_metavars(params: list[Any]) -> list[Any]:
    """A flag takes no value, so --help shows no ``<bool>`` type for it."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A segstats command: Typer's, with flags shown without a value type."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _blank_flag_metavars(super().get_params(ctx))


class Group(TyperGroup):
    """The segstats group: Typer's, with flags shown without a value type and the
    commands of :data:`COMMANDS` built on first use."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # The app registers no command with Typer (that would build every command, options
        # and all, on every run); the group builds the one it is asked for.
        self.commands = LazyCommands(COMMANDS)

    def get_params(self, ctx: Any) -> list[Any]:
        return _blank_flag_metavars(super().get_params(ctx))

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names only: building them is for who asks for one

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if ctx.meta.get(LISTING_KEY) and isinstance(self.commands, LazyCommands):
            return self.commands.summary(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        # The command list of `segstats --help` shows each command's name and help text
        # only: the summaries skip building their options (Typer's parameters, type hints:
        # ~25 ms of the ~0.35 s of a --help process for five commands).
        ctx.meta[LISTING_KEY] = True
        try:
            super().format_help(ctx, formatter)
        finally:
            del ctx.meta[LISTING_KEY]


class LazyCommands(MutableMapping[str, Any]):
    """The group's commands by name, in :data:`COMMANDS` order; a command is built (its
    module imported, its options made) when first looked up."""

    def __init__(self, table: tuple[tuple[str, str], ...]) -> None:
        self._targets = dict(table)
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = build_command(name, self._targets[name])  # KeyError: no such command
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:  # click's add_command: built already
        self._targets.setdefault(name, "")  # no target: never built here
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._targets[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def summary(self, name: str) -> Any:
        """A stand-in for listing ``name`` in the group's --help: its name and help text, no
        options (the built command when there is one already). None: no such command."""
        if name in self._built or not self._targets.get(name):
            return self._built.get(name)
        module, _, function = self._targets[name].partition(":")
        # The help text Typer gives a command with no help= of its own: the docstring.
        text = inspect.getdoc(getattr(importlib.import_module(module), function))
        return TyperCommand(name=name, help=text)

    def __len__(self) -> int:
        return len(self._targets)


def debug_enabled() -> bool:
    """--debug given, or ``SEGSTATS_DEBUG`` set (not to 0): errors show their traceback."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def report_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map every failure of a command to one line on stderr and an exit code.

    SegstatsError: its ``exit_code`` (2); Ctrl-C: 130; SIGTERM: 143; anything else
    is a bug: exit 1, with the traceback under --debug or ``SEGSTATS_DEBUG=1``.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("debug"):
            os.environ[DEBUG_ENV] = "1"
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except SegstatsError as exc:
            if debug_enabled():
                traceback.print_exc()
            Messages().error(str(exc))  # Messages escapes control characters and odd bytes
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            Messages().error("interrupted")
            raise typer.Exit(EXIT_SIGINT) from None
        except Terminated:
            Messages().error("terminated")
            raise typer.Exit(EXIT_SIGTERM) from None
        except Exception as exc:  # a bug: still one line, traceback on request
            if debug_enabled():
                traceback.print_exc()
            Messages().error(
                f"internal error: {type(exc).__name__}: {exc} "
                f"(run with --debug or {DEBUG_ENV}=1 for the traceback)"
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"segstats {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="segstats",
    help="Exact class statistics and class weights for semantic-segmentation labels.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=Group,
)


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


@functools.cache
def command_function(target: str) -> Callable[..., Any]:
    """The function ``"module:function"`` names, option groups expanded and errors mapped
    (once per process: every run of the app in a test reuses it)."""
    module, _, name = target.partition(":")
    return report_errors(expand_option_groups(getattr(importlib.import_module(module), name)))


def build_command(name: str, target: str) -> Any:
    """The Typer command ``segstats <name>`` running ``target`` (``"module:function"``).

    Built as Typer builds a group's command: a one-command app without completion
    options gives the same command (Typer's public ``get_command``).
    """
    single = typer.Typer(add_completion=False)
    single.command(name, cls=Command)(command_function(target))
    return typer.main.get_command(single)


def main() -> None:
    """Console entry point (``segstats`` and ``python -m segstats``); the process ends after it."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        app(prog_name="segstats")  # also under python -m: help and shell completion say segstats
    except KeyboardInterrupt:  # raised outside a command (e.g. while importing)
        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_SIGINT)
    except Terminated:
        sys.stderr.write("error: terminated\n")
        sys.exit(EXIT_SIGTERM)
    finally:
        # At exit Python frees what is left, and whatever sits in a reference cycle (every
        # class, module and function of numpy, typer and segstats) only the cycle collector
        # frees: ~30 ms, a tenth of a short run. Frozen objects are left to the OS instead
        # (gc.freeze, as fork servers use it); refcounting, atexit handlers, flushes, thread
        # joins and file closes still run as before.
        gc.freeze()
