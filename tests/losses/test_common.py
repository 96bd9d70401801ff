"""Properties every loss must have: module == functional, all-ignored -> 0 with zero
gradients, autocast (fp16 / bf16) computed in float32, float64 gradcheck, 3D inputs,
buffers that move with .to(), a short training run, and the same on CUDA if present."""

from __future__ import annotations

import pytest
import torch

import segstats.losses as L

IGNORE = 255
C = 3
# name -> (module class, functional, kwargs shared by both, multiclass?)
CASES = {
    "cross_entropy": (L.CrossEntropyLoss, L.cross_entropy, {}, True),
    "focal": (L.FocalLoss, L.focal_loss, {"gamma": 2.0}, True),
    "focal_g05": (L.FocalLoss, L.focal_loss, {"gamma": 0.5}, True),
    "dice": (L.DiceLoss, L.dice_loss, {"smooth": 0.5}, True),
    "dice_log_per_image": (L.DiceLoss, L.dice_loss, {"log_loss": True, "per_image": True}, True),
    "jaccard": (L.JaccardLoss, L.jaccard_loss, {"classes": "all"}, True),
    "tversky": (L.TverskyLoss, L.tversky_loss, {"alpha": 0.3, "beta": 0.7}, True),
    "focal_tversky": (L.FocalTverskyLoss, L.focal_tversky_loss, {}, True),
    "lovasz": (L.LovaszSoftmaxLoss, L.lovasz_softmax_loss, {}, True),
    "lovasz_per_image": (L.LovaszSoftmaxLoss, L.lovasz_softmax_loss, {"per_image": True}, True),
    "ohem": (L.OhemCrossEntropyLoss, L.ohem_cross_entropy, {"min_kept": 8}, True),
    "ohem_top_k": (L.OhemCrossEntropyLoss, L.ohem_cross_entropy, {"top_k": 0.5, "min_kept": 0}, True),
    "combo": (L.ComboLoss, L.combo_loss, {"terms": {"ce": 1.0, "dice": 0.5}}, True),
    "binary_focal": (L.BinaryFocalLoss, L.binary_focal_loss, {}, False),
    "dice_multilabel": (L.DiceLoss, L.dice_loss, {"mode": "multilabel"}, False),
    "lovasz_hinge": (L.LovaszHingeLoss, L.lovasz_hinge_loss, {}, False),
}
NAMES = list(CASES)
WEIGHT = [0.5, 1.0, 2.0]


def _make(name, shape=(2, C, 5, 6), dtype=torch.float64, device="cpu"):
    _, _, _, multiclass = CASES[name]
    x = torch.randn(*shape, dtype=dtype, device=device)
    if multiclass:
        y = torch.randint(0, shape[1], (shape[0], *shape[2:]), device=device)
    else:
        y = torch.randint(0, 2, shape, device=device).to(dtype)
    return x, y


def _module(name, **extra):
    cls, _, kwargs, _ = CASES[name]
    args = {**kwargs, "weight": WEIGHT, "ignore_index": IGNORE, **extra}
    if cls is L.ComboLoss:
        return cls(args.pop("terms"), **args)
    return cls(**args)


@pytest.mark.parametrize("name", NAMES)
def test_module_equals_functional(name):
    _, fn, kwargs, _ = CASES[name]
    x, y = _make(name)
    y[0, 0] = IGNORE
    module = _module(name)
    ref = fn(x, y, weight=torch.tensor(WEIGHT, dtype=x.dtype), ignore_index=IGNORE, **kwargs)
    torch.testing.assert_close(module(x, y), ref)


@pytest.mark.parametrize("name", NAMES)
def test_all_ignored_is_zero_with_zero_grad(name):
    x, y = _make(name)
    y.fill_(IGNORE)
    x.requires_grad_(True)
    loss = _module(name)(x, y)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("name", NAMES)
def test_empty_spatial_is_zero(name):
    x, y = _make(name, shape=(2, C, 0, 4))
    assert _module(name)(x, y).item() == 0.0


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_is_zero_with_zero_grad(name, per_image):
    # N = 0 (e.g. the last, empty shard of a split batch): 0.0, not a reshape error
    x, y = _make(name, shape=(0, C, 4, 4))
    x.requires_grad_(True)
    extra = {"per_image": True} if per_image and "per_image" in _module(name).__dict__ else {}
    loss = _module(name, **extra)(x, y)
    loss.backward()
    assert loss.item() == 0.0
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("target_dtype", [torch.uint8, torch.int16, torch.int32])
@pytest.mark.parametrize("name", [n for n in NAMES if CASES[n][3]])
def test_any_integer_target_dtype(name, target_dtype):
    # label masks are usually read as uint8 (or int32 from numpy): same numbers as int64
    x, y = _make(name)
    y[0, 0] = IGNORE
    module = _module(name)
    torch.testing.assert_close(module(x, y.to(target_dtype)), module(x, y))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", NAMES)
