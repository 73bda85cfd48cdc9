"""Weight initialisation of RITM's training recipes (``initializer.XavierGluon``, MXNet Gluon's
Xavier: Glorot & Bengio 2010 with a magnitude factor).

Convolution / linear weights ~ N(0, magnitude / fan) (``rnd_type='gaussian'``) or
U(-s, s) with ``s = sqrt(magnitude / fan)`` (``'uniform'``), where ``fan`` is
``(fan_in + fan_out) / 2`` (``factor_type='avg'``), ``fan_in`` or ``fan_out``; biases 0;
normalisation layers: weight 1 (or N(1, gamma)), bias 0. Parameters without a ``weight`` / ``bias``
(e.g. ``ScaleLayer.scale``) keep their values.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


class XavierGluon:
    """Module visitor for ``model.apply``; initialises each module once (RITM's ``XavierGluon``).

    Args:
        rnd_type: 'gaussian' or 'uniform'.
        factor_type: 'avg', 'in' or 'out'.
        magnitude: scale factor (RITM recipes use 2.0 with 'gaussian').
        gamma: std of normalisation weights around 1 (None: exactly 1).
        generator: optional torch.Generator for reproducible draws.

    Raises:
        ValueError: unknown rnd_type / factor_type.
    """

    def __init__(self, rnd_type: str = "uniform", factor_type: str = "avg", magnitude: float = 3.0,
                 gamma: float | None = None, generator: torch.Generator | None = None):
        if rnd_type not in ("gaussian", "uniform"):
            raise ValueError(f"rnd_type must be 'gaussian' or 'uniform', got {rnd_type!r}")
        if factor_type not in ("avg", "in", "out"):
            raise ValueError(f"factor_type must be 'avg', 'in' or 'out', got {factor_type!r}")
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)
        self.gamma = gamma
        self.generator = generator
        self._done: set[int] = set()

    @torch.no_grad()
    def __call__(self, module: nn.Module) -> None:
        if id(module) in self._done:
            return
        self._done.add(id(module))
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        if isinstance(module, _NORM_TYPES) or "BatchNorm" in type(module).__name__:
            if isinstance(weight, torch.Tensor):
                if self.gamma is None:
                    weight.fill_(1.0)
                else:
                    weight.normal_(1.0, self.gamma, generator=self.generator)
        elif isinstance(weight, torch.Tensor):
            self._init_weight(weight)
        if isinstance(bias, torch.Tensor):
            bias.zero_()

    def _init_weight(self, weight: torch.Tensor) -> None:
        if weight.dim() < 2:
            return  # no fan defined (e.g. a 1-D scale): left as constructed
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
        fan = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}[self.factor_type]
        scale = math.sqrt(self.magnitude / fan)
        if self.rnd_type == "gaussian":
            weight.normal_(0.0, scale, generator=self.generator)
        else:
            weight.uniform_(-scale, scale, generator=self.generator)


def xavier_gluon_init(model: nn.Module, rnd_type: str = "gaussian", magnitude: float = 2.0,
                      factor_type: str = "avg", generator: torch.Generator | None = None) -> nn.Module:
    """Initialise every module of ``model`` in place as RITM's recipes do
    (``model.apply(XavierGluon(rnd_type='gaussian', magnitude=2.0))``). Returns the model."""
    model.apply(XavierGluon(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude, generator=generator))
    return model
