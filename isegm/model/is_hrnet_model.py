"""HRNetV2 + OCR click model (RITM's ``isegm.model.is_hrnet_model.HRNetModel``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .is_model import IMAGENET_MEAN_STD, ISModel, ISModelConfig
from .modeling.hrnet_ocr import HighResolutionNet
from .modifiers import LRMult
from .ops import resolve_norm_layer


@dataclass(frozen=True)
class HRNetConfig(ISModelConfig):
    """ISModelConfig plus the HRNet parameters (RITM's names and defaults).

    Attributes:
        width: HRNet width (18, 32, 48).
        ocr_width: OCR key channels (0 disables OCR and the auxiliary output).
        small: HRNet-W18-small-v2 layout.
        backbone_lr_mult: learning-rate multiplier of the HRNet body (heads keep 1.0 for OCR).
    """
    width: int = 48
    ocr_width: int = 256
    small: bool = False
    backbone_lr_mult: float = 0.1


class HRNetModel(ISModel):
    """Interactive segmentation with an HRNetV2-OCR backbone.

    Keyword arguments are RITM's (so its experiment scripts keep working); ``norm_layer`` may be a
    class or its dotted path. Example (RITM's HRNet18 IT-M)::

        HRNetModel(width=18, ocr_width=64, with_aux_output=True, use_leaky_relu=True,
                   use_rgb_conv=False, use_disks=True, norm_radius=5, with_prev_mask=True)

    forward(image (B, 3|4, H, W), points (B, 2N, 3)) -> {'instances', ['instances_aux']}, see ISModel.

    Raises:
        TypeError: unknown keyword. ValueError: unsupported norm layer.
    """
    config_class = HRNetConfig

    def __init__(self, width: int = 48, ocr_width: int = 256, small: bool = False, backbone_lr_mult: float = 0.1,
                 norm_layer=nn.BatchNorm2d, *, use_rgb_conv: bool = True, with_aux_output: bool = False,
                 norm_radius: float = 260, use_disks: bool = False, cpu_dist_maps: bool = False,
                 clicks_groups=None, with_prev_mask: bool = False, use_leaky_relu: bool = False,
                 binary_prev_mask: bool = False, conv_extend: bool = False, norm_mean_std=IMAGENET_MEAN_STD):
        config = self.make_config(
            width=width, ocr_width=ocr_width, small=small, backbone_lr_mult=backbone_lr_mult,
            norm_layer=norm_layer, use_rgb_conv=use_rgb_conv, with_aux_output=with_aux_output,
            norm_radius=norm_radius, use_disks=use_disks, cpu_dist_maps=cpu_dist_maps, clicks_groups=clicks_groups,
            with_prev_mask=with_prev_mask, use_leaky_relu=use_leaky_relu, binary_prev_mask=binary_prev_mask,
            conv_extend=conv_extend, norm_mean_std=norm_mean_std)
        super().__init__(config)
        self.backbone_lr_mult = config.backbone_lr_mult

        self.feature_extractor = HighResolutionNet(width=config.width, ocr_width=config.ocr_width,
                                                   small=config.small, num_classes=1,
                                                   norm_layer=resolve_norm_layer(config.norm_layer)[0])
        self.feature_extractor.apply(LRMult(config.backbone_lr_mult))
        if config.ocr_width > 0:
            # As in RITM: the OCR layers train at the full rate; cls_head / aux_head keep the backbone's.
            self.feature_extractor.ocr_distri_head.apply(LRMult(1.0))
            self.feature_extractor.ocr_gather_head.apply(LRMult(1.0))
            self.feature_extractor.conv3x3_ocr.apply(LRMult(1.0))

    def backbone_forward(self, image: torch.Tensor, coord_features: torch.Tensor | None = None) -> dict:
        out, out_aux = self.feature_extractor(image, coord_features)
        return {"instances": out, "instances_aux": out_aux}

    # f-BRS (RITM's mapping of the generic modes onto HRNet): A = the concatenated HRNet features
    # before the OCR head (f-BRS-A 'after_c4' and f-BRS-B 'after_aspp' both map there), C = the OCR
    # output before the class head ('after_deeplab').
    _FEATURE_BRS_POINTS = {"f-BRS-A": "A", "f-BRS-B": "A", "f-BRS-C": "C"}

    @property
    def feature_brs_points(self) -> dict[str, str]:
        """f-BRS mode -> 'A' | 'C'; no 'C' without the OCR head (``ocr_width == 0``)."""
        if self.config.ocr_width > 0:
            return dict(self._FEATURE_BRS_POINTS)
        return {mode: point for mode, point in self._FEATURE_BRS_POINTS.items() if point != "C"}

    def brs_feature_channels(self, point: str) -> int:
        """A: 15 * width (18 -> 270); C: 2 * ocr_width."""
        self._check_brs_point(point)
        return 15 * self.config.width if point == "A" else 2 * self.config.ocr_width

    def brs_head_input(self, x: torch.Tensor, additional_features: torch.Tensor | None, point: str):
        self._check_brs_point(point)
        feats = self.feature_extractor.compute_hrnet_feats(x, additional_features)
        if point == "A":
            return feats, None
        return self.feature_extractor.ocr_features(feats)[0], None

    def brs_head(self, features: torch.Tensor, extra, point: str) -> torch.Tensor:
        self._check_brs_point(point)
        if point == "A":
            return self.feature_extractor.heads_forward(features)[0]
        return self.feature_extractor.cls_head(features)

    def _check_brs_point(self, point: str) -> None:
        if point not in self.feature_brs_points.values():
            raise ValueError(f"{type(self).__name__} (ocr_width={self.config.ocr_width}) has no f-BRS insertion "
                             f"point {point!r}; it has {sorted(set(self.feature_brs_points.values()))}")
