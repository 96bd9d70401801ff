"""Target values checked on the target's device (one torch._assert_async, no host sync)
and C = 1 refused by every multiclass loss, naming the binary alternative."""

from __future__ import annotations

import pytest
import torch

import segstats.losses as L

IGNORE = 255
# name -> a call of a multiclass loss with ignore_index=IGNORE
MULTICLASS = {
    "cross_entropy": lambda x, y: L.cross_entropy(x, y, ignore_index=IGNORE),
    "cross_entropy_none": lambda x, y: L.cross_entropy(x, y, ignore_index=IGNORE, reduction="none"),
    "focal": lambda x, y: L.focal_loss(x, y, ignore_index=IGNORE),
    "ohem": lambda x, y: L.ohem_cross_entropy(x, y, ignore_index=IGNORE, min_kept=4),
    "ohem_top_k": lambda x, y: L.ohem_cross_entropy(x, y, ignore_index=IGNORE, top_k=0.5),
    "dice": lambda x, y: L.dice_loss(x, y, ignore_index=IGNORE),
    "jaccard": lambda x, y: L.jaccard_loss(x, y, ignore_index=IGNORE, per_image=True),
    "tversky": lambda x, y: L.tversky_loss(x, y, ignore_index=IGNORE),
    "focal_tversky": lambda x, y: L.FocalTverskyLoss(ignore_index=IGNORE)(x, y),
    "combo": lambda x, y: L.ComboLoss({"ce": 1.0, "dice": 1.0}, ignore_index=IGNORE)(x, y),
    "module_ce": lambda x, y: L.CrossEntropyLoss(ignore_index=IGNORE)(x, y),
    "module_focal": lambda x, y: L.FocalLoss(ignore_index=IGNORE)(x, y),
    "module_ohem": lambda x, y: L.OhemCrossEntropyLoss(ignore_index=IGNORE, min_kept=4)(x, y),
    "module_dice": lambda x, y: L.DiceLoss(ignore_index=IGNORE)(x, y),
}
# name -> a call of a binary / multilabel loss with ignore_index=IGNORE
BINARY = {
    "binary_focal": lambda x, t: L.binary_focal_loss(x, t, ignore_index=IGNORE),
    "binary_focal_module": lambda x, t: L.BinaryFocalLoss(ignore_index=IGNORE)(x, t),
    "dice_binary": lambda x, t: L.dice_loss(x, t, mode="binary", ignore_index=IGNORE),
    "dice_multilabel": lambda x, t: L.dice_loss(x, t, mode="multilabel", ignore_index=IGNORE),
    "jaccard_multilabel": lambda x, t: L.JaccardLoss(mode="multilabel", ignore_index=IGNORE)(x, t),
    "tversky_multilabel": lambda x, t: L.tversky_loss(x, t, mode="multilabel", ignore_index=IGNORE),
}


