"""ResNet V1b / V1s bodies (He et al. 2016; GluonCV's "v1b": stride on the 3x3 conv, "v1s": deep stem).

Dilated variants (Yu & Koltun 2016) keep stride 8: layer3 and layer4 use dilation 2 and 4 instead of
stride 2. Module names follow GluonCV / RITM so that their weights load unchanged:
``conv1`` (a 7x7 conv, or for the deep stem a Sequential ``conv1.{0,1,3,4,6}``), ``bn1``,
``layer1..4.<i>.{conv1,bn1,conv2,bn2[,conv3,bn3]}``, ``downsample.{0,1}``.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class BasicBlockV1b(nn.Module):
    """Two 3x3 convs with a residual connection (ResNet-18/34 block). Output channels = planes."""
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, previous_dilation: int = 1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride,
                               padding=dilation, dilation=dilation, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1,
                               padding=previous_dilation, dilation=previous_dilation, bias=False)
        self.bn2 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class BottleneckV1b(nn.Module):
    """1x1 -> 3x3 (strided, dilated) -> 1x1 bottleneck (ResNet-50+ block). Output = 4 * planes."""
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, previous_dilation: int = 1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        del previous_dilation  # accepted for a uniform block signature; the 3x3 conv uses `dilation`
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride,
                               padding=dilation, dilation=dilation, bias=False)
        self.bn2 = norm_layer(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNetV1b(nn.Module):
    """ResNet body: stem (``conv1``, ``bn1``, ReLU, 3x3/2 max-pool) and ``layer1..layer4``.

    Args:
        block: BasicBlockV1b or BottleneckV1b.
        layers: blocks per stage, e.g. (3, 4, 6, 3).
        dilated: stride-8 output (dilation 2 / 4 in layer3 / layer4) instead of stride 32.
        deep_stem: three 3x3 convs (``stem_width``, ``stem_width``, ``2 * stem_width`` channels)
            instead of one 7x7 conv ("v1s").
        avg_down: average-pool in the projection shortcut ("v1d"); unused by RITM models.
        num_classes: adds ``fc`` (global average pooling + linear) when given; None for a backbone.
        norm_layer: normalisation class.

    forward(x: (B, 3, H, W)) returns the stage outputs (c1, c2, c3, c4); with ``num_classes`` use
    :meth:`classify` for logits.
    """

    def __init__(self, block, layers, dilated: bool = True, deep_stem: bool = False, stem_width: int = 32,
                 avg_down: bool = False, num_classes: int | None = None,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        self.inplanes = 2 * stem_width if deep_stem else 64
        if deep_stem:
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, stem_width, kernel_size=3, stride=2, padding=1, bias=False),
                norm_layer(stem_width),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_width, stem_width, kernel_size=3, stride=1, padding=1, bias=False),
                norm_layer(stem_width),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_width, 2 * stem_width, kernel_size=3, stride=1, padding=1, bias=False),
            )
        else:
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

        stage_args = dict(avg_down=avg_down, norm_layer=norm_layer)
        self.layer1 = self._make_layer(block, 64, layers[0], **stage_args)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, **stage_args)
        if dilated:
            self.layer3 = self._make_layer(block, 256, layers[2], dilation=2, **stage_args)
            self.layer4 = self._make_layer(block, 512, layers[3], dilation=4, **stage_args)
        else:
            self.layer3 = self._make_layer(block, 256, layers[2], stride=2, **stage_args)
            self.layer4 = self._make_layer(block, 512, layers[3], stride=2, **stage_args)

        self.fc = None
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes: int, num_blocks: int, stride: int = 1, dilation: int = 1,
                    avg_down: bool = False, norm_layer: type[nn.Module] = nn.BatchNorm2d) -> nn.Sequential:
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out_channels:
            if avg_down:
                pool = (nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False)
                        if dilation == 1 else
                        nn.AvgPool2d(kernel_size=1, stride=1, ceil_mode=True, count_include_pad=False))
                downsample = nn.Sequential(pool, nn.Conv2d(self.inplanes, out_channels, 1, stride=1, bias=False),
                                           norm_layer(out_channels))
            else:
                downsample = nn.Sequential(nn.Conv2d(self.inplanes, out_channels, 1, stride=stride, bias=False),
                                           norm_layer(out_channels))

        # The first block of a dilated stage uses half the stage's dilation in its first conv.
        if dilation in (1, 2):
            first_dilation = 1
        elif dilation == 4:
            first_dilation = 2
        else:
            raise ValueError(f"unsupported dilation {dilation}; expected 1, 2 or 4")
        blocks = [block(self.inplanes, planes, stride, dilation=first_dilation, downsample=downsample,
                        previous_dilation=dilation, norm_layer=norm_layer)]
        self.inplanes = out_channels
        for _ in range(1, num_blocks):
            blocks.append(block(self.inplanes, planes, dilation=dilation, previous_dilation=dilation,
                                norm_layer=norm_layer))
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return c1, c2, c3, c4

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, num_classes) logits. Raises RuntimeError without ``num_classes``."""
        if self.fc is None:
            raise RuntimeError("this ResNetV1b was built without a classifier (num_classes=None)")
        return self.fc(torch.flatten(self.avgpool(self(x)[-1]), 1))


RESNET_SPECS = {
    # name: (block, layers, deep_stem, stem_width)
    "resnet34": (BasicBlockV1b, (3, 4, 6, 3), False, 32),
    "resnet50": (BottleneckV1b, (3, 4, 6, 3), True, 64),
    "resnet101": (BottleneckV1b, (3, 4, 23, 3), True, 64),
    "resnet152": (BottleneckV1b, (3, 8, 36, 3), True, 64),
}


def build_resnet(name: str, **kwargs) -> ResNetV1b:
    """RITM's backbones: resnet34 = ResNet-34 v1b, resnet50/101/152 = v1s (deep stem, width 64).

    Raises:
        ValueError: unknown name.
    """
    if name not in RESNET_SPECS:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(RESNET_SPECS)}")
    block, layers, deep_stem, stem_width = RESNET_SPECS[name]
    return ResNetV1b(block, layers, deep_stem=deep_stem, stem_width=stem_width, **kwargs)
