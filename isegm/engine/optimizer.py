"""Optimizers and learning-rate schedules for training (RITM's choices)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
#: keyword arguments each optimizer gets unless a recipe's ``optimizer_params`` overrides them (RITM: Adam
#: with betas (0.9, 0.999), eps 1e-8)
OPTIMIZER_DEFAULTS = {"adam": {"betas": (0.9, 0.999), "eps": 1e-8}, "adamw": {"betas": (0.9, 0.999), "eps": 1e-8},
                      "sgd": {"momentum": 0.9}}


def get_optimizer(model: nn.Module, name: str, lr: float, **kwargs) -> torch.optim.Optimizer:
    """Build an optimizer whose parameter groups honour per-parameter learning-rate multipliers.

    A parameter's multiplier is its ``lr_mult`` attribute (RITM marks backbone parameters with
    ``backbone_lr_mult``, 0.1 by default); parameters sharing a multiplier share a group, so the
    optimizer has a handful of groups instead of one per tensor. Frozen parameters are left out.

    Args:
        model: the network.
        name: ``adam``, ``adamw`` or ``sgd``.
        lr: base learning rate.
        **kwargs: passed to the optimizer (betas, eps, weight_decay, momentum ...), over
            ``OPTIMIZER_DEFAULTS[name]``.

    Raises:
        ValueError: unknown optimizer name, or a keyword the optimizer does not take (named).
    """
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(sorted(OPTIMIZERS))}") from None
    groups: dict[float, list[nn.Parameter]] = {}
    for param in model.parameters():
        if not param.requires_grad:
            continue
        mult = float(getattr(param, "lr_mult", 1.0))
        key = 1.0 if math.isclose(mult, 1.0) else mult
        groups.setdefault(key, []).append(param)
    param_groups = [{"params": params, "lr": lr * mult, "lr_mult": mult} for mult, params in sorted(groups.items())]
    params = dict(OPTIMIZER_DEFAULTS[name.lower()], **kwargs)
    try:
        return cls(param_groups, lr=lr, **params)
    except TypeError as exc:
        raise ValueError(f"optimizer {name!r} does not take the parameters {sorted(params)}: {exc}") from None


def get_lr_scheduler(optimizer: torch.optim.Optimizer, name: str, epochs: int, milestones=(),
                     gamma: float = 0.1, min_lr_ratio: float = 0.0, step_size: int | None = None):
    """Per-epoch learning-rate schedule.

    Args:
        name: ``multistep`` (RITM: multiply by ``gamma`` at each epoch in ``milestones``),
            ``step`` (``torch.optim.lr_scheduler.StepLR``: multiply by ``gamma`` every ``step_size``
            epochs; the MFP U-Net design: 5 epochs, 0.1), ``cosine`` (cosine decay over ``epochs`` to
            ``min_lr_ratio`` x the base rate) or ``constant``.
        step_size: epochs between drops of ``step`` (an int >= 1); unused by the others.

    Raises:
        ValueError: unknown schedule name, or ``step`` without a valid ``step_size``.
    """
    name = name.lower()
    if name == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma)
    if name == "step":
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"lr schedule 'step' needs lr_step_size, an int >= 1 (epochs between drops), "
                             f"got {step_size!r}")
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda e: min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(e, epochs) / max(epochs, 1))))
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    raise ValueError(f"unknown lr schedule {name!r}; known: multistep, step, cosine, constant")
