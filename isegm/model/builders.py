"""Named model variants (the architectures of RITM's recipes and released checkpoints).

``build_model('hrnet18_itermask')`` gives an untrained model; load weights with
:func:`isegm.model.load_is_model` (checkpoints carry their own config) or
``model.load_pretrained_weights(path)`` for ImageNet backbones.
"""
from __future__ import annotations

from typing import Callable

from .is_deeplab_model import DeeplabModel
from .is_hrnet_model import HRNetModel
from .is_model import ISModel
from .unet import UNetModel

# Iterative models (IT-M, RITM sec. 3.2): disks of radius 5, previous mask input, Conv1S fusion.
_ITERMASK = dict(use_leaky_relu=True, use_rgb_conv=False, use_disks=True, norm_radius=5, with_prev_mask=True)
# RITM's non-iterative recipes (models/noniterative_baselines/*): same, without the previous mask.
_NONITER = dict(use_leaky_relu=True, use_rgb_conv=False, use_disks=True, norm_radius=5)


def _hrnet(width: int, ocr_width: int, small: bool = False, **fusion) -> Callable[..., ISModel]:
    def build(**overrides) -> ISModel:
        return HRNetModel(**{"width": width, "ocr_width": ocr_width, "small": small, "with_aux_output": True,
                             **fusion, **overrides})
    return build


def _deeplab(backbone: str, deeplab_ch: int, **fusion) -> Callable[..., ISModel]:
    def build(**overrides) -> ISModel:
        return DeeplabModel(**{"backbone": backbone, "deeplab_ch": deeplab_ch, "aspp_dropout": 0.2,
                               **fusion, **overrides})
    return build


MODEL_BUILDERS: dict[str, Callable[..., ISModel]] = {
    # RITM IT-M models (coco_lvis_h18_itermask / sbd_h18_itermask, h18s, h32; h48 as in f-BRS widths).
    "hrnet18_itermask": _hrnet(18, 64, **_ITERMASK),
    "hrnet18s_itermask": _hrnet(18, 48, small=True, **_ITERMASK),
    "hrnet32_itermask": _hrnet(32, 128, **_ITERMASK),
    "hrnet48_itermask": _hrnet(48, 256, **_ITERMASK),
    # coco_lvis_h18_baseline: early RGB fusion with distance maps (radius 260), no previous mask.
    "hrnet18_baseline": _hrnet(18, 64, use_leaky_relu=True, use_rgb_conv=True, use_disks=False, norm_radius=260),
    # models/noniterative_baselines/hrnet18_ocr64_*.py
    "hrnet18_ocr64_noniter": _hrnet(18, 64, **_NONITER),
    # models/noniterative_baselines/r34_dh128_*.py and the deeper DeepLab variants.
    "r34_dh128_baseline": _deeplab("resnet34", 128, **_NONITER),
    "r50_dh128_baseline": _deeplab("resnet50", 128, **_NONITER),
    "r101_dh256_baseline": _deeplab("resnet101", 256, **_NONITER),
    "r34_dh128_itermask": _deeplab("resnet34", 128, **_ITERMASK),
    # MFP ResNet-34 U-Net (isegm/model/unet.py): RGB + 2 click disks of radius 5 into a torchvision ResNet-34
    # encoder, skip connections, 1 logit at input resolution; clicks only, as in its design ...
    "unet_resnet34": lambda **overrides: UNetModel(**overrides),
    # ... and with the previous mask as a 6th input channel, for IT-M training.
    "unet_resnet34_itermask": lambda **overrides: UNetModel(**{"with_prev_mask": True, **overrides}),
}


def build_model(name: str, **overrides) -> ISModel:
    """Build the named variant; ``overrides`` replace its constructor keywords.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        TypeError: an override the model does not accept.
    """
    if name not in MODEL_BUILDERS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODEL_BUILDERS))}")
    return MODEL_BUILDERS[name](**overrides)
