"""A CLI that behaves like the tools people like: --version, shell completion, --quiet,
colour only on a terminal (and never with NO_COLOR), --json wherever a table is
printed, and an example in every command's --help. Commands are introspected from
the click app, so a new command or option is covered without editing this file."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import numpy as np
import pytest
import typer
from labelmasks import write_mask
from typer.testing import CliRunner

from segstats._version import __version__
from segstats.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "sample_masks")
runner = CliRunner()
GROUP = typer.main.get_command(app)
COMMANDS = sorted(name for name, command in GROUP.commands.items() if not command.hidden)
# An ANSI SGR sequence (colour, bold); cursor moves of the progress bar are not colour.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def options_of(name: str) -> set[str]:
    return {opt for param in GROUP.commands[name].params for opt in param.opts}


@pytest.fixture
def invocations(tmp_path):
    """A working invocation of every command (no stdout redirection needed)."""
    shards = [str(tmp_path / f"shard{index}.json") for index in range(2)]
    for index, shard in enumerate(shards):  # merge refuses one document twice: two shards
        scanned = runner.invoke(app, ["scan", SAMPLES, "-k", "3", "--shard", f"{index}/2", "-o", shard])
        assert scanned.exit_code == 0, scanned.output
    return {
        "weights": ["weights", SAMPLES, "-k", "3"],
        "scan": ["scan", SAMPLES, "-k", "3", "-o", str(tmp_path / "again.json")],
        "merge": ["merge", *shards, "-o", str(tmp_path / "merged.json")],
        "audit": ["audit", SAMPLES, "-k", "3"],
        "sample": ["sample", SAMPLES, "-k", "3"],
    }


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"segstats {__version__}\n"


def test_shell_completion_is_enabled_and_in_help():
    help_text = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "--install-completion" in help_text and "--show-completion" in help_text
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="segstats")
    assert script.exit_code == 0 and "_SEGSTATS_COMPLETE=complete_bash" in script.output
    env = {"_SEGSTATS_COMPLETE": "complete_bash", "COMP_WORDS": "segstats au", "COMP_CWORD": "1"}
    assert runner.invoke(app, [], env=env, prog_name="segstats").output.split() == ["audit"]
    env.update(COMP_WORDS="segstats audit --so", COMP_CWORD="2")
    assert runner.invoke(app, [], env=env, prog_name="segstats").output.split() == ["--sort"]


def test_python_m_is_named_segstats():
    result = subprocess.run(
        [sys.executable, "-m", "segstats", "--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT, COLUMNS="200"),
        timeout=60,
    )
    assert "Usage: segstats [OPTIONS] COMMAND" in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_an_example(name):
    result = runner.invoke(app, [name, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    assert re.search(rf"Example: segstats {name} ", result.output), result.output


def test_every_command_has_quiet_and_it_silences_stderr(invocations):
    assert sorted(invocations) == COMMANDS, "add an invocation of the new command to the fixture"
    for name, args in invocations.items():
        assert {"--quiet", "-q"} <= options_of(name), f"segstats {name} has no --quiet/-q"
        loud = runner.invoke(app, args)
        quiet = runner.invoke(app, [*args, "--quiet"])
        assert loud.exit_code == quiet.exit_code == 0, quiet.output
        assert loud.stderr, f"segstats {name} says nothing on stderr even without --quiet"
        assert quiet.stderr == "", f"segstats {name} --quiet still wrote: {quiet.stderr!r}"
        assert quiet.stdout == loud.stdout  # --quiet changes stderr only
    errors = runner.invoke(app, ["weights", "/nonexistent-dir-for-segstats", "-q"])
    assert errors.exit_code == 2 and "error:" in errors.stderr  # errors still reach stderr


def test_json_wherever_a_table_is_printed(invocations):
    """A command whose stdout is neither empty nor JSON prints a table: it must take --json."""
    for name, args in invocations.items():
        stdout = runner.invoke(app, [*args, "-q"]).stdout
        try:
            json.loads(stdout or "null")
            continue
        except json.JSONDecodeError:
            pass
        assert "--json" in options_of(name), f"segstats {name} prints a table but has no --json"
        as_json = runner.invoke(app, [*args, "-q", "--json"])
        assert as_json.exit_code == 0 and isinstance(json.loads(as_json.stdout), dict)


def run_with_stderr_on(stderr_kind: str, env_extra: dict[str, str], folder: str) -> str:
    """Run `segstats weights` (which warns in colour) with stderr on a pty or a pipe."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(PYTHONPATH=ROOT, TERM="xterm-256color", **env_extra)
    args = [sys.executable, "-m", "segstats", "weights", folder, "-k", "3"]
    if stderr_kind == "pipe":
        return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120).stderr
    leader, follower = pty.openpty()
    try:
        process = subprocess.run(args, stdout=subprocess.PIPE, stderr=follower, env=env, timeout=120)
        assert process.returncode == 0
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(leader)


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    write_mask(folder / "a.png", np.array([[0, 1], [1, 0]]), "L")  # class 2 absent: a warning
    on_terminal = run_with_stderr_on("pty", {}, str(folder))
    assert "warning:" in on_terminal and ANSI.search(on_terminal), on_terminal
    no_color = run_with_stderr_on("pty", {"NO_COLOR": "1"}, str(folder))
    assert "warning:" in no_color and not ANSI.search(no_color), no_color
    piped = run_with_stderr_on("pipe", {}, str(folder))
    assert "warning:" in piped and not ANSI.search(piped), piped
