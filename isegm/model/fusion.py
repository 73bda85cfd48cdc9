"""Inference-only speed-ups that keep a model's outputs (to float rounding, ~1e-7).

* channels-last memory format: oneDNN convolutions on CPU run markedly faster on NHWC tensors.
  Safe for any model (state_dict keys and values unchanged); :func:`isegm.model.load_is_model`
  applies it for CPU inference.
* BatchNorm folding (eval mode only): each BatchNorm that directly follows a convolution is merged
  into the convolution's weights and bias and replaced by ``nn.Identity``. This changes the
  module structure, so the result is flagged ``inference_only`` and cannot be saved as a
  checkpoint or trained.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .is_model import ISModel


def _fold(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and type(bn) is nn.BatchNorm2d and bn.track_running_stats
            and bn.running_mean is not None and conv.out_channels == bn.num_features)


def _fold_batchnorms(module: nn.Module) -> int:
    """Fold conv -> BN pairs in place (Sequential neighbours, nested ``Sequential(BN, act)``, and
    ``convK`` / ``bnK`` attributes of residual blocks). Returns how many were folded."""
    folded = 0
    names = list(module._modules)
    for prev_name, name in zip(names, names[1:]):
        prev, child = module._modules[prev_name], module._modules[name]
        if isinstance(module, nn.Sequential):
            if _fold(prev, child):
                module._modules[prev_name] = fuse_conv_bn_eval(prev, child)
                module._modules[name] = nn.Identity()
                folded += 1
            elif isinstance(child, nn.Sequential) and len(child) and _fold(prev, child[0]):
                module._modules[prev_name] = fuse_conv_bn_eval(prev, child[0])
                child[0] = nn.Identity()
                folded += 1
    for k in range(1, 4):
        conv, bn = getattr(module, f"conv{k}", None), getattr(module, f"bn{k}", None)
        if _fold(conv, bn):
            setattr(module, f"conv{k}", fuse_conv_bn_eval(conv, bn))
            setattr(module, f"bn{k}", nn.Identity())
            folded += 1
    for child in module.children():
        folded += _fold_batchnorms(child)
    return folded


def optimize_for_inference(model: ISModel, fold_batchnorm: bool = True,
                           channels_last: bool = True) -> ISModel:
    """A faster eval-mode copy of ``model`` computing the same outputs (differences ~1e-7).

    Args:
        model: an ISModel (left unchanged).
        fold_batchnorm: merge BatchNorm layers into the preceding convolutions.
        channels_last: store convolution weights NHWC.

    Returns:
        a deep copy in eval mode with ``requires_grad=False``; with ``fold_batchnorm`` it is
        flagged ``inference_only`` (``save_is_model`` refuses it; keep the original for saving).
    """
    fast = copy.deepcopy(model).eval().requires_grad_(False)
    if fold_batchnorm:
        _fold_batchnorms(fast)
        fast.inference_only = True
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    return fast
