"""Loading ImageNet-pretrained backbone weights from a local file (never downloads)."""
from __future__ import annotations

import logging
import os
from typing import Callable

import torch
import torch.nn as nn

from ..torch_file import read_torch_file

logger = logging.getLogger(__name__)

_WRAPPER_KEYS = ("state_dict", "model", "net")
_PREFIXES = ("module.", "model.")


def _unwrap(obj, path) -> dict:
    """The tensor dict inside a loaded file: bare state_dict or {'state_dict' | 'model' | 'net': ...}."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                return _unwrap(obj[key], path)
    raise ValueError(f"{path}: expected a state_dict of tensors (optionally under 'state_dict' / 'model'), "
                     f"got {type(obj).__name__}" + (f" with keys {list(obj)[:5]}" if isinstance(obj, dict) else ""))


def load_pretrained_state(module: nn.Module, path, rename: Callable[[str], str] | None = None) -> list[str]:
    """Copy the tensors of a local weights file whose names and shapes match ``module``'s.

    Keys are stripped of ``module.`` / ``model.`` prefixes and passed through ``rename``; entries
    the module lacks or with another shape (e.g. a classifier) are skipped and logged. The file is
    read with ``torch.load(weights_only=True)``: it cannot run code.

    Args:
        module: the backbone to fill (modified in place).
        path: local ``.pth`` file (HRNet-Image-Classification / GluonCV / torchvision layout).
        rename: optional key mapping applied after prefix stripping.

    Returns:
        the module keys that were loaded.

    Raises:
        FileNotFoundError: path does not exist (nothing is downloaded).
        ValueError: the file is not a state_dict, or none of its tensors fit the module; CheckpointError (a
            ValueError) for a file that is not a readable PyTorch file (:func:`isegm.model.torch_file.read_torch_file`).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained weights not found at {path!r}; download the ImageNet weights "
                                f"(e.g. HRNet-Image-Classification hrnetv2_w18_imagenet_pretrained.pth) "
                                f"and pass the local path")
    source = _unwrap(read_torch_file(path), path)
    target = module.state_dict()

    matched, skipped = {}, []
    for key, value in source.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        if rename is not None:
            key = rename(key)
        if key in target and target[key].shape == value.shape:
            matched[key] = value
        else:
            skipped.append(key)
    if not matched:
        raise ValueError(f"{path}: none of its {len(source)} tensors match the backbone "
                         f"(first keys: {list(source)[:5]}; expected e.g. {list(target)[:5]})")
    module.load_state_dict(matched, strict=False)
    missing = [k for k in target if k not in matched and not k.endswith("num_batches_tracked")]
    logger.info("loaded %d tensors from %s; %d skipped (e.g. %s); %d backbone tensors left as initialised",
                len(matched), path, len(skipped), skipped[:3], len(missing))
    return list(matched)
