"""Model checkpoints in RITM's file format, loaded without running code.

File layout (SamsungLabs/ritm_interactive_segmentation, ``isegm/utils/serialization.py``)::

    torch.save({'config': {'class': 'isegm.model.is_hrnet_model.HRNetModel',
                           'params': {name: {'type': 'builtin' | 'class', 'value': ..., 'specified': bool}}},
                'state_dict': {key: tensor},
                'meta': {...}})          # optional, plain data (ours)

'class'-typed values are dotted class paths (only the normalisation layers in ``ops.NORM_LAYERS``).
Released RITM checkpoints load unchanged, and checkpoints written here load in RITM's own code
(except the U-Net's, ``isegm.model.unet.UNetModel``, a class RITM does not have).
Files are read with ``torch.load(weights_only=True)``; model classes and class-typed parameters go
through explicit whitelists, so a checkpoint can never name code to import or run.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import pickle
from pathlib import Path

import torch
import torch.nn as nn

from isegm.errors import UserError

from .is_deeplab_model import DeeplabModel
from .is_hrnet_model import HRNetModel
from .is_model import ISModel
from .ops import NORM_LAYERS, class_path
from .torch_file import CheckpointError, read_torch_file
from .unet import UNetModel

logger = logging.getLogger(__name__)

# Checkpoint 'class' -> model class. The paths are RITM's (and ours: same module layout).
MODEL_CLASSES: dict[str, type[ISModel]] = {
    "isegm.model.is_hrnet_model.HRNetModel": HRNetModel,
    "isegm.model.is_deeplab_model.DeeplabModel": DeeplabModel,
    "isegm.model.unet.UNetModel": UNetModel,     # ours (MFP ResNet-34 U-Net); RITM's code cannot load it
}
_CLASS_PARAMS = ("norm_layer", "backbone_norm_layer")
_RESERVED = ("config", "state_dict", "meta")
_MAX_LISTED = 5


def _describe(source) -> str:
    return f"checkpoint {source}" if source is not None else "checkpoint (in-memory dict)"


def model_from_config(config: dict, source=None, **overrides) -> ISModel:
    """Build an (untrained) model from a checkpoint's ``config`` entry.

    Args:
        config: ``{'class': dotted path, 'params': {name: {'type', 'value', 'specified'}}}``.
        source: file name for error messages.
        overrides: constructor keywords replacing the stored values (e.g. ``cpu_dist_maps=True``).

    Raises:
        ValueError: malformed config, model class or class-typed value not whitelisted, or a
            specified parameter the model does not know (RITM's loader asserts the same).
    """
    where = _describe(source)
    if not isinstance(config, dict) or not isinstance(config.get("class"), str) or not isinstance(
            config.get("params", {}), dict):
        raise ValueError(f"{where}: 'config' must be {{'class': str, 'params': dict}}, got {config!r:.200}")
    model_cls = MODEL_CLASSES.get(config["class"])
    if model_cls is None:
        raise ValueError(f"{where}: unknown model class {config['class']!r}; supported: {sorted(MODEL_CLASSES)}")

    fields = {f.name for f in dataclasses.fields(model_cls.config_class)}
    kwargs = {}
    for name, param in config.get("params", {}).items():
        if not isinstance(param, dict) or "value" not in param:
            raise ValueError(f"{where}: parameter {name!r} must be {{'type', 'value', 'specified'}}, "
                             f"got {param!r:.200}")
        value, kind = param["value"], param.get("type", "builtin")
        if kind == "class":
            if value not in NORM_LAYERS:
                raise ValueError(f"{where}: parameter {name!r} names class {value!r}, which is not allowed; "
                                 f"allowed classes: {sorted(NORM_LAYERS)}")
        elif kind != "builtin":
            raise ValueError(f"{where}: parameter {name!r} has unknown type {kind!r} (expected 'builtin' or 'class')")
        if name not in fields:
            if param.get("specified", True):
                raise ValueError(f"{where}: {model_cls.__name__} has no parameter {name!r}; known: {sorted(fields)}")
            continue  # an unspecified default of another version: ignored, as RITM's loader does
        kwargs[name] = value
    kwargs.update(overrides)
    try:
        return model_cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"{where}: cannot build {model_cls.__name__}: {err}") from err


def model_to_config(model: ISModel) -> dict:
    """The ``config`` entry of ``model`` in RITM's format (plain data: str, numbers, lists, None)."""
    model_path = class_path(type(model))
    if MODEL_CLASSES.get(model_path) is not type(model):
        raise ValueError(f"cannot save a {model_path}: only {sorted(MODEL_CLASSES)} have a checkpoint class path")
    params = {}
    for field in dataclasses.fields(model.config):
        value = getattr(model.config, field.name)
        plain = _to_plain(value)
        kind = "class" if field.name in _CLASS_PARAMS and value is not None else "builtin"
        params[field.name] = {"type": kind, "value": plain, "specified": plain != _to_plain(field.default)}
    return {"class": model_path, "params": params}


def _to_plain(value):
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _check_plain(value, where: str, allow_tensors: bool) -> None:
    """Raise TypeError unless value is data that ``torch.load(weights_only=True)`` accepts."""
    if value is None or type(value) in (bool, int, float, str):   # not subclasses such as numpy.float64
        return
    if allow_tensors and isinstance(value, torch.Tensor):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]", allow_tensors)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} must be str or int")
            _check_plain(item, f"{where}[{key!r}]", allow_tensors)
        return
    raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__name__}; checkpoints hold plain data only "
                    f"(str, int, float, bool, None, lists, dicts{', tensors' if allow_tensors else ''})")


