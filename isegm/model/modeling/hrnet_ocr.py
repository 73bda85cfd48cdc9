"""HRNetV2 backbone with an OCR head (Wang et al. 2020, "Deep High-Resolution Representation
Learning"; Yuan et al. 2020, OCR), in the configuration RITM uses.

Stem (two 3x3/2 convs, click features added after the first), a bottleneck stage, then stages 2-4
with 2, 3 and 4 parallel branches (widths w, 2w, 4w, 8w) exchanging information through fuse
layers. The four branch outputs are upsampled to stride 4 and concatenated (15w channels) for the
OCR head. "small" (HRNet-W18-small-v2) halves the blocks per branch and uses fewer modules.
State_dict names follow the official HRNet / RITM code so their weights load unchanged.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ocr import SpatialGatherModule, SpatialOCRModule
from .pretrained import load_pretrained_state
from .resnetv1b import BasicBlockV1b, BottleneckV1b


def _conv3x3_bn(in_channels: int, out_channels: int, norm_layer, stride: int, relu: bool) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
              norm_layer(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """One HRNet module: residual blocks per branch, then every branch sums all branches
    (downsampled by strided 3x3 convs or projected by 1x1 convs and bilinearly upsampled), ReLU.

    Args:
        num_branches: parallel resolutions.
        block: residual block class; num_blocks: blocks per branch.
        num_inchannels, num_channels: per-branch input / block channels.
        multi_scale_output: output all branches (True in every RITM model) or only the first.
        norm_layer: normalisation class; align_corners: for the bilinear upsampling.
    """

    def __init__(self, num_branches: int, block, num_blocks, num_inchannels, num_channels,
                 multi_scale_output: bool = True, norm_layer: type[nn.Module] = nn.BatchNorm2d,
                 align_corners: bool = True):
        super().__init__()
        if not (num_branches == len(num_blocks) == len(num_inchannels) == len(num_channels)):
            raise ValueError(f"num_branches={num_branches} but num_blocks={num_blocks}, "
                             f"num_inchannels={num_inchannels}, num_channels={num_channels}")
        self.num_branches = num_branches
        self.norm_layer = norm_layer
        self.align_corners = align_corners
        self.multi_scale_output = multi_scale_output
        self.num_inchannels = list(num_inchannels)

        self.branches = nn.ModuleList(self._make_branch(i, block, num_blocks[i], num_channels[i])
                                      for i in range(num_branches))
        self.fuse_layers = self._make_fuse_layers()
        self.relu = nn.ReLU(inplace=True)

    def _make_branch(self, index: int, block, num_blocks: int, channels: int) -> nn.Sequential:
        out_channels = channels * block.expansion
        downsample = None
        if self.num_inchannels[index] != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(self.num_inchannels[index], out_channels, kernel_size=1, bias=False),
                self.norm_layer(out_channels))
        layers = [block(self.num_inchannels[index], channels, 1, downsample=downsample, norm_layer=self.norm_layer)]
        self.num_inchannels[index] = out_channels
        layers += [block(out_channels, channels, norm_layer=self.norm_layer) for _ in range(1, num_blocks)]
        return nn.Sequential(*layers)

    def _make_fuse_layers(self):
        if self.num_branches == 1:
            return None
        channels = self.num_inchannels
        fuse_layers = []
        for i in range(self.num_branches if self.multi_scale_output else 1):
            row = []
            for j in range(self.num_branches):
                if j > i:    # lower resolution: 1x1 projection (upsampled in forward)
                    row.append(nn.Sequential(nn.Conv2d(channels[j], channels[i], kernel_size=1, bias=False),
                                             self.norm_layer(channels[i])))
                elif j == i:
                    row.append(None)
                else:        # higher resolution: i - j strided 3x3 convs, ReLU between them
                    steps = [_conv3x3_bn(channels[j], channels[j], self.norm_layer, 2, relu=True)
                             for _ in range(i - j - 1)]
                    steps.append(_conv3x3_bn(channels[j], channels[i], self.norm_layer, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def get_num_inchannels(self) -> list[int]:
        return self.num_inchannels

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        if self.num_branches == 1:
            return x
        outputs = []
        for i, row in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else row[0](x[0])
            for j in range(1, self.num_branches):
                if i == j:
                    y = y + x[j]
                elif j > i:
                    y = y + F.interpolate(row[j](x[j]), size=x[i].shape[2:], mode="bilinear",
                                          align_corners=self.align_corners)
                else:
                    y = y + row[j](x[j])
            outputs.append(self.relu(y))
        return outputs


class HighResolutionNet(nn.Module):
    """HRNetV2-W``width`` with an OCR head (``ocr_width > 0``) or a plain conv head.

    Args:
        width: channels of the highest-resolution branch (18, 32, 48).
        num_classes: output channels (1 for a click model).
        ocr_width: OCR key channels (mid channels = 2 * ocr_width); 0 for no OCR.
        small: HRNet-W18-small-v2 layout (2 blocks per branch, stage modules 1/3/2 instead of 1/4/3).
        norm_layer: normalisation class; align_corners: for all bilinear upsampling.

    forward(x: (B, 3, H, W), additional_features: (B, 64, H/2, W/2) | None) returns
    ``[out, out_aux]``, each (B, num_classes, H/4, W/4); ``out_aux`` is None without OCR.
    """

    def __init__(self, width: int, num_classes: int, ocr_width: int = 256, small: bool = False,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d, align_corners: bool = True):
        super().__init__()
        self.norm_layer = norm_layer
        self.width = width
        self.ocr_width = ocr_width
        self.align_corners = align_corners

        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = norm_layer(64)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)

        num_blocks = 2 if small else 4
        self.layer1 = self._make_layer(BottleneckV1b, 64, 64, num_blocks)
        channels = [64 * BottleneckV1b.expansion]

        stage_modules = (1, 3, 2) if small else (1, 4, 3)
        for stage, num_modules in zip((2, 3, 4), stage_modules):
            num_branches = stage
            branch_channels = [width * 2 ** i for i in range(num_branches)]
            setattr(self, f"stage{stage}_num_branches", num_branches)
            setattr(self, f"transition{stage - 1}", self._make_transition_layer(channels, branch_channels))
            modules, channels = self._make_stage(BasicBlockV1b, branch_channels, num_modules, num_branches,
                                                 [num_blocks] * num_branches, branch_channels)
            setattr(self, f"stage{stage}", modules)

        last_inp_channels = int(sum(channels))
        if ocr_width > 0:
            ocr_mid_channels = 2 * ocr_width
            self.conv3x3_ocr = nn.Sequential(
                nn.Conv2d(last_inp_channels, ocr_mid_channels, kernel_size=3, stride=1, padding=1),
                norm_layer(ocr_mid_channels),
                nn.ReLU(inplace=True))
            self.ocr_gather_head = SpatialGatherModule(num_classes)
            self.ocr_distri_head = SpatialOCRModule(in_channels=ocr_mid_channels, key_channels=ocr_width,
                                                    out_channels=ocr_mid_channels, scale=1, dropout=0.05,
                                                    norm_layer=norm_layer, align_corners=align_corners)
            self.cls_head = nn.Conv2d(ocr_mid_channels, num_classes, kernel_size=1, stride=1, padding=0, bias=True)
            self.aux_head = nn.Sequential(
                nn.Conv2d(last_inp_channels, last_inp_channels, kernel_size=1, stride=1, padding=0),
                norm_layer(last_inp_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(last_inp_channels, num_classes, kernel_size=1, stride=1, padding=0, bias=True))
        else:
            self.cls_head = nn.Sequential(
                nn.Conv2d(last_inp_channels, last_inp_channels, kernel_size=3, stride=1, padding=1),
                norm_layer(last_inp_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(last_inp_channels, num_classes, kernel_size=1, stride=1, padding=0, bias=True))

    def _make_transition_layer(self, pre_channels, cur_channels) -> nn.ModuleList:
        layers = []
        for i, out_channels in enumerate(cur_channels):
            if i < len(pre_channels):
                layers.append(None if out_channels == pre_channels[i] else
                              _conv3x3_bn(pre_channels[i], out_channels, self.norm_layer, 1, relu=True))
            else:  # a new, lower-resolution branch from the last one
                num_steps = i + 1 - len(pre_channels)
                steps = [_conv3x3_bn(pre_channels[-1], out_channels if k == num_steps - 1 else pre_channels[-1],
                                     self.norm_layer, 2, relu=True) for k in range(num_steps)]
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def _make_layer(self, block, inplanes: int, planes: int, num_blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                self.norm_layer(planes * block.expansion))
        layers = [block(inplanes, planes, stride, downsample=downsample, norm_layer=self.norm_layer)]
        inplanes = planes * block.expansion
        layers += [block(inplanes, planes, norm_layer=self.norm_layer) for _ in range(1, num_blocks)]
        return nn.Sequential(*layers)

    def _make_stage(self, block, num_inchannels, num_modules: int, num_branches: int, num_blocks,
                    num_channels):
        modules = []
        for _ in range(num_modules):
            modules.append(HighResolutionModule(num_branches, block, num_blocks, num_inchannels, num_channels,
                                                multi_scale_output=True, norm_layer=self.norm_layer,
                                                align_corners=self.align_corners))
            num_inchannels = modules[-1].get_num_inchannels()
        return nn.Sequential(*modules), num_inchannels

    def forward(self, x: torch.Tensor, additional_features: torch.Tensor | None = None):
        return self.heads_forward(self.compute_hrnet_feats(x, additional_features))

    def heads_forward(self, feats: torch.Tensor) -> list:
        """HRNet features (B, 15 * width, H/4, W/4) -> ``[out, out_aux]`` (the second half of :meth:`forward`;
        f-BRS mode A inserts its scale and bias before it)."""
        if self.ocr_width > 0:
            feats, out_aux = self.ocr_features(feats)
            return [self.cls_head(feats), out_aux]
        return [self.cls_head(feats), None]

    def ocr_features(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """HRNet features -> (OCR-augmented features (B, 2 * ocr_width, H/4, W/4), auxiliary logits
        (B, num_classes, H/4, W/4)); the input of ``cls_head`` (f-BRS mode C inserts there).

        Raises:
            ValueError: the network has no OCR head (``ocr_width == 0``).
        """
        if self.ocr_width <= 0:
            raise ValueError("this HRNet has no OCR head (ocr_width=0)")
        out_aux = self.aux_head(feats)
        feats = self.conv3x3_ocr(feats)
        context = self.ocr_gather_head(feats, out_aux)
        return self.ocr_distri_head(feats, context), out_aux

    def compute_pre_stage_features(self, x: torch.Tensor, additional_features: torch.Tensor | None) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if additional_features is not None:
            x = x + additional_features
        return self.relu(self.bn2(self.conv2(x)))

    def compute_hrnet_feats(self, x: torch.Tensor, additional_features: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 15 * width, H/4, W/4) concatenated multi-resolution features."""
        x = self.layer1(self.compute_pre_stage_features(x, additional_features))
        branches = [x]
        for stage in (2, 3, 4):
            transition = getattr(self, f"transition{stage - 1}")
            inputs = []
            for i in range(getattr(self, f"stage{stage}_num_branches")):
                source = branches[min(i, len(branches) - 1)]
                inputs.append(source if transition[i] is None else transition[i](source))
            branches = getattr(self, f"stage{stage}")(inputs)
        return self.aggregate_hrnet_features(branches)

    def aggregate_hrnet_features(self, x: list[torch.Tensor]) -> torch.Tensor:
        size = x[0].shape[2:]
        upsampled = [F.interpolate(xi, size=size, mode="bilinear", align_corners=self.align_corners) for xi in x[1:]]
        return torch.cat([x[0], *upsampled], dim=1)

    def load_pretrained_weights(self, path) -> list[str]:
        """Load ImageNet HRNetV2 weights (HRNet-Image-Classification ``hrnetv2_w*_imagenet_pretrained.pth``,
        or RITM's copies) from a local file; its classification head is skipped. As in RITM a
        ``last_layer`` (HRNet segmentation head) maps to ``aux_head`` when the shapes fit.

        Raises:
            FileNotFoundError, ValueError: see :func:`load_pretrained_state`.
        """
        return load_pretrained_state(self, path, rename=lambda key: key.replace("last_layer", "aux_head"))
