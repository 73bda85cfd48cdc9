"""Dilated ResNet backbone that accepts click features after its stem (RITM's ``ResNetBackbone``)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .pretrained import load_pretrained_state
from .resnetv1b import RESNET_SPECS, ResNetV1b


class ResNetBackbone(ResNetV1b):
    """ResNet-34 v1b or ResNet-50/101/152 v1s body returning the four stage outputs.

    Args:
        backbone: 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152'.
        dilated: output stride 8 (True, as in RITM) or 32.
        norm_layer: normalisation class.

    Raises:
        ValueError: unknown backbone name.
    """

    def __init__(self, backbone: str = "resnet50", dilated: bool = True,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d):
        if backbone not in RESNET_SPECS:
            raise ValueError(f"unknown backbone {backbone!r}; expected one of {sorted(RESNET_SPECS)}")
        block, layers, deep_stem, stem_width = RESNET_SPECS[backbone]
        super().__init__(block, layers, dilated=dilated, deep_stem=deep_stem, stem_width=stem_width,
                         norm_layer=norm_layer)
        self.backbone_name = backbone
        self.stem_channels = 2 * stem_width if deep_stem else 64

    def forward(self, x: torch.Tensor, additional_features: torch.Tensor | None = None):
        """x: (B, 3, H, W) normalised image; additional_features: (B, C<=stem, H/2, W/2) added after
        the stem's ReLU (zero-padded to the stem's channels). Returns (c1, c2, c3, c4) with strides
        4, 8, 8, 8 (dilated) and channels 64/128/256/512 (x4 for bottleneck backbones)."""
        x = self.relu(self.bn1(self.conv1(x)))
        if additional_features is not None:
            extra = self.stem_channels - additional_features.shape[1]
            if extra:
                additional_features = F.pad(additional_features, [0, 0, 0, 0, 0, extra])
            x = x + additional_features
        x = self.maxpool(x)
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return c1, c2, c3, c4

    def load_pretrained_weights(self, path) -> list[str]:
        """Load ImageNet weights from a local GluonCV (RITM / timm ``gluon_resnet*_v1b|v1s``) or
        torchvision ResNet state_dict; ``fc`` and shape-mismatched entries are skipped.

        Raises:
            FileNotFoundError, ValueError: see :func:`load_pretrained_state`.
        """
        def rename(key: str) -> str:
            return key[len("backbone."):] if key.startswith("backbone.") else key
        return load_pretrained_state(self, path, rename=rename)