def load_state_dict_strict(model: nn.Module, state_dict, source=None) -> None:
    """Copy ``state_dict`` into ``model`` requiring exactly the same keys and shapes.

    Floating-point tensors are cast to the model's dtype (fp16 checkpoints load into float32).

    Raises:
        ValueError: not a dict of tensors, or missing / unexpected / mis-shaped keys (the first
            few of each are listed, with the file name).
    """
    where = _describe(source)
    if not isinstance(state_dict, dict):
        raise ValueError(f"{where}: 'state_dict' must be a dict of tensors, got {type(state_dict).__name__}")
    expected = model.state_dict()
    bad_values = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [f"{k}: {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
                  for k in expected if k in state_dict and k not in bad_values
                  and state_dict[k].shape != expected[k].shape]
    if bad_values or missing or unexpected or mismatched:
        parts = []
        for label, keys in (("non-tensor values", bad_values), ("missing keys", missing),
                            ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
            if keys:
                more = f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
                parts.append(f"{len(keys)} {label}: {', '.join(keys[:_MAX_LISTED])}{more}")
        hint = ""
        if unexpected and all(k.startswith("module.") for k in unexpected):
            hint = (" (keys start with 'module.': saved from a DataParallel wrapper; re-save the "
                    "unwrapped model's state_dict)")
        raise ValueError(f"{where} does not fit {type(model).__name__}: " + "; ".join(parts) + hint)

    converted = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state_dict.items()}
    model.load_state_dict(converted, strict=True)


