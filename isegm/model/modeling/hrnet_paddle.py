"""PaddleClas ``HRNet_W18_C`` ImageNet weights (e.g. the SSLD-distilled ``HRNet_W18_C_ssld_pretrained``)
mapped onto our HRNetV2 backbone (:class:`~isegm.model.modeling.hrnet_ocr.HighResolutionNet`).

A PaddleClas ``.pdparams`` file is a pickled dict ``structured parameter name -> numpy array`` (what
``paddle.save(layer.state_dict())`` writes, sometimes with a ``StructuredToParameterName@@`` entry
mapping those names to Paddle's internal ones). It is read here without PaddlePaddle, through a
restricted unpickler that admits only containers and NumPy arrays (:func:`isegm.io.load_numpy_pickle`).

Names follow PaddleClas's ``ppcls/arch/backbone/legendary_models/hrnet.py`` (the "legendary" models
its pretrained-model list links to). Its trunk is HRNetV2's, module for module:

* ``conv_layer1_{1,2}.conv`` / ``.bn`` -> ``conv{1,2}`` / ``bn{1,2}``
* ``layer1.{b}.conv{1,2,3}.conv`` / ``.bn`` -> ``layer1.{b}.conv{c}`` / ``bn{c}``;
  ``layer1.0.conv_down`` -> ``layer1.0.downsample.{0,1}``
* ``conv_tr1_1``, ``conv_tr1_2``, ``conv_tr2``, ``conv_tr3`` -> ``transition1.0``, ``transition1.1.0``,
  ``transition2.2.0``, ``transition3.3.0``
* ``st{s}.stage_func_list.{m}.basic_block_list.{r}.{b}`` -> ``stage{s}.{m}.branches.{r}.{b}``
* ``st{s}.stage_func_list.{m}.fuse_func.residual_func_list.{n}`` -> ``stage{s}.{m}.fuse_layers.{i}.{j}[.{k}]``,
  ``n`` counting (i, j, k) in PaddleClas's loop order

A ConvBN pair maps ``.conv.weight`` -> conv ``weight`` and ``.bn.{weight, bias, _mean, _variance}`` ->
BatchNorm ``{weight, bias, running_mean, running_var}``; Conv2D weights are ``(out, in, kh, kw)`` in both
frameworks. PaddleClas's classification head (``last_cls``, ``cls_head_conv_list``, ``conv_last``,
``fc``) has no counterpart and is dropped. One forward difference remains: PaddleClas upsamples in
its fuse layers with nearest neighbour, our HRNet (as RITM's) bilinearly; the weights are a starting
point for fine-tuning, as any ImageNet backbone.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

__all__ = ["paddle_hrnet_name_map", "read_pdparams", "convert_paddle_hrnet", "convert_pdparams_file",
           "PADDLE_HEAD_PREFIXES"]

#: PaddleClas classification-head parameters, dropped by the conversion.
PADDLE_HEAD_PREFIXES = ("last_cls.", "cls_head_conv_list.", "conv_last.", "fc.")
_PADDLE_META_KEYS = ("StructuredToParameterName@@",)
_BN = (("weight", "weight"), ("bias", "bias"), ("_mean", "running_mean"), ("_variance", "running_var"))

# HRNet_W18_C: modules per stage 2..4 and residual blocks per branch (HRNetV2-W18, not the small variant)
_STAGE_MODULES = {2: 1, 3: 4, 4: 3}
_BLOCKS_PER_BRANCH = 4


def _conv_bn(table: dict, paddle: str, conv: str, bn: str) -> None:
    table[f"{paddle}.conv.weight"] = f"{conv}.weight"
    for p_name, t_name in _BN:
        table[f"{paddle}.bn.{p_name}"] = f"{bn}.{t_name}"


def paddle_hrnet_name_map() -> dict[str, str]:
    """``{PaddleClas HRNet_W18_C parameter name: our HighResolutionNet state-dict key}`` for the trunk.

    Covers every trunk parameter and BN statistic (not ``num_batches_tracked``, which Paddle lacks);
    the classification head (:data:`PADDLE_HEAD_PREFIXES`) is not in it. The map does not depend on
    the width: the same names hold for HRNet_W18/30/32/48_C, with other shapes.
    """
    table: dict[str, str] = {}
    for i in (1, 2):
        _conv_bn(table, f"conv_layer1_{i}", f"conv{i}", f"bn{i}")
    for b in range(4):
        for c in (1, 2, 3):
            _conv_bn(table, f"layer1.{b}.conv{c}", f"layer1.{b}.conv{c}", f"layer1.{b}.bn{c}")
    _conv_bn(table, "layer1.0.conv_down", "layer1.0.downsample.0", "layer1.0.downsample.1")
    _conv_bn(table, "conv_tr1_1", "transition1.0.0", "transition1.0.1")
    _conv_bn(table, "conv_tr1_2", "transition1.1.0.0", "transition1.1.0.1")
    _conv_bn(table, "conv_tr2", "transition2.2.0.0", "transition2.2.0.1")
    _conv_bn(table, "conv_tr3", "transition3.3.0.0", "transition3.3.0.1")
    for stage, num_modules in _STAGE_MODULES.items():
        num_branches = stage
        for m in range(num_modules):
            p_mod, t_mod = f"st{stage}.stage_func_list.{m}", f"stage{stage}.{m}"
            for r in range(num_branches):
                for b in range(_BLOCKS_PER_BRANCH):
                    for c in (1, 2):
                        _conv_bn(table, f"{p_mod}.basic_block_list.{r}.{b}.conv{c}",
                                 f"{t_mod}.branches.{r}.{b}.conv{c}", f"{t_mod}.branches.{r}.{b}.bn{c}")
            n = 0  # PaddleClas's FuseLayers keeps one flat list, in the order of its loops over i, j, k
            for i in range(num_branches):
                for j in range(num_branches):
                    if j > i:
                        _conv_bn(table, f"{p_mod}.fuse_func.residual_func_list.{n}",
                                 f"{t_mod}.fuse_layers.{i}.{j}.0", f"{t_mod}.fuse_layers.{i}.{j}.1")
                        n += 1
                    elif j < i:
                        for k in range(i - j):
                            _conv_bn(table, f"{p_mod}.fuse_func.residual_func_list.{n}",
                                     f"{t_mod}.fuse_layers.{i}.{j}.{k}.0", f"{t_mod}.fuse_layers.{i}.{j}.{k}.1")
                            n += 1
    return table


def read_pdparams(path) -> dict[str, np.ndarray]:
    """The ``{name: array}`` dict of a ``.pdparams`` file, read without PaddlePaddle (restricted unpickler).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a pickle, a pickle that needs anything but containers and NumPy arrays, or not a
            dict of names to arrays (the message names the file, and the entry when one is wrong).
    """
    from isegm.io import load_numpy_pickle

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PaddleClas weights file not found: {path}")
    try:
        obj = load_numpy_pickle(path.read_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            MemoryError) as exc:
        raise ValueError(f"cannot read {path}: not a PaddlePaddle .pdparams pickle ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"cannot read {path}: expected a pickled dict of parameter name -> array, "
                         f"got {type(obj).__name__}")
    params = {}
    for name, value in obj.items():
        if name in _PADDLE_META_KEYS:
            continue
        if not isinstance(name, str) or not isinstance(value, np.ndarray):
            raise ValueError(f"cannot read {path}: entry {name!r} is a {type(value).__name__}, expected a numpy array")
        params[name] = value
    return params


def _target_shapes(width: int) -> dict[str, tuple[int, ...]]:
    from .hrnet_ocr import HighResolutionNet

    with torch.device("meta"):
        net = HighResolutionNet(width=width, num_classes=1, ocr_width=0)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def convert_paddle_hrnet(params: Mapping[str, np.ndarray], width: int = 18,
                         source: str = "the PaddleClas weights") -> dict[str, torch.Tensor]:
    """Map PaddleClas ``HRNet_W{width}_C`` parameters onto our HRNetV2 trunk.

    Args:
        params: ``{PaddleClas name: array}`` (see :func:`read_pdparams`).
        width: HRNet width (18 for HRNet_W18_C / HRNet_W18_C_ssld); shapes are checked against our
            ``HighResolutionNet(width)``.
        source: how to name the input in error messages (the file path).

    Returns:
        ``{our key: float32 tensor}`` for every trunk parameter and BN statistic, plus
        ``num_batches_tracked = 0`` for each BN: the file :meth:`HighResolutionNet.load_pretrained_weights`
        and ``IMAGENET_PRETRAINED_MODELS`` read (the heads, aux/OCR, stay as initialised).

    Raises:
        ValueError: a trunk parameter is missing, has another shape than our backbone's, is not a
            floating-point array, or the input holds a parameter that is neither trunk nor PaddleClas's
            classification head (e.g. SE-HRNet weights), or the names are PaddleClas 2.0's older layout
            (``conv_layer1_1._conv.weight``); the message names the parameter and ``source``.
    """
    old_layout = next((n for n in params if "._conv." in n or "._batch_norm." in n), None)
    if old_layout is not None:
        raise ValueError(f"{source}: parameter {old_layout!r} is in the layout of PaddleClas 2.0's HRNet, not the "
                         f"'legendary' HRNet_W{width}_C its model list links to (dygraph/legendary_models/...pdparams)")
    table = paddle_hrnet_name_map()
    shapes = _target_shapes(width)
    missing = [name for name in table if name not in params]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValueError(f"{source}: missing parameter {missing[0]!r}{more}; expected PaddleClas HRNet_W{width}_C")
    extras = [name for name in params if name not in table and not name.startswith(PADDLE_HEAD_PREFIXES)]
    if extras:
        more = f" (and {len(extras) - 1} more)" if len(extras) > 1 else ""
        raise ValueError(f"{source}: unexpected parameter {extras[0]!r}{more}; not part of PaddleClas HRNet_W{width}_C")
    state: dict[str, torch.Tensor] = {}
    for p_name, t_name in table.items():
        value = params[p_name]
        if tuple(value.shape) != shapes[t_name]:
            raise ValueError(f"{source}: parameter {p_name!r} has shape {tuple(value.shape)}, expected "
                             f"{shapes[t_name]} (-> {t_name}) for HRNet_W{width}_C")
        if not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f"{source}: parameter {p_name!r} has dtype {value.dtype}, expected floating point")
        state[t_name] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        if t_name.endswith(".running_var"):
            state[t_name[:-len("running_var")] + "num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return state


def convert_pdparams_file(src, dst, width: int = 18, overwrite: bool = False) -> dict[str, torch.Tensor]:
    """Read a PaddleClas ``.pdparams`` file, convert it (:func:`convert_paddle_hrnet`) and write ``dst``
    (``torch.save`` of the state dict, atomically). Returns the written state dict.

    Raises:
        FileNotFoundError, ValueError: see :func:`read_pdparams` / :func:`convert_paddle_hrnet`.
        FileExistsError: ``dst`` exists and ``overwrite`` is False.
    """
    from isegm.io import atomic_write

    state = convert_paddle_hrnet(read_pdparams(src), width=width, source=os.fspath(src))
    atomic_write(dst, lambda f: torch.save(state, f), overwrite=overwrite)
    return state
