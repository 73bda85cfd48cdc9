"""Per-parameter learning-rate multipliers (RITM's ``LRMult``).

A parameter carrying an ``lr_mult`` attribute gets ``base_lr * lr_mult`` in
:func:`isegm.engine.optimizer.get_optimizer`; RITM marks backbone parameters with
``backbone_lr_mult`` (0.1) and the OCR / fusion layers with 1.0.
"""
from __future__ import annotations

import torch.nn as nn


class LRMult:
    """Module visitor for ``nn.Module.apply`` that sets ``weight.lr_mult`` / ``bias.lr_mult``.

    Args:
        lr_mult: float multiplier of the base learning rate (> 0).

    Raises:
        ValueError: lr_mult is not a positive number.
    """

    def __init__(self, lr_mult: float = 1.0):
        if not lr_mult > 0:
            raise ValueError(f"lr_mult must be > 0, got {lr_mult!r}")
        self.lr_mult = float(lr_mult)

    def __call__(self, module: nn.Module) -> None:
        for name in ("weight", "bias"):
            param = getattr(module, name, None)
            if isinstance(param, nn.Parameter):
                param.lr_mult = self.lr_mult