def load_is_model(checkpoint, device="cpu", eval_mode: bool = True, **overrides) -> ISModel:
    """Load a click model from a RITM-format checkpoint.

    Args:
        checkpoint: path to a ``.pth`` file, or the already loaded dict.
        device: where to put the model.
        eval_mode: ``model.eval()`` and parameters frozen (``requires_grad=False``), as RITM's
            ``load_is_model`` does (weights in the default NCHW layout, so CPU outputs equal
            RITM's; :mod:`isegm.model.fusion` has the faster, inexact variants); False leaves a
            trainable model in train mode.
        overrides: constructor keywords replacing the stored config values.

    Returns:
        the model (an :class:`ISModel`), weights loaded strictly, float32.

    Raises:
        FileNotFoundError: no file at the path.
        IsADirectoryError: the path is a folder.
        CheckpointError (UserError and ValueError): the file is not a PyTorch checkpoint (text, not a torch.save zip),
            is truncated, would need code execution to unpickle, is not RITM's format (no
            'state_dict' / 'config', a list of models), names an unknown model class, or its
            keys / shapes do not match the model. The message names the file.
    """
    source = None
    if isinstance(checkpoint, (str, os.PathLike)):
        source = os.fspath(checkpoint)
        checkpoint = read_torch_file(source)
    where = _describe(source)
    if isinstance(checkpoint, (list, tuple)):
        raise CheckpointError(f"{where}: holds a list of {len(checkpoint)} models (a RITM ensemble); "
                        f"load one of its entries instead")
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{where}: expected a dict {{'config': ..., 'state_dict': ...}} (RITM checkpoint format), "
                        f"found a {type(checkpoint).__name__}")
    for key in ("state_dict", "config"):
        if key not in checkpoint:
            raise CheckpointError(f"{where}: no {key!r} entry (RITM checkpoint format needs 'config' and 'state_dict'); "
                            f"found keys {list(checkpoint)[:_MAX_LISTED]}; a bare state_dict (e.g. ImageNet "
                            f"weights) cannot rebuild a model")

    try:
        model = model_from_config(checkpoint["config"], source, **overrides)
    except ValueError as err:
        raise CheckpointError(str(err)) from err
    try:
        load_state_dict_strict(model, checkpoint["state_dict"], source)
    except ValueError as err:
        raise CheckpointError(str(err)) from err
    logger.debug("loaded %s from %s", type(model).__name__, where)
    model.to(device)
    if eval_mode:
        model.eval()
        model.requires_grad_(False)
        # Weights stay in the default (NCHW) layout, as RITM's load_is_model leaves them: on CPU,
        # channels-last weights select other oneDNN convolution kernels whose sums differ by ~4e-6
        # in the logits, enough to flip a pixel at the 0.49 threshold and change the simulated clicks
        # (GrabCut 'llama' click 3 moved by one pixel; tests/inference/test_cpu_exactness.py).
        # NCHW reproduces RITM's CPU outputs bit for bit.
    return model


def save_is_model(model: ISModel, path, meta: dict | None = None, half: bool = False,
                  extra: dict | None = None) -> Path:
    """Write ``model`` as a RITM-format checkpoint, atomically (:func:`isegm.io.atomic_write`: temp file, fsync, rename).

    Args:
        model: an ISModel (a DataParallel / DistributedDataParallel wrapper is unwrapped).
        path: destination file; its folder must exist.
        meta: plain data (str, numbers, bool, None, lists, dicts) such as epoch, experiment name.
        half: store floating-point tensors as float16 (half the size; loads back as float32).
        extra: more top-level entries (plain data and tensors, e.g. optimizer state).

    Returns:
        the path written.

    Raises:
        TypeError: meta / extra hold something ``torch.load(weights_only=True)`` would refuse.
        ValueError: not a savable model, or extra uses a reserved key ('config', 'state_dict', 'meta').
        FileNotFoundError: the destination folder does not exist.
    """
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    if not isinstance(model, ISModel):
        raise ValueError(f"save_is_model expects an ISModel, got {type(model).__name__}")
    if getattr(model, "inference_only", False):
        raise ValueError("this model comes from optimize_for_inference (BatchNorm folded into convolutions) "
                         "and no longer has the checkpoint layout; save the original model instead")
    if meta is not None:
        if not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
        _check_plain(meta, "meta", allow_tensors=False)
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"extra must not use the reserved keys {clash}")
    _check_plain(extra, "extra", allow_tensors=True)

    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write checkpoint {path}: folder {path.parent} does not exist")

    state_dict = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        state_dict[key] = value.half() if half and value.is_floating_point() else value
    payload = {"config": model_to_config(model), "state_dict": state_dict}
    if meta is not None:
        payload["meta"] = meta
    payload.update(extra)

    from isegm.io import atomic_write
    return atomic_write(path, lambda f: torch.save(payload, f))
