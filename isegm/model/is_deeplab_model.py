"""DeepLabV3+ click model (RITM's ``isegm.model.is_deeplab_model.DeeplabModel``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .is_model import IMAGENET_MEAN_STD, ISModel, ISModelConfig
from .modeling.basic_blocks import SepConvHead
from .modeling.deeplab_v3 import DeepLabV3Plus
from .modifiers import LRMult
from .ops import resolve_norm_layer


@dataclass(frozen=True)
class DeeplabConfig(ISModelConfig):
    """ISModelConfig plus the DeepLab parameters (RITM's names and defaults).

    Attributes:
        backbone: 'resnet34' (v1b) | 'resnet50' | 'resnet101' | 'resnet152' (v1s, deep stem).
        deeplab_ch: decoder channels.
        aspp_dropout: dropout after the ASPP projection.
        backbone_norm_layer: dotted path of the backbone's norm class, None = ``norm_layer``.
        backbone_lr_mult: learning-rate multiplier of the ResNet.
    """
    backbone: str = "resnet50"
    deeplab_ch: int = 256
    aspp_dropout: float = 0.5
    backbone_norm_layer: str | None = None
    backbone_lr_mult: float = 0.1


class DeeplabModel(ISModel):
    """Interactive segmentation with DeepLabV3+ on a dilated ResNet, then a separable conv head
    producing stride-4 logits. Example (RITM's r34_dh128 baseline)::

        DeeplabModel(backbone='resnet34', deeplab_ch=128, aspp_dropout=0.2, use_leaky_relu=True,
                     use_rgb_conv=False, use_disks=True, norm_radius=5)

    The click features (64 channels at stride 2) are added after the ResNet stem, zero-padded to
    the stem's width (128 for the deep-stem backbones). There is no auxiliary output.

    Raises:
        TypeError: unknown keyword. ValueError: unknown backbone or norm layer.
    """
    config_class = DeeplabConfig

    def __init__(self, backbone: str = "resnet50", deeplab_ch: int = 256, aspp_dropout: float = 0.5,
                 backbone_norm_layer=None, backbone_lr_mult: float = 0.1, norm_layer=nn.BatchNorm2d, *,
                 use_rgb_conv: bool = True, with_aux_output: bool = False, norm_radius: float = 260,
                 use_disks: bool = False, cpu_dist_maps: bool = False, clicks_groups=None,
                 with_prev_mask: bool = False, use_leaky_relu: bool = False, binary_prev_mask: bool = False,
                 conv_extend: bool = False, norm_mean_std=IMAGENET_MEAN_STD):
        config = self.make_config(
            backbone=backbone, deeplab_ch=deeplab_ch, aspp_dropout=aspp_dropout,
            backbone_norm_layer=backbone_norm_layer, backbone_lr_mult=backbone_lr_mult, norm_layer=norm_layer,
            use_rgb_conv=use_rgb_conv, with_aux_output=with_aux_output, norm_radius=norm_radius,
            use_disks=use_disks, cpu_dist_maps=cpu_dist_maps, clicks_groups=clicks_groups,
            with_prev_mask=with_prev_mask, use_leaky_relu=use_leaky_relu, binary_prev_mask=binary_prev_mask,
            conv_extend=conv_extend, norm_mean_std=norm_mean_std)
        super().__init__(config)
        self.backbone_lr_mult = config.backbone_lr_mult
        norm_cls = resolve_norm_layer(config.norm_layer)[0]
        backbone_norm_cls = (resolve_norm_layer(config.backbone_norm_layer)[0]
                             if config.backbone_norm_layer is not None else None)

        self.feature_extractor = DeepLabV3Plus(backbone=config.backbone, ch=config.deeplab_ch,
                                               project_dropout=config.aspp_dropout, norm_layer=norm_cls,
                                               backbone_norm_layer=backbone_norm_cls)
        self.feature_extractor.backbone.apply(LRMult(config.backbone_lr_mult))
        self.head = SepConvHead(1, in_channels=config.deeplab_ch, mid_channels=config.deeplab_ch // 2,
                                num_layers=2, norm_layer=norm_cls)

    def backbone_forward(self, image: torch.Tensor, coord_features: torch.Tensor | None = None) -> dict:
        features = self.feature_extractor(image, coord_features)
        return {"instances": self.head(features[0])}

    # f-BRS insertion points (f-BRS paper, sec. 3.3 and RITM's FeatureBRSPredictor): after the
    # ResNet's last stage ('after_c4', f-BRS-A), after ASPP + skip concatenation ('after_aspp',
    # f-BRS-B), after the DeepLab decoder ('after_deeplab', f-BRS-C).
    feature_brs_points = {"f-BRS-A": "after_c4", "f-BRS-B": "after_aspp", "f-BRS-C": "after_deeplab"}

    def brs_feature_channels(self, point: str) -> int:
        """after_c4: 512 * expansion; after_aspp: deeplab_ch + 32; after_deeplab: deeplab_ch."""
        fe = self.feature_extractor
        channels = {"after_c4": fe.aspp_in_channels, "after_aspp": fe.ch + 32, "after_deeplab": fe.ch}
        if point not in channels:
            raise ValueError(f"{type(self).__name__} has no f-BRS insertion point {point!r}; it has {sorted(channels)}")
        return channels[point]

    def brs_head_input(self, x: torch.Tensor, additional_features: torch.Tensor | None, point: str):
        self.brs_feature_channels(point)
        fe = self.feature_extractor
        if point == "after_deeplab":
            return fe(x, additional_features)[0], None
        c1, c4 = fe.encode(x, additional_features)
        if point == "after_c4":
            return c4, c1
        return fe.aspp_features(c4, c1), None

    def brs_head(self, features: torch.Tensor, extra, point: str) -> torch.Tensor:
        self.brs_feature_channels(point)
        fe = self.feature_extractor
        if point == "after_c4":
            features = fe.head(fe.aspp_features(features, extra))
        elif point == "after_aspp":
            features = fe.head(features)
        return self.head(features)
