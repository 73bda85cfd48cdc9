"""Segmentation losses used to train click-based models.

All losses take ``pred`` logits ``(B, 1, H, W) float32`` and ``label`` ``(B, 1, H, W) float32`` with
values in {0, 1} (soft values in [0, 1] are allowed) and ``ignore_label`` (default -1) marking
pixels that do not count. Each returns a per-sample loss of shape ``(B,)``; the trainer averages it.
The formulas follow RITM (Sofiiuk et al. 2021) so that its recipes train the same way.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _spatial_dims(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(1, t.dim()))


class NormalizedFocalLossSigmoid(nn.Module):
    """Normalised focal loss (NFL), Sofiiuk et al., "AdaptIS" (2019) / RITM (2021), eq. 3.

    The focal term ``(1 - p_t)^gamma`` of every pixel is rescaled so that, per sample, the terms
    sum to the number of valid pixels; the rescaling factor is treated as a constant
    (``detach_delimiter``). Compared with the focal loss it keeps the gradient from vanishing
    once most pixels are confidently right, which is what late clicks need.

    Args:
        alpha: weight of positive pixels (negatives get ``1 - alpha``).
        gamma: focusing exponent.
        max_mult: if > 0, clamp the rescaled focal weights at this value.
        eps: numerical guard in the log and divisions.
        from_sigmoid: ``pred`` already holds probabilities instead of logits.
        detach_delimiter: do not back-propagate through the normaliser.
        size_average: divide each sample's sum by its number of valid pixels.
        ignore_label: label value of ignored pixels.
        weight: global multiplier.
    """

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, max_mult: float = -1.0, eps: float = 1e-12,
                 from_sigmoid: bool = False, detach_delimiter: bool = True, size_average: bool = True,
                 ignore_label: float = -1, weight: float = 1.0):
        super().__init__()
        self.alpha, self.gamma, self.max_mult, self.eps = alpha, gamma, max_mult, eps
        self.from_sigmoid, self.detach_delimiter = from_sigmoid, detach_delimiter
        self.size_average, self.ignore_label, self.weight = size_average, ignore_label, weight

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        label = label.view(pred.size())
        valid = label != self.ignore_label
        prob = pred if self.from_sigmoid else torch.sigmoid(pred)
        is_pos = label > 0.5
        alpha = torch.where(is_pos, self.alpha * valid, (1 - self.alpha) * valid)
        pt = torch.where(valid, 1.0 - torch.abs(label - prob), torch.ones_like(prob))
        beta = (1.0 - pt) ** self.gamma
        dims = _spatial_dims(pred)[-2:]
        mult = valid.sum(dim=dims, keepdim=True) / (beta.sum(dim=dims, keepdim=True) + self.eps)
        if self.detach_delimiter:
            mult = mult.detach()
        beta = beta * mult
        if self.max_mult > 0:
            beta = beta.clamp_max(self.max_mult)
        loss = -alpha * beta * torch.log(torch.clamp_max(pt + self.eps, 1.0))
        loss = self.weight * (loss * valid)
        total = loss.sum(dim=_spatial_dims(loss))
        if self.size_average:
            total = total / (valid.sum(dim=_spatial_dims(valid)) + self.eps)
        return total


class FocalLoss(nn.Module):
    """Sigmoid focal loss, Lin et al., "Focal Loss for Dense Object Detection" (2017), in RITM's form.

    Args: as :class:`NormalizedFocalLossSigmoid`, plus ``scale`` multiplying the result.
    """

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, eps: float = 1e-9, from_sigmoid: bool = False,
                 size_average: bool = True, scale: float = 1.0, ignore_label: float = -1, weight: float = 1.0):
        super().__init__()
        self.alpha, self.gamma, self.eps, self.from_sigmoid = alpha, gamma, eps, from_sigmoid
        self.size_average, self.scale, self.ignore_label, self.weight = size_average, scale, ignore_label, weight

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        label = label.view(pred.size())
        valid = label != self.ignore_label
        prob = pred if self.from_sigmoid else torch.sigmoid(pred)
        alpha = torch.where(label > 0.5, self.alpha * valid, (1 - self.alpha) * valid)
        pt = torch.where(valid, 1.0 - torch.abs(label - prob), torch.ones_like(prob))
        beta = (1.0 - pt) ** self.gamma
        loss = -alpha * beta * torch.log(torch.clamp_max(pt + self.eps, 1.0))
        loss = self.weight * (loss * valid)
        total = loss.sum(dim=_spatial_dims(loss))
        if self.size_average:
            total = total / (valid.sum(dim=_spatial_dims(valid)) + self.eps)
        return self.scale * total


class SigmoidBinaryCrossEntropyLoss(nn.Module):
    """Per-pixel binary cross-entropy on logits (numerically stable form), mean over valid and ignored
    pixels alike as in RITM (ignored pixels contribute 0).

    With ``pos_weight`` w the positive term is weighted (``torch.nn.BCEWithLogitsLoss(pos_weight=w)``'s
    formula): ``-(w * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))``. The MFP U-Net design trains
    with w = 5.0 (objects are the minority class of a crop); w = 1 (default) is RITM's BCE, bit for bit.

    Args:
        from_sigmoid: ``pred`` holds probabilities instead of logits.
        ignore_label: label value of ignored pixels.
        weight: global multiplier.
        pos_weight: weight of the positive (object) pixels' term, a finite number > 0.

    Raises:
        ValueError: ``pos_weight`` not a finite number > 0.
    """

    def __init__(self, from_sigmoid: bool = False, ignore_label: float = -1, weight: float = 1.0,
                 pos_weight: float = 1.0):
        super().__init__()
        if isinstance(pos_weight, bool) or not isinstance(pos_weight, (int, float)) \
                or not math.isfinite(pos_weight) or pos_weight <= 0:
            raise ValueError(f"bce pos_weight must be a finite number > 0, got {pos_weight!r}")
        self.from_sigmoid, self.ignore_label, self.weight = from_sigmoid, ignore_label, weight
        self.pos_weight = float(pos_weight)

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        label = label.view(pred.size())
        valid = label != self.ignore_label
        label = torch.where(valid, label, torch.zeros_like(label))
        w = self.pos_weight
        if self.from_sigmoid:
            eps = 1e-12
            pos = torch.log(pred + eps) * label
            loss = -((pos if w == 1.0 else w * pos) + torch.log(1.0 - pred + eps) * (1.0 - label))
        elif w == 1.0:
            loss = F.relu(pred) - pred * label + F.softplus(-torch.abs(pred))
        else:
            # -log(sigmoid(x)) = softplus(-x), -log(1 - sigmoid(x)) = x + softplus(-x)
            loss = (1.0 - label) * pred + (1.0 + (w - 1.0) * label) * F.softplus(-pred)
        loss = self.weight * (loss * valid)
        return loss.mean(dim=_spatial_dims(loss))


class SoftIoU(nn.Module):
    """Soft IoU loss ``1 - sum(p * y) / sum(max(p, y))`` over valid pixels (RITM's form).

    Args:
        from_sigmoid: ``pred`` holds probabilities instead of logits.
        ignore_label: label value of ignored pixels.
    """

    def __init__(self, from_sigmoid: bool = False, ignore_label: float = -1):
        super().__init__()
        self.from_sigmoid, self.ignore_label = from_sigmoid, ignore_label

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        label = label.view(pred.size())
        valid = label != self.ignore_label
        prob = pred if self.from_sigmoid else torch.sigmoid(pred)
        dims = _spatial_dims(prob)
        inter = (prob * label * valid).sum(dim=dims)
        union = (torch.max(prob, label) * valid).sum(dim=dims)
        return 1.0 - inter / (union + 1e-8)


LOSSES = {
    "nfl": NormalizedFocalLossSigmoid,
    "focal": FocalLoss,
    "bce": SigmoidBinaryCrossEntropyLoss,
    "soft_iou": SoftIoU,
}


def build_loss(name: str, **kwargs) -> nn.Module:
    """Build a loss by name: one of ``LOSSES`` (nfl, focal, bce, soft_iou).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        cls = LOSSES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(sorted(LOSSES))}") from None
    return cls(**kwargs)
