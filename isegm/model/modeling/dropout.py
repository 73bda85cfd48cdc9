"""Dropout whose masks can be drawn per sample, so that a sample's mask does not depend on its batch.

``nn.Dropout`` draws the masks of a whole batch from the process's torch generator: a batch split over
``torchrun`` processes (or resumed after a restart) draws other masks than one process with the whole
batch. Inside :func:`per_sample_dropout` (the trainer enters it for every training forward pass, with
one seed per sample derived from the run seed, the epoch and the sample's position in the global batch
order) :class:`SampleDropout` draws each sample's mask from that sample's own generator instead; outside
it, it is ``torch.nn.functional.dropout`` / ``dropout2d``. No parameters, so checkpoints are unchanged.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

_GENERATORS: contextvars.ContextVar = contextvars.ContextVar("isegm_sample_dropout", default=None)


@contextmanager
def per_sample_dropout(seeds: Sequence[int]) -> Iterator[None]:
    """Within the block, :class:`SampleDropout` layers draw sample ``b``'s mask from a CPU generator seeded
    with ``seeds[b]`` (successive layers continue the same generator, in forward order)."""
    token = _GENERATORS.set([torch.Generator().manual_seed(int(s)) for s in seeds])
    try:
        yield
    finally:
        _GENERATORS.reset(token)


class SampleDropout(nn.Module):
    """Dropout with per-sample masks inside :func:`per_sample_dropout` (see the module docstring).

    Args:
        p: drop probability in [0, 1).
        channelwise: drop whole channels of an ``(B, C, H, W)`` input (``nn.Dropout2d``); otherwise single
            elements (``nn.Dropout``).

    Raises:
        ValueError: ``p`` outside [0, 1); in a block, a batch whose size differs from the number of seeds.
    """

    def __init__(self, p: float, channelwise: bool = False):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p, self.channelwise = float(p), bool(channelwise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        generators = _GENERATORS.get()
        if not self.training or self.p == 0.0 or generators is None:
            fn = F.dropout2d if self.channelwise else F.dropout
            return fn(x, self.p, self.training)
        if len(generators) != x.shape[0]:
            raise ValueError(f"per_sample_dropout was given {len(generators)} seeds for a batch of {x.shape[0]}")
        shape = (x.shape[1],) + (1,) * (x.dim() - 2) if self.channelwise else tuple(x.shape[1:])
        keep = torch.full(shape, 1.0 - self.p)
        masks = torch.stack([torch.bernoulli(keep, generator=g) for g in generators])
        return x * masks.to(device=x.device, dtype=x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, channelwise={self.channelwise}"
