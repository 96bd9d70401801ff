"""The CLI's layout and help texts: choices generated from segstats.choices (and agreeing with
the library's registries), flags without a value type, help shown as written, counted nouns,
and the file plan shared by the CLI and segstats.scan."""

from __future__ import annotations

import inspect
import re

import pytest
import typer
from typer.testing import CliRunner

import segstats
from segstats import audit, choices, cluster, decoders, findings, sampling, weights, writers
from segstats.api import FilePlan, plan_files
from segstats.cli import app
from segstats.cli._common import LabelArgs, ReadArgs, expand_option_groups
from segstats.cli._console import Messages, plural
from segstats.errors import UsageError

runner = CliRunner()
GROUP = typer.main.get_command(app)
WIDE = {"COLUMNS": "300"}


def help_of(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("choice_type", "registry"),
    [
        (choices.Method, tuple(weights.METHODS)),
        (choices.Normalize, weights.NORMALIZATIONS),
        (choices.WeightsFormat, writers.FORMATS),
        (choices.Decoder, tuple(decoders.DECODERS)),
        (choices.Backend, cluster.BACKENDS),
        (choices.SortKey, audit.SORT_KEYS),
        (choices.FindingKind, tuple(findings.FINDING_KINDS)),
        (choices.SampleMethod, tuple(method.value for method in sampling.SamplingMethod)),
    ],
)
def test_choices_agree_with_the_library(choice_type, registry):
    assert choices.choices_of(choice_type) == tuple(registry)


@pytest.mark.parametrize(
    ("command", "option", "choice_type"),
    [
        ("weights", "--method", choices.Method),
        ("weights", "--normalize", choices.Normalize),
        ("weights", "--format", choices.WeightsFormat),
        ("weights", "--decoder", choices.Decoder),
        ("scan", "--backend", choices.Backend),
        ("audit", "--sort", choices.SortKey),
        ("audit", "--allow", choices.FindingKind),
        ("sample", "--method", choices.SampleMethod),
    ],
)
def test_choice_help_and_completion_list_every_choice(command, option, choice_type):
    names = choices.choices_of(choice_type)
    [param] = [p for p in GROUP.commands[command].params if option in p.opts]
    assert all(name in param.help for name in names), param.help
    env = {"_SEGSTATS_COMPLETE": "complete_bash", "COMP_CWORD": "3"}
    env["COMP_WORDS"] = f"segstats {command} {option} "
    completed = runner.invoke(app, [], env=env, prog_name="segstats").output.split()
    assert completed == list(names)
    env["COMP_WORDS"] = f"segstats {command} {option} {names[-1][:2]}"
    completed = runner.invoke(app, [], env=env, prog_name="segstats").output.split()
    assert completed == [name for name in names if name.startswith(names[-1][:2])]


@pytest.mark.parametrize("command", [None, *sorted(GROUP.commands)])
def test_flags_show_no_value_type(command):
    text = help_of(*([command] if command else []))
    assert "--help" in text and "<bool>" not in text, text


def test_help_is_shown_as_written():
    """Help texts are not rich markup: every [bracketed] word of an option's help survives."""
    for name, command in GROUP.commands.items():
        text = help_of(name)
        for param in command.params:
            for word in re.findall(r"\[\w+\]", (param.help or "").replace("\\[", "[")):
                assert word in text, (name, param.opts, word)
    assert "needs segstats[plot]" in help_of("audit")


def test_merge_counts_documents_in_singular_and_plural(tmp_path):
    stats = tmp_path / "stats.json"
    assert runner.invoke(app, ["scan", "sample_masks", "-k", "3", "-o", str(stats)]).exit_code == 0
    one = runner.invoke(app, ["merge", str(stats), "-o", str(tmp_path / "one.json")])
    assert one.exit_code == 0 and "merged 1 document: 40 images, " in one.stderr, one.stderr
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for index, path in enumerate((a, b)):
        args = ["scan", "sample_masks", "-k", "3", "--shard", f"{index}/2", "-o", str(path)]
        assert runner.invoke(app, args).exit_code == 0
    two = runner.invoke(app, ["merge", str(a), str(b), "-o", str(tmp_path / "two.json")])
    assert two.exit_code == 0 and "merged 2 documents: 40 images, " in two.stderr, two.stderr


