"""The README cannot drift from the code.

- Every framework recipe (the ``### ...`` subsections of "## Framework recipes") is
  run here: its ``$ segstats ...`` lines through the CLI, its files (a block whose
  first line is ``# path``) written, its Python blocks executed, in a fresh folder
  holding ``sample_masks``. Each test then checks what the framework would do with
  the objects the recipe built.
- Every command and every option of the CLI (introspected from the click app)
  appears in the README.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from segstats.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
runner = CliRunner()
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


# ----------------------------------------------------------------- extracting the recipes
def section(text: str, heading: str) -> str:
    """The body of the markdown section ``heading``, up to the next heading of its level or
    above (``#`` lines inside fenced code blocks are not headings)."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines(keepends=True)
    start = lines.index(heading + "\n") + 1
    fenced = False
    for stop in range(start, len(lines)):
        line = lines[stop]
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", line):
            return "".join(lines[start:stop])
    return "".join(lines[start:])


def recipe_blocks(name: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block of the recipe ``### name``."""
    recipes = section(README, "## Framework recipes")
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(section(recipes, f"### {name}"))]


def run_recipe(name: str, folder: Path) -> dict:
    """Run recipe ``name`` in ``folder`` and return the namespace its Python blocks left."""
    os.symlink(ROOT / "sample_masks", folder / "sample_masks")
    namespace: dict = {"__name__": f"readme_recipe_{name}"}
    blocks = recipe_blocks(name)
    assert blocks, f"README has no code blocks under '### {name}'"
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for language, code in blocks:
            first = code.splitlines()[0]
            if language == "console":
                for line in code.splitlines():
                    if line.startswith("$ "):
                        run_console_line(line[2:])
            elif first.startswith("# ") and "/" in first and " " not in first[2:]:
                path = Path(first[2:])
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(code, encoding="utf-8")
                if language == "python":
                    exec(compile(code, str(path), "exec"), namespace)
            elif language == "python":
                exec(compile(code, f"README recipe {name}", "exec"), namespace)
            else:
                raise AssertionError(f"recipe {name}: unexpected {language!r} block:\n{code}")
    finally:
        os.chdir(cwd)
    return namespace


def run_console_line(line: str) -> None:
    words = shlex.split(line)
    if words[0] == "segstats":
        result = runner.invoke(app, words[1:])
        assert result.exit_code == 0, f"$ {line}\n{result.output}"
    elif words[:2] == ["mkdir", "-p"]:
        for path in words[2:]:
            Path(path).mkdir(parents=True, exist_ok=True)
    else:
        raise AssertionError(f"README recipe runs an unknown command: $ {line}")


def sample_weights() -> np.ndarray:
    """Median-frequency weights of sample_masks, computed here from the pixels."""
    from PIL import Image

    arrays = [np.asarray(Image.open(p)) for p in sorted((ROOT / "sample_masks").glob("*.png"))]
    pixels = np.array([sum(int((a == c).sum()) for a in arrays) for c in range(3)])
    image_pixels = np.array([sum(a.size for a in arrays if (a == c).any()) for c in range(3)])
    frequency = pixels / image_pixels
    return np.median(frequency) / frequency


def test_recipe_blocks_are_found():
    names = re.findall(r"^### (.+)$", section(README, "## Framework recipes"), re.M)
    assert names == [
        "Plain PyTorch",
        "mmsegmentation",
        "PyTorch Lightning",
        "Hydra / OmegaConf",
        "torchgeo",
        "Sampling images: plain PyTorch",
        "Repeat factors (detectron2 style)",
        "Rare class sampling (mmsegmentation, DAFormer)",
    ]


# ----------------------------------------------------------------- the recipes
def test_plain_pytorch_recipe(tmp_path):
    ns = run_recipe("Plain PyTorch", tmp_path)
    expected = sample_weights()
    np.testing.assert_allclose(ns["criterion"].weight.numpy(), expected, rtol=1e-6)
    assert ns["criterion"].weight.dtype == torch.float32
    np.testing.assert_allclose(ns["focal"].weight.numpy(), expected, rtol=1e-6)
    assert ns["logits"].grad is not None and torch.isfinite(ns["loss"])
    # nn.CrossEntropyLoss with the file's weights == the weighted formula, by hand
    logits, labels = ns["logits"].detach(), ns["labels"]
    log_p = torch.log_softmax(logits.double(), 1).gather(1, labels[:, None])[:, 0]
    w = torch.tensor(expected)[labels]
    by_hand = -(w * log_p).sum() / w.sum()
    assert ns["criterion"](logits, labels).item() == pytest.approx(by_hand.item(), rel=1e-5)


def mmseg_get_class_weight(class_weight):
    """What mmseg's ``get_class_weight`` does with a path (mmseg/models/losses/utils.py):
    ``.npy`` through numpy.load, any other file through mmengine's loader, which picks
    a handler by suffix (json.load for .json, yaml for .yaml/.yml). mmseg is not
    installed here (it needs mmcv and mmengine's compiled stack), so this mirrors it."""
    if isinstance(class_weight, str):
        if class_weight.endswith(".npy"):
            return np.load(class_weight)
        with open(class_weight, encoding="utf-8") as handle:
            if class_weight.endswith(".json"):
                return json.load(handle)
            import yaml

            return yaml.safe_load(handle)
    return class_weight


def test_mmsegmentation_recipe(tmp_path, monkeypatch):
    ns = run_recipe("mmsegmentation", tmp_path)
    monkeypatch.chdir(tmp_path)
    loss_cfg = ns["model"]["decode_head"]["loss_decode"]
    expected = sample_weights()
    logits = torch.randn(2, 3, 8, 8)
    for path in (loss_cfg["class_weight"], "class_weight.json"):  # the config's and the alternative
        loaded = mmseg_get_class_weight(path)
        weight = logits.new_tensor(loaded)  # what mmseg's CrossEntropyLoss does with it
        assert weight.shape == (3,)
        np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-6)
    # the full document (or the .yaml mapping) would not do: mmseg would get a dict
    for other in ("doc.json", "doc.yaml"):
        assert runner.invoke(app, ["weights", "sample_masks", "-k", "3", "-o", other]).exit_code == 0
        with pytest.raises((TypeError, ValueError)):
            logits.new_tensor(mmseg_get_class_weight(other))


