"""Convolutional heads shared by the DeepLab models (RITM's ``basic_blocks``)."""
from __future__ import annotations

import torch
import torch.nn as nn

from isegm.model.modeling.dropout import SampleDropout

from isegm.model.ops import select_activation_function


class SeparableConv2d(nn.Module):
    """Depthwise conv -> pointwise 1x1 conv -> norm -> activation (``body.{0,1,2,3}``).

    Args:
        in_channels, out_channels: channels.
        dw_kernel, dw_padding, dw_stride: depthwise conv geometry.
        activation: 'relu' | 'softplus' | nn.Module class | None (identity).
        use_bias: biases on both convs.
        norm_layer: normalisation class or None (identity).
    """

    def __init__(self, in_channels: int, out_channels: int, dw_kernel: int, dw_padding: int, dw_stride: int = 1,
                 activation=None, use_bias: bool = False, norm_layer: type[nn.Module] | None = None):
        super().__init__()
        act = nn.Identity if activation is None else select_activation_function(activation)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, kernel_size=dw_kernel, stride=dw_stride,
                      padding=dw_padding, bias=use_bias, groups=in_channels),
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, bias=use_bias),
            norm_layer(out_channels) if norm_layer is not None else nn.Identity(),
            act(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SepConvHead(nn.Module):
    """``num_layers`` separable 3x3 blocks (ReLU) then a 1x1 conv to ``num_outputs`` (``layers.*``).

    Args:
        num_outputs: output channels (1 for a mask logit).
        in_channels: input channels; mid_channels: channels of the separable blocks.
        dropout_ratio, dropout_indx: optional dropout after block ``dropout_indx``.
    """

    def __init__(self, num_outputs: int, in_channels: int, mid_channels: int, num_layers: int = 1,
                 kernel_size: int = 3, padding: int = 1, dropout_ratio: float = 0.0, dropout_indx: int = 0,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        layers = []
        for i in range(num_layers):
            layers.append(SeparableConv2d(in_channels if i == 0 else mid_channels, mid_channels,
                                          dw_kernel=kernel_size, dw_padding=padding,
                                          norm_layer=norm_layer, activation="relu"))
            if dropout_ratio > 0 and dropout_indx == i:
                layers.append(SampleDropout(dropout_ratio))
        layers.append(nn.Conv2d(mid_channels, num_outputs, kernel_size=1, padding=0))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, num_outputs, H, W)."""
        return self.layers(x)


class ConvHead(nn.Module):
    """``num_layers`` x (conv, ReLU, norm) then a 1x1 conv to ``out_channels`` (``convhead.*``)."""

    def __init__(self, out_channels: int, in_channels: int = 32, num_layers: int = 1, kernel_size: int = 3,
                 padding: int = 1, norm_layer: type[nn.Module] | None = nn.BatchNorm2d):
        super().__init__()
        layers = []
        for _ in range(num_layers):
            layers += [nn.Conv2d(in_channels, in_channels, kernel_size, padding=padding), nn.ReLU(),
                       norm_layer(in_channels) if norm_layer is not None else nn.Identity()]
        layers.append(nn.Conv2d(in_channels, out_channels, 1, padding=0))
        self.convhead = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convhead(x)
