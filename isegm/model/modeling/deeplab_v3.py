"""DeepLabV3+ decoder on a dilated ResNet (Chen et al. 2018), as configured in RITM.

ASPP (rates 12, 24, 36 + image pooling) on the stride-8 features, upsampled and concatenated with
a 32-channel projection of the stride-4 features, then two separable 3x3 blocks.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from isegm.model.modeling.dropout import SampleDropout

from .basic_blocks import SeparableConv2d
from .resnet import ResNetBackbone


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ feature extractor (``backbone``, ``head``, ``skip_project``, ``aspp``).

    Args:
        backbone: ResNet name (see :class:`ResNetBackbone`).
        norm_layer: normalisation of the decoder; backbone_norm_layer: of the backbone (None = same).
        ch: decoder channels (RITM's ``deeplab_ch``).
        project_dropout: dropout after the ASPP projection (RITM's ``aspp_dropout``).

    forward(x: (B, 3, H, W), additional_features: (B, 64, H/2, W/2) | None) returns a 1-tuple with the
    (B, ch, H/4, W/4) decoder features.
    """

    def __init__(self, backbone: str = "resnet50", norm_layer: type[nn.Module] = nn.BatchNorm2d,
                 backbone_norm_layer: type[nn.Module] | None = None, ch: int = 256, project_dropout: float = 0.5):
        super().__init__()
        if backbone_norm_layer is None:
            backbone_norm_layer = norm_layer
        self.backbone_name = backbone
        self.ch = ch
        self.backbone = ResNetBackbone(backbone=backbone, dilated=True, norm_layer=backbone_norm_layer)
        expansion = self.backbone.layer4[0].expansion
        aspp_in_channels, skip_in_channels = 512 * expansion, 64 * expansion
        self.aspp_in_channels = aspp_in_channels

        self.head = _DeepLabHead(in_channels=ch + 32, mid_channels=ch, out_channels=ch, norm_layer=norm_layer)
        self.skip_project = _SkipProject(skip_in_channels, 32, norm_layer=norm_layer)
        self.aspp = _ASPP(aspp_in_channels, atrous_rates=(12, 24, 36), out_channels=ch,
                          project_dropout=project_dropout, norm_layer=norm_layer)

    def load_pretrained_weights(self, path) -> list[str]:
        """Load ImageNet ResNet weights into the backbone from a local file (see ResNetBackbone)."""
        return self.backbone.load_pretrained_weights(path)

    def forward(self, x: torch.Tensor, additional_features: torch.Tensor | None = None):
        c1, c4 = self.encode(x, additional_features)
        return (self.head(self.aspp_features(c4, c1)),)

    def encode(self, x: torch.Tensor, additional_features: torch.Tensor | None = None):
        """ResNet part: -> (projected stride-4 skip features (B, 32, H/4, W/4), stride-8 features
        (B, aspp_in_channels, H/8, W/8)); f-BRS ``after_c4`` inserts on the latter."""
        c1, _, _, c4 = self.backbone(x, additional_features)
        return self.skip_project(c1), c4

    def aspp_features(self, c4: torch.Tensor, c1: torch.Tensor) -> torch.Tensor:
        """ASPP on ``c4``, upsampled to ``c1`` and concatenated with it: (B, ch + 32, H/4, W/4), the
        input of ``head`` (f-BRS ``after_aspp`` inserts there)."""
        x = self.aspp(c4)
        x = F.interpolate(x, c1.shape[2:], mode="bilinear", align_corners=True)
        return torch.cat((x, c1), dim=1)


class _SkipProject(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        self.skip_project = nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                                          norm_layer(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_project(x)


class _DeepLabHead(nn.Module):
    def __init__(self, out_channels: int, in_channels: int, mid_channels: int = 256,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        self.block = nn.Sequential(
            SeparableConv2d(in_channels, mid_channels, dw_kernel=3, dw_padding=1, activation="relu",
                            norm_layer=norm_layer),
            SeparableConv2d(mid_channels, mid_channels, dw_kernel=3, dw_padding=1, activation="relu",
                            norm_layer=norm_layer),
            nn.Conv2d(mid_channels, out_channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def _conv_bn_relu(in_channels: int, out_channels: int, norm_layer, kernel_size: int = 1, dilation: int = 1):
    padding = dilation if kernel_size == 3 else 0
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, padding=padding,
                                   dilation=dilation, bias=False),
                         norm_layer(out_channels), nn.ReLU(inplace=True))


class _AsppPooling(nn.Module):
    """Image-level branch: global average pool -> 1x1 conv -> norm -> ReLU, broadcast to H x W."""

    def __init__(self, in_channels: int, out_channels: int, norm_layer: type[nn.Module]):
        super().__init__()
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)),
                                 nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                                 norm_layer(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Bilinear upsampling of a 1x1 map (align_corners=True) is a constant broadcast.
        return self.gap(x).expand(-1, -1, x.shape[2], x.shape[3])


class _ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3 and image pooling, concatenated and
    projected to ``out_channels`` (``concurent.*``, ``project.*``)."""

    def __init__(self, in_channels: int, atrous_rates, out_channels: int = 256, project_dropout: float = 0.5,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        branches = [_conv_bn_relu(in_channels, out_channels, norm_layer)]
        branches += [_conv_bn_relu(in_channels, out_channels, norm_layer, kernel_size=3, dilation=rate)
                     for rate in atrous_rates]
        branches.append(_AsppPooling(in_channels, out_channels, norm_layer=norm_layer))
        self.concurent = nn.ModuleList(branches)  # (sic) RITM's state_dict name

        project = [nn.Conv2d(len(branches) * out_channels, out_channels, kernel_size=1, bias=False),
                   norm_layer(out_channels), nn.ReLU(inplace=True)]
        if project_dropout > 0:
            project.append(SampleDropout(project_dropout))
        self.project = nn.Sequential(*project)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.concurent], dim=1))