def test_pytorch_lightning_recipe(tmp_path, monkeypatch):
    L = pytest.importorskip("lightning")
    ns = run_recipe("PyTorch Lightning", tmp_path)
    monkeypatch.chdir(tmp_path)
    from PIL import Image

    files = sorted((ROOT / "sample_masks").glob("*.png"))[:4]
    labels = torch.stack([torch.from_numpy(np.asarray(Image.open(p), dtype=np.int64)) for p in files])
    images = torch.randn(labels.shape[0], 1, *labels.shape[1:])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=2)
    model = ns["SegModel"]()
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    before = model.net.weight.detach().clone()
    trainer.fit(model, loader)
    assert trainer.state.finished and trainer.global_step == 2
    assert not torch.equal(before, model.net.weight.detach())  # it trained
    np.testing.assert_allclose(model.criterion.weight.numpy(), sample_weights(), rtol=1e-6)
    assert "criterion.weight" in model.state_dict()  # saved with checkpoints


def test_hydra_recipe(tmp_path):
    hydra = pytest.importorskip("hydra")
    from omegaconf import OmegaConf

    ns = run_recipe("Hydra / OmegaConf", tmp_path)
    fitted = []
    ns["fit"] = fitted.append  # the "your training loop" of the recipe
    conf = str(tmp_path / "conf")
    for override, expected in ((None, sample_weights()), ("loss=enet", None)):
        with hydra.initialize_config_dir(config_dir=conf, version_base=None):
            cfg = hydra.compose("config", overrides=[override] if override else [])
        ns["train"].__wrapped__(cfg)  # the function under @hydra.main
        criterion = fitted[-1]
        if expected is not None:
            np.testing.assert_allclose(criterion.weight.numpy(), expected, rtol=1e-6)
    enet = OmegaConf.load(tmp_path / "conf/loss/enet.yaml").class_weight
    np.testing.assert_allclose(fitted[-1].weight.numpy(), list(enet), rtol=1e-6)
    assert not np.allclose(fitted[0].weight.numpy(), fitted[1].weight.numpy())  # the override switched


class _StandInSegmentationTask(torch.nn.Module):
    """Stand-in for torchgeo.trainers.SemanticSegmentationTask: torchgeo needs torchvision,
    which does not import beside the torch of this environment. It keeps the keywords as
    hparams and builds the loss as torchgeo's ``configure_losses`` does for ``loss="ce"``:
    ``nn.CrossEntropyLoss(ignore_index=..., weight=hparams["class_weights"])``."""

    def __init__(self, **hparams):
        super().__init__()
        self.hparams = hparams
        assert hparams["loss"] == "ce"
        ignore_index = hparams.get("ignore_index")
        self.criterion = torch.nn.CrossEntropyLoss(
            ignore_index=-1000 if ignore_index is None else ignore_index, weight=hparams["class_weights"]
        )