def test_plural():
    assert [plural(n, "file") for n in (0, 1, 2, 1234)] == ["0 files", "1 file", "2 files", "1,234 files"]
    assert plural(1, "class", "classes") == "1 class" and plural(3, "class", "classes") == "3 classes"


# ----------------------------------------------------------------- plan_files, shared with scan
def test_plan_files_discovers_then_shards():
    every = segstats.discover("sample_masks")
    plan = plan_files("sample_masks")
    assert plan == FilePlan(every, len(every), None)
    third = plan_files("sample_masks", shard="1/3")
    assert third.files == every[1::3] and third.found == len(every) and third.shard == (1, 3)
    given = plan_files("ignored", files=every[:5], shard=(0, 2))
    assert given.files == every[0:5:2] and given.found == 5


def test_plan_files_refuses_a_bad_shard_before_listing():
    with pytest.raises(UsageError, match="--shard"):
        plan_files("/nonexistent-dir-for-segstats", shard="3/3")


def test_scan_of_a_plan_equals_scan_of_the_paths():
    plan = plan_files("sample_masks", shard="0/4")
    by_plan = segstats.scan(plan, num_classes=3)
    by_paths = segstats.scan("sample_masks", num_classes=3, shard="0/4")
    assert by_plan.to_dict() == by_paths.to_dict() and by_plan.num_images == 10
    with pytest.raises(ValueError, match="plan_files"):
        segstats.scan(plan, shard="0/2")


def test_cli_empty_shard_without_k_says_why(tmp_path):
    """The CLI now goes through the API's plan, so an empty shard gets the API's message."""
    out = tmp_path / "s.json"
    result = runner.invoke(app, ["scan", "sample_masks", "--shard", "40/41", "-o", str(out)])
    assert result.exit_code == 2 and "holds no files; pass --num-classes" in result.stderr, result.stderr
    assert not out.exists()


# ----------------------------------------------------------------- adding a command or an option
def test_option_groups_expand_into_options_and_back():
    seen = {}

    def command(paths: list[str] | None = None, *, labels: LabelArgs, read: ReadArgs, messages: Messages):
        seen.update(labels=labels, read=read, messages=messages)

    wrapped = expand_option_groups(command)
    names = list(inspect.signature(wrapped).parameters)
    assert names[:3] == ["paths", "num_classes", "ignore_index"] and names[-2:] == ["quiet", "debug"]
    defaults = {name: p.default for name, p in inspect.signature(wrapped).parameters.items()}
    wrapped(**{**defaults, "num_classes": 4, "shard": "0/2", "quiet": True})
    assert seen["labels"] == LabelArgs(num_classes=4) and seen["read"] == ReadArgs(shard="0/2")
    assert seen["messages"].quiet


def test_an_option_defined_twice_is_refused():
    def command(*, labels: LabelArgs, num_classes: int | None = None) -> None: ...

    with pytest.raises(TypeError, match="num_classes"):
        expand_option_groups(command)


def test_every_command_reports_errors_in_one_line(tmp_path):
    for name, command in GROUP.commands.items():
        args = [name, "/nonexistent-dir-for-segstats"]
        if any("--output" in param.opts for param in command.params):
            args += ["--output", str(tmp_path / "x.json")]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (name, result.output)
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
        assert "/nonexistent-dir-for-segstats" in result.stderr


def test_the_command_list_of_help_needs_no_command_built(monkeypatch):
    """`segstats --help` lists each command from its docstring without building its options,
    and shows exactly what the built commands show."""
    from segstats.cli import _app

    summaries = _app.LazyCommands(_app.COMMANDS)
    for name, target in _app.COMMANDS:
        module, _, function = target.partition(":")
        summary = summaries.summary(name)
        assert summary.name == name and summary.params == []
        assert summary.help == inspect.getdoc(getattr(__import__(module, fromlist=[function]), function))
    assert summaries.summary("nope") is None
    listed = runner.invoke(app, ["--help"], env=WIDE)
    # The same help with every command built in full (what Typer draws without the summaries).
    monkeypatch.setattr(_app.LazyCommands, "summary", _app.LazyCommands.__getitem__)
    built = runner.invoke(app, ["--help"], env=WIDE)
    assert listed.exit_code == built.exit_code == 0
    assert listed.output == built.output
    assert all(f"│ {name} " in listed.output for name, _ in _app.COMMANDS)
