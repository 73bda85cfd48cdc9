"""Click-based interactive segmentation models (RITM lineage) and their checkpoints.

Public API (imported lazily, so ``import isegm.model`` stays cheap)::

    load_is_model(checkpoint, device='cpu', eval_mode=True, **overrides) -> ISModel
    save_is_model(model, path, meta=None, half=False, extra=None) -> Path
    build_model(name, **overrides) -> ISModel;  MODEL_BUILDERS: dict[name, builder]
    optimize_for_inference(model, fold_batchnorm=True, channels_last=True) -> ISModel (inference-only copy)
    ISModel, HRNetModel, DeeplabModel, UNetModel (+ their configs HRNetConfig, DeeplabConfig, UNetConfig)
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "load_is_model": "checkpoint",
    "save_is_model": "checkpoint",
    "MODEL_CLASSES": "checkpoint",
    "optimize_for_inference": "fusion",
    "build_model": "builders",
    "MODEL_BUILDERS": "builders",
    "ISModel": "is_model",
    "ISModelConfig": "is_model",
    "HRNetModel": "is_hrnet_model",
    "HRNetConfig": "is_hrnet_model",
    "DeeplabModel": "is_deeplab_model",
    "DeeplabConfig": "is_deeplab_model",
    "UNetModel": "unet",
    "UNetConfig": "unet",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
