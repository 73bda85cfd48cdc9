"""Inference paths: which numerics a torch click model runs with, from RITM-exact to fastest.

A path is three switches over the same checkpoint (:class:`InferencePath`):

* ``precision``: ``fp32``, or ``bf16`` (``torch.autocast``; fast only where the hardware has bf16 kernels:
  CPUs with AVX-512 BF16 / AMX, see :func:`cpu_has_native_bf16`, and GPUs);
* ``fold_bn``: BatchNorm folded into the convolutions (:func:`isegm.model.fusion.optimize_for_inference`);
* ``channels_last``: convolution weights stored NHWC, so oneDNN picks its faster CPU kernels.

:meth:`InferencePath.exact` is RITM's own numerics (per-click IoUs equal the original code's, the default of
``scripts/evaluate_model.py``); :func:`fastest_path` is what the annotation GUIs use by default. Every switch
changes sums in the last bits (fold and channels-last ~1e-6 on logits, bf16 ~2e-2), enough to move a
simulated click now and then, so a session records its path and a replay runs the same one. Figures per
path: ``scripts/benchmark.py --original`` and the README's "Speed and memory".
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import torch

__all__ = ["InferencePath", "cpu_has_native_bf16", "fastest_path", "PATH_NAMES"]

PATH_NAMES = ("exact", "fastest")


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN has bf16 kernels on this CPU (AVX-512 BF16, AMX); False on AVX2-only CPUs, where bf16 is
    emulated and slower than fp32 (``torch.ops.mkldnn._is_mkldnn_bf16_supported``)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclasses.dataclass(frozen=True)
class InferencePath:
    """How a torch click model is run (see the module docstring).

    Raises:
        ValueError: a precision other than ``fp32`` / ``bf16``, or a switch that is not a bool.
    """
    precision: str = "fp32"
    fold_bn: bool = False
    channels_last: bool = False

    def __post_init__(self):
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"inference precision {self.precision!r}: expected 'fp32' or 'bf16'")
        for name in ("fold_bn", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"inference {name} {getattr(self, name)!r}: expected true or false")

    @classmethod
    def exact(cls) -> "InferencePath":
        """RITM's numerics: fp32, BatchNorm kept, NCHW weights."""
        return cls()

    @property
    def is_exact(self) -> bool:
        return self == InferencePath.exact()

    @property
    def tags(self) -> tuple:
        """Short names of the switches that are on, e.g. ('bf16', 'bnfold', 'cl') (row labels)."""
        return tuple(tag for tag, on in (("bf16", self.precision == "bf16"), ("bnfold", self.fold_bn),
                                         ("cl", self.channels_last)) if on)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Optional[dict], where: str = "inference") -> "InferencePath":
        """The path recorded by :meth:`to_json`; None or {} (sessions written before paths existed) is exact.

        Raises:
            ValueError: not a mapping, unknown keys or bad values (the message names ``where``).
        """
        if not data:
            return cls.exact()
        if not isinstance(data, dict) or set(data) - {f.name for f in dataclasses.fields(cls)}:
            raise ValueError(f"{where}: expected {{'precision', 'fold_bn', 'channels_last'}}, got {data!r:.80}")
        try:
            return cls(**data)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


def fastest_path(device) -> InferencePath:
    """The fastest measured path on ``device`` (a ``torch.device`` or its name).

    CPU: folded BatchNorm and channels-last weights, plus bf16 autocast where the CPU has native bf16
    (on AVX2-only CPUs bf16 is emulated and slower). GPU: folded BatchNorm only, fp32 (under bf16 autocast the
    flip pair's forward took 50 ms against 37 ms in fp32 on an H100; channels-last is unmeasured there).
    """
    device = torch.device(device)
    if device.type == "cpu":
        return InferencePath("bf16" if cpu_has_native_bf16() else "fp32", fold_bn=True, channels_last=True)
    return InferencePath("fp32", fold_bn=True, channels_last=False)