def test_autocast_runs_in_float32(name, dtype):
    x, y = _make(name, dtype=torch.float32)
    conv = torch.nn.Conv2d(C, C, 1)
    loss_fn = _module(name)
    try:
        with torch.autocast("cpu", dtype=dtype):
            out = conv(x)
            loss = loss_fn(out, y)
    except RuntimeError as exc:  # a torch build without CPU autocast for this dtype
        pytest.skip(f"CPU autocast {dtype} unavailable: {exc}")
    assert out.dtype == dtype
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters())
    torch.testing.assert_close(loss, loss_fn(out.detach().float(), y))
    # half logits without autocast are upcast too
    assert loss_fn(out.detach(), y).dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name):
    x, y = _make(name, shape=(2, C, 3, 3))
    y[0, 0, 0] = IGNORE
    x.requires_grad_(True)
    loss_fn = _module(name)
    assert loss_fn(x, y).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda t: loss_fn(t, y), (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_3d_equals_flattened_2d(name):
    x, y = _make(name, shape=(2, C, 3, 4, 5))
    y[1, 0] = IGNORE
    loss_fn = _module(name)
    loss3d = loss_fn(x, y)
    y2 = y.reshape(*y.shape[:-3], 12, 5) if y.ndim == 4 else y.reshape(2, C, 12, 5)
    torch.testing.assert_close(loss3d, loss_fn(x.reshape(2, C, 12, 5), y2))


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_no_host_sync_in_forward_and_backward(name, per_image):
    # The meta device has no data: an op whose output shape or control flow depends on
    # the values (.item(), bincount, nonzero, masked_select ...) cannot run there, and
    # on CUDA each of those is a host synchronisation per call. (CUDA's bincount copies
    # the input's min and max to the host.)
    module = _module(name)
    extra = {"per_image": True} if per_image and "per_image" in module.__dict__ else {}
    module = _module(name, **extra).to("meta")
    x, y = _make(name, dtype=torch.float32)
    x = x.to("meta").requires_grad_(True)
    loss = module(x, y.to("meta"))
    loss.backward()
    assert loss.shape == () and x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("name", NAMES)
def test_to_moves_the_weight_buffer(name):
    module = _module(name)
    assert "weight" in dict(module.named_buffers())
    assert module.to(torch.float64).weight.dtype == torch.float64
    assert module.to("meta").weight.device.type == "meta"
    assert "weight" in module.state_dict()


def _synthetic(multiclass: bool, n=4, cin=4, size=8):
    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(n, cin, size, size, generator=gen)
    mix = torch.randn(C, cin, generator=gen)
    scores = torch.einsum("kc,nchw->nkhw", mix, feats)
    if multiclass:
        return feats, scores.argmax(1)
    return feats, (scores > 0).float()


@pytest.mark.parametrize("name", NAMES)
def test_training_drives_prediction_to_target(name):
    _, _, _, multiclass = CASES[name]
    feats, y = _synthetic(multiclass)
    y = y.clone()
    y[:, 0] = IGNORE  # a row of ignored pixels must not matter
    conv = torch.nn.Conv2d(feats.shape[1], C, 1)
    opt = torch.optim.Adam(conv.parameters(), lr=0.05)
    loss_fn = _module(name, weight=None)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(conv(feats), y)
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = conv(feats)
    keep = y != IGNORE
    pred = out.argmax(1) if multiclass else (out > 0).float()
    accuracy = (pred == y)[keep].float().mean().item()
    assert accuracy > 0.95, (name, accuracy, first, loss.item())
    assert loss.item() < first


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name):
    x, y = _make(name)
    y[0, 0] = IGNORE
    module = _module(name)
    cpu = module(x, y)
    gpu_module = module.to("cuda")
    assert gpu_module.weight.device.type == "cuda"
    xg = x.cuda().requires_grad_(True)
    gpu = gpu_module(xg, y.cuda())
    gpu.backward()
    assert torch.isfinite(xg.grad).all()
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-6, atol=1e-6)
    with torch.autocast("cuda", dtype=torch.float16):
        out = gpu_module(x.cuda().float(), y.cuda())
    assert out.dtype == torch.float32 and torch.isfinite(out)