def test_torchgeo_recipe(tmp_path, monkeypatch):
    module = type(sys)("torchgeo.trainers")
    module.SemanticSegmentationTask = _StandInSegmentationTask
    monkeypatch.setitem(sys.modules, "torchgeo", type(sys)("torchgeo"))
    monkeypatch.setitem(sys.modules, "torchgeo.trainers", module)
    ns = run_recipe("torchgeo", tmp_path)
    task = ns["task"]
    weights = task.hparams["class_weights"]
    assert isinstance(weights, torch.Tensor) and weights.shape == (task.hparams["num_classes"],)
    np.testing.assert_allclose(task.criterion.weight.numpy(), sample_weights(), rtol=1e-6)
    labels = torch.full((1, 4, 4), 255)
    labels[0, 0, 0] = 2
    logits = torch.randn(1, 3, 4, 4)
    expected = -torch.log_softmax(logits, 1)[0, 2, 0, 0]  # one labelled pixel: the weight cancels
    assert task.criterion(logits, labels).item() == pytest.approx(expected.item(), rel=1e-5)


# ----------------------------------------------------------------- the sampling recipes
def sample_rows(names: list[str] | None = None) -> list:
    """Per-image table rows of sample_masks (or of the files ``names``), counted here from the pixels."""
    from PIL import Image

    from segstats.table import ImageRow

    rows = []
    for path in sorted((ROOT / "sample_masks").glob("*.png")):
        if names is not None and path.name not in names:
            continue
        array = np.asarray(Image.open(path))
        ids = [c for c in range(3) if (array == c).any()]
        pixels = [int((array == c).sum()) for c in ids]
        shown = os.path.join("sample_masks", path.name)
        rows.append(ImageRow(shown, array.shape[1], array.shape[0], 0, np.array(ids), np.array(pixels)))
    return rows


def test_sampling_plain_pytorch_recipe(tmp_path, monkeypatch):
    from segstats.sampling import sampling_weights

    ns = run_recipe("Sampling images: plain PyTorch", tmp_path)
    monkeypatch.chdir(tmp_path)
    expected = sampling_weights(sample_rows(), "class-aware")  # sorted path order
    # the sampler's weights are the file's, put in the dataset's (reversed) order
    assert ns["sampler"].weights.tolist() == expected[::-1].tolist()
    assert ns["sampler"].num_samples == len(ns["dataset"]) == 40
    assert ns["batch"].shape == (4, *ns["dataset"][0].shape)
    # every drawn index is a label of the dataset: a draw of 4000 follows the weights
    generator = torch.Generator().manual_seed(0)
    draws = torch.multinomial(ns["sampler"].weights, 40000, replacement=True, generator=generator)
    share = torch.bincount(draws, minlength=40).double() / 40000
    np.testing.assert_allclose(share.numpy(), expected[::-1] / expected.sum(), atol=0.01)


def test_repeat_factor_recipe(tmp_path):
    from segstats.sampling import sampling_weights

    ns = run_recipe("Repeat factors (detectron2 style)", tmp_path)
    expected = sampling_weights(sample_rows(), "repeat-factor", threshold=0.9)
    # by the formula: class 2 is in 27 of 40 images, classes 0 and 1 in all (0.9 < 1: factor 1)
    by_hand = [math.sqrt(0.9 / (27 / 40)) if 2 in row.class_ids else 1.0 for row in sample_rows()]
    assert expected.tolist() == pytest.approx(by_hand, rel=1e-15)
    assert ns["repeat_factors"].tolist() == expected.tolist()
    assert ns["paths"] == [row.path for row in sample_rows()]
    # stochastic rounding: each image floor(r) or floor(r) + 1 times, on average r times
    counts = []
    generator = torch.Generator().manual_seed(1)
    for _ in range(2000):
        indices = ns["epoch_indices"](ns["repeat_factors"], generator)
        counts.append(torch.bincount(indices, minlength=40))
    counts = torch.stack(counts).double()
    floor = torch.floor(ns["repeat_factors"])
    assert bool(((counts == floor) | (counts == floor + 1)).all())
    np.testing.assert_allclose(counts.mean(0).numpy(), expected, atol=0.05)
    assert not torch.equal(ns["indices"], torch.sort(ns["indices"]).values)  # shuffled


class _StandInRegistry:
    """Stand-in for mmengine's Registry: register_module() as a decorator, build(cfg,
    default_args) that pops ``type`` and calls the class with the rest (mmengine is not
    installed here)."""

    def __init__(self):
        self.modules = {}

    def register_module(self):
        def register(cls):
            self.modules[cls.__name__] = cls
            return cls

        return register

    def build(self, cfg, default_args=None):
        cfg = {**(default_args or {}), **cfg}
        return self.modules[cfg.pop("type")](**cfg)