def _multiclass(c: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(2, c, 4, 5, dtype=torch.float64)
    y = torch.randint(0, c, (2, 4, 5))
    y[0, 0, 0] = IGNORE
    return x, y


@pytest.mark.parametrize("bad", [7, 3, -1])
@pytest.mark.parametrize("name", MULTICLASS)
def test_multiclass_target_outside_the_classes_is_an_error(name, bad):
    x, y = _multiclass()
    assert torch.isfinite(MULTICLASS[name](x, y)).all()
    y[1, 2, 3] = bad
    with pytest.raises(ValueError, match=rf"target contains {bad}, which is neither a class in \[0, 3\)"):
        MULTICLASS[name](x, y)


@pytest.mark.parametrize("bad", [2.0, -0.5, float("nan"), 1.5])
@pytest.mark.parametrize("name", BINARY)
def test_binary_target_outside_zero_one_is_an_error(name, bad):
    channels = 1 if name.endswith(("binary", "focal", "module")) else 3
    x = torch.randn(2, channels, 4, 5, dtype=torch.float64)
    t = torch.randint(0, 2, x.shape).to(x.dtype)
    t[0, 0, 0, 0] = IGNORE
    assert torch.isfinite(BINARY[name](x, t))
    t[1, -1, 2, 3] = bad
    with pytest.raises(ValueError, match=rf"target contains {bad}, which is not in \[0, 1\]"):
        BINARY[name](x, t)


def test_the_check_is_the_device_assert(monkeypatch):
    # The CPU error comes from the same torch._assert_async call that runs on CUDA:
    # with that call made a no-op, the bad targets go through unchecked.
    calls: list[torch.device] = []
    real = torch._assert_async

    def spy(ok: torch.Tensor, message: str) -> None:
        assert ok.dtype == torch.bool and ok.numel() == 1
        calls.append(ok.device)
        real(ok, message)

    x, y = _multiclass()
    y[1, 2, 3] = 7
    xb, tb = torch.randn(2, 1, 4, 5), torch.full((2, 1, 4, 5), 2.0)
    monkeypatch.setattr(torch, "_assert_async", spy)
    with pytest.raises(ValueError, match="target contains 7"):
        L.focal_loss(x, y, ignore_index=IGNORE)
    with pytest.raises(ValueError, match="target contains 2.0"):
        L.binary_focal_loss(xb, tb)
    assert calls == [torch.device("cpu")] * 2
    monkeypatch.setattr(torch, "_assert_async", lambda ok, message: None)
    y[1, 2, 3] = -1
    try:
        L.dice_loss(x, y, ignore_index=IGNORE)
    except RuntimeError as exc:  # CPU gather's own error, past our check
        assert "out of bounds" in str(exc)
    assert torch.isfinite(L.binary_focal_loss(xb, tb))  # the silent garbage of before


def test_check_runs_on_meta_without_reading_values():
    # meta tensors have no data: any host read (.item(), bool(), nonzero) raises there
    x = torch.randn(2, 3, 4, 5, device="meta", requires_grad=True)
    y = torch.full((2, 4, 5), 7, device="meta")
    for name in MULTICLASS:
        MULTICLASS[name](x, y)
    t = torch.empty(2, 3, 4, 5, device="meta")
    for name in ("dice_multilabel", "tversky_multilabel"):
        BINARY[name](x, t)


def test_ignore_index_none_and_integer_dtypes():
    x, y = _multiclass()
    y[0, 0, 0] = 2
    for dtype in (torch.uint8, torch.int16, torch.int32, torch.int64):
        assert torch.isfinite(L.cross_entropy(x, y.to(dtype), ignore_index=None))
    y[0, 0, 0] = IGNORE
    with pytest.raises(ValueError, match=r"target contains 255, .*ignore_index=None"):
        L.focal_loss(x, y.to(torch.uint8), ignore_index=None)
    with pytest.raises(ValueError, match=r"target contains -100, .*ignore_index=None"):
        L.ohem_cross_entropy(x, torch.full_like(y, -100), ignore_index=None)
    # bool binary targets are 0 / 1 by their type
    t = torch.rand(2, 1, 4, 5) > 0.5
    assert torch.isfinite(L.dice_loss(torch.randn(2, 1, 4, 5), t, mode="binary"))


@pytest.mark.parametrize(
    ("name", "alternative"),
    [
        ("cross_entropy", "binary_cross_entropy_with_logits"),
        ("cross_entropy_none", "binary_cross_entropy_with_logits"),
        ("module_ce", "binary_cross_entropy_with_logits"),
        ("focal", "binary_focal_loss"),
        ("module_focal", "BinaryFocalLoss"),
        ("ohem", "binary_focal_loss"),
        ("ohem_top_k", "binary_focal_loss"),
        ("module_ohem", "binary_focal_loss"),
        ("dice", "mode='binary'"),
        ("jaccard", "mode='binary'"),
        ("tversky", "mode='binary'"),
        ("focal_tversky", "mode='binary'"),
        ("module_dice", "mode='binary'"),
        ("combo", "dice_loss\\(x, t, mode='binary'\\)"),
    ],
)
def test_one_class_is_refused_naming_the_binary_form(name, alternative):
    # a softmax over one class is 1: each of these returned 0 with zero gradients
    x, y = _multiclass(c=1)
    with pytest.raises(ValueError, match=rf"one class \(shape \(2, 1, 4, 5\)\).*{alternative}"):
        MULTICLASS[name](x, y)


def test_two_classes_still_work():
    x, y = _multiclass(c=2)
    for name in MULTICLASS:
        assert torch.isfinite(MULTICLASS[name](x, y)).all()
