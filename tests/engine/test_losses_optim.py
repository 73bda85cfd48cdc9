import math

import pytest
import torch
import torch.nn as nn

from isegm.engine.optimizer import get_lr_scheduler, get_optimizer
from isegm.model.losses import (FocalLoss, NormalizedFocalLossSigmoid, SigmoidBinaryCrossEntropyLoss, SoftIoU,
                                build_loss)
from isegm.model.metrics import AdaptiveIoU


def _data():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 1, 8, 8, generator=g) * 3
    label = (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float()
    label[0, 0, :2] = -1  # ignored rows
    return pred, label


def test_bce_matches_torch_on_valid_pixels():
    pred, label = _data()
    loss = SigmoidBinaryCrossEntropyLoss()(pred, label)
    valid = label != -1
    ref = nn.functional.binary_cross_entropy_with_logits(pred, label.clamp(min=0), reduction="none") * valid
    torch.testing.assert_close(loss, ref.mean(dim=(1, 2, 3)))


def test_weighted_bce_matches_torch_pos_weight():
    """pos_weight (the MFP U-Net design: 5.0) weights the object pixels' term as BCEWithLogitsLoss does;
    1.0 keeps RITM's BCE bit for bit; from_sigmoid gives the same numbers from probabilities."""
    pred, label = _data()
    valid = label != -1
    ref = nn.functional.binary_cross_entropy_with_logits(pred, label.clamp(min=0), reduction="none",
                                                         pos_weight=torch.tensor([5.0])) * valid
    loss = SigmoidBinaryCrossEntropyLoss(pos_weight=5.0)(pred, label)
    torch.testing.assert_close(loss, ref.mean(dim=(1, 2, 3)))
    assert (loss > SigmoidBinaryCrossEntropyLoss()(pred, label)).all()
    torch.testing.assert_close(SigmoidBinaryCrossEntropyLoss(pos_weight=5.0, from_sigmoid=True)(pred.sigmoid(), label),
                               loss, rtol=1e-4, atol=1e-5)
    assert torch.equal(SigmoidBinaryCrossEntropyLoss(pos_weight=1.0)(pred, label),
                       SigmoidBinaryCrossEntropyLoss()(pred, label))
    big = torch.tensor([[[[80.0, -80.0]]]])
    assert torch.isfinite(SigmoidBinaryCrossEntropyLoss(pos_weight=5.0)(big, torch.tensor([[[[0.0, 1.0]]]]))).all()
    assert isinstance(build_loss("bce", pos_weight=5.0), SigmoidBinaryCrossEntropyLoss)
    for bad in (0, -1.0, float("nan"), "5"):
        with pytest.raises(ValueError, match="pos_weight"):
            SigmoidBinaryCrossEntropyLoss(pos_weight=bad)


def test_nfl_equals_focal_rescaled_to_valid_pixel_count():
    pred, label = _data()
    nfl = NormalizedFocalLossSigmoid(alpha=0.5, gamma=2)(pred, label)
    # Hand computation of eq. 3: focal terms normalised to sum to the valid-pixel count.
    p = torch.sigmoid(pred)
    valid = (label != -1).float()
    pt = torch.where(label > 0.5, p, 1 - p)
    beta = (1 - pt) ** 2 * valid
    beta = beta / beta.sum(dim=(2, 3), keepdim=True) * valid.sum(dim=(2, 3), keepdim=True)
    ref = (-0.5 * beta * torch.log(pt) * valid).sum(dim=(1, 2, 3)) / valid.sum(dim=(1, 2, 3))
    torch.testing.assert_close(nfl, ref, rtol=1e-5, atol=1e-6)
    # The normaliser is detached: gradients flow only through the log term.
    pred.requires_grad_(True)
    NormalizedFocalLossSigmoid(alpha=0.5, gamma=2)(pred, label).sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_focal_and_soft_iou_perfect_prediction_is_near_zero():
    label = torch.zeros(1, 1, 6, 6)
    label[..., 1:4, 1:4] = 1
    logits = (label * 2 - 1) * 20
    assert FocalLoss()(logits, label).item() < 1e-6
    assert SoftIoU()(logits, label).item() < 1e-6
    assert SoftIoU()(-logits, label).item() > 0.99


def test_build_loss_rejects_unknown():
    assert isinstance(build_loss("NFL", alpha=0.5), NormalizedFocalLossSigmoid)
    with pytest.raises(ValueError, match="known losses"):
        build_loss("dice")


def test_adaptive_iou_on_perfect_and_wrong_predictions():
    gt = torch.zeros(2, 1, 4, 4)
    gt[:, :, :2] = 1
    metric = AdaptiveIoU()
    metric.update((gt * 2 - 1) * 10, gt)
    assert metric.get_epoch_value() == pytest.approx(1.0)
    metric.reset_epoch_stats()
    metric.update(-(gt * 2 - 1) * 10, gt)
    assert metric.get_epoch_value() == pytest.approx(0.0)


def test_optimizer_groups_follow_lr_mult_and_schedules():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    for p in model[0].parameters():
        p.lr_mult = 0.1
    opt = get_optimizer(model, "adam", lr=1e-3, betas=(0.9, 0.999))
    lrs = sorted(g["lr"] for g in opt.param_groups)
    assert lrs == pytest.approx([1e-4, 1e-3])
    sched = get_lr_scheduler(opt, "multistep", epochs=10, milestones=(2,), gamma=0.1)
    for _ in range(2):
        opt.step()
        sched.step()
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx([1e-5, 1e-4])
    opt = get_optimizer(model, "sgd", lr=1.0)
    cos = get_lr_scheduler(opt, "cosine", epochs=4)
    values = []
    for _ in range(4):
        values.append(max(g["lr"] for g in opt.param_groups))
        opt.step()
        cos.step()
    assert values == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))])
    with pytest.raises(ValueError, match="unknown optimizer"):
        get_optimizer(model, "lion", lr=1.0)