class _StandInSegDataset:
    """What mmseg's BaseSegDataset builds from ``ann_file``: one entry a line of the file
    (stripped, nothing skipped), ``seg_map_path = join(data_prefix seg_map_path, line +
    seg_map_suffix)``."""

    def __init__(self, ann_file, data_prefix, seg_map_suffix=".png", **_):
        with open(ann_file, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
        self.infos = [
            {"seg_map_path": os.path.join(data_prefix["seg_map_path"], line + seg_map_suffix)}
            for line in lines
        ]

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, index):
        return self.infos[index]


def test_rare_class_sampling_recipe(tmp_path, monkeypatch):
    from segstats.sampling import sampling_weights

    registry_module = type(sys)("mmengine.registry")
    registry_module.DATA_SAMPLERS = _StandInRegistry()
    monkeypatch.setitem(sys.modules, "mmengine", type(sys)("mmengine"))
    monkeypatch.setitem(sys.modules, "mmengine.registry", registry_module)
    ns = run_recipe("Rare class sampling (mmsegmentation, DAFormer)", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert (tmp_path / "mmseg_ext" / "rcs_sampler.py").exists()  # the module custom_imports names
    assert ns["custom_imports"]["imports"] == ["mmseg_ext.rcs_sampler"]
    loader_cfg = ns["train_dataloader"]
    dataset = _StandInSegDataset(**loader_cfg["dataset"])
    # as mmengine's Runner.build_dataloader does: dataset and seed as default arguments
    sampler = registry_module.DATA_SAMPLERS.build(loader_cfg["sampler"], {"dataset": dataset, "seed": 3})
    train = [f"mask_{i:03d}.png" for i in range(0, 40, 2)]
    expected = sampling_weights(sample_rows(train), "rare-class", min_pixels=100)
    assert sampler.weights.tolist() == expected.tolist()  # the ann_file is in sorted order here
    assert expected.sum() == pytest.approx(1.0) and expected.max() > 2 * expected.min()
    sampler.set_epoch(0)
    first = list(sampler)
    assert len(first) == len(sampler) == 20 and first == list(sampler)  # reproducible
    sampler.set_epoch(1)
    assert list(sampler) != first  # a new draw every epoch
    assert set(first) <= set(np.flatnonzero(expected).tolist())  # images with weight 0 never drawn


# ----------------------------------------------------------------- the README knows every option
def cli_surface() -> list[str]:
    """``segstats``, ``segstats CMD`` and ``segstats [CMD] --option`` for every visible option."""
    group = typer.main.get_command(app)
    items = ["segstats"]
    for param in group.params:
        if not getattr(param, "hidden", False):
            items += [f"segstats {opt}" for opt in param.opts if opt.startswith("--")]
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        items.append(f"segstats {name}")
        for param in command.params:
            if getattr(param, "hidden", False) or param.param_type_name != "option":
                continue
            items += [f"segstats {name} {opt}" for opt in param.opts if opt.startswith("--")]
        items.append(f"segstats {name} --help")
    return items


def missing_from(text: str) -> list[str]:
    """Items of :func:`cli_surface` the text does not mention: a command as ``segstats CMD``,
    an option as a code span starting with it (`` `--opt`` or `` `segstats --opt``,
    followed by a space, a backtick or ``=``)."""
    missing = []
    for item in cli_surface():
        last = item.split()[-1]
        if last.startswith("--"):
            found = re.search(r"(`|`segstats )" + re.escape(last) + r"(?=[`\s=])", text) or (
                last == "--help" and "--help" in text
            )
        else:
            found = re.search(re.escape(item) + r"(?![\w-])", text)
        if not found:
            missing.append(item)
    return missing


def test_every_command_and_option_is_in_the_readme():
    missing = missing_from(README)
    assert not missing, "README.md does not mention:\n  " + "\n  ".join(missing)


def test_the_readme_check_can_fail():
    cut = README.replace("`--sort", "`--s0rt").replace("segstats merge", "segstats m3rge")
    assert {"segstats audit --sort", "segstats merge"} <= set(missing_from(cut))


def test_the_summary_line_shown_in_the_readme():
    block = section(README, "### Large label sets: `--sort`, `--limit` and the summary line")
    command, shown = FENCE.search(block).group(2).splitlines()[:2]
    result = subprocess.run(
        [sys.executable, "-m", "segstats", *shlex.split(command)[2:]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1"),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == shown
