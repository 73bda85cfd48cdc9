"""Object-contextual representations (Yuan et al. 2020, "Object-Contextual Representations for
Semantic Segmentation"), the head RITM puts on HRNet.

With K soft object regions (K = 1 for a click model): region features are the
probability-weighted averages of pixel features; each pixel then attends to the K region
features and the attended context is concatenated with the pixel features.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from isegm.model.modeling.dropout import SampleDropout
import torch.nn.functional as F


def _conv_bn_relu(in_channels: int, out_channels: int, norm_layer) -> list[nn.Module]:
    # Norm + ReLU nested in their own Sequential: the state_dict names are '<i>.0.*' (RITM / HRNet-OCR).
    return [nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
            nn.Sequential(norm_layer(out_channels), nn.ReLU(inplace=True))]


class SpatialGatherModule(nn.Module):
    """Region features from soft regions: softmax over pixels of ``scale * probs``.

    forward(feats: (B, C, H, W), probs: (B, K, H, W)) -> (B, C, K, 1).
    """

    def __init__(self, cls_num: int = 0, scale: float = 1.0):
        super().__init__()
        self.cls_num = cls_num
        self.scale = scale

    def forward(self, feats: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        batch, k = probs.shape[:2]
        weights = F.softmax(self.scale * probs.reshape(batch, k, -1), dim=2)    # (B, K, HW)
        pixels = feats.reshape(batch, feats.shape[1], -1).permute(0, 2, 1)         # (B, HW, C)
        return torch.matmul(weights, pixels).permute(0, 2, 1).unsqueeze(3)         # (B, C, K, 1)


class ObjectAttentionBlock2D(nn.Module):
    """Pixel-to-region attention (``f_pixel`` queries, ``f_object`` keys, ``f_down`` values, ``f_up``).

    forward(x: (B, C, H, W), proxy: (B, C, K, 1)) -> context (B, C, H, W).
    """

    def __init__(self, in_channels: int, key_channels: int, scale: int = 1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d, align_corners: bool = True):
        super().__init__()
        self.scale = scale
        self.in_channels = in_channels
        self.key_channels = key_channels
        self.align_corners = align_corners
        self.pool = nn.MaxPool2d(kernel_size=(scale, scale))
        self.f_pixel = nn.Sequential(*_conv_bn_relu(in_channels, key_channels, norm_layer),
                                     *_conv_bn_relu(key_channels, key_channels, norm_layer))
        self.f_object = nn.Sequential(*_conv_bn_relu(in_channels, key_channels, norm_layer),
                                      *_conv_bn_relu(key_channels, key_channels, norm_layer))
        self.f_down = nn.Sequential(*_conv_bn_relu(in_channels, key_channels, norm_layer))
        self.f_up = nn.Sequential(*_conv_bn_relu(key_channels, in_channels, norm_layer))

    def forward(self, x: torch.Tensor, proxy: torch.Tensor) -> torch.Tensor:
        batch, _, h, w = x.shape
        if self.scale > 1:
            x = self.pool(x)
        out_h, out_w = x.shape[2:]
        key = self.f_object(proxy).reshape(batch, self.key_channels, -1)                    # (B, Ck, K)
        value = self.f_down(proxy).reshape(batch, self.key_channels, -1).permute(0, 2, 1)   # (B, K, Ck)
        needs_grad = torch.is_grad_enabled() and (x.requires_grad or proxy.requires_grad)
        if key.shape[2] == 1 and not self.training and not needs_grad:
            # One region: the softmax over a single key is exactly 1, so every pixel receives the
            # region's value (the query branch cannot change the result). Only in eval mode, so
            # that training still runs f_pixel (its batch statistics; DDP expects every parameter used),
            # and only without a backward pass through the inputs (BRS): the full path's gradient sums
            # in another order, and RITM's BRS trajectories follow that order.
            context = value.permute(0, 2, 1).reshape(batch, self.key_channels, 1, 1)
            context = context.expand(batch, self.key_channels, out_h, out_w)
        else:
            query = self.f_pixel(x).reshape(batch, self.key_channels, -1).permute(0, 2, 1)  # (B, HW, Ck)
            sim_map = F.softmax((self.key_channels ** -0.5) * torch.matmul(query, key), dim=-1)
            context = torch.matmul(sim_map, value).permute(0, 2, 1).reshape(batch, self.key_channels, out_h, out_w)
        context = self.f_up(context)
        if self.scale > 1:
            context = F.interpolate(context, size=(h, w), mode="bilinear", align_corners=self.align_corners)
        return context


class SpatialOCRModule(nn.Module):
    """OCR distribution head: attention context concatenated with the pixel features, then
    1x1 conv -> norm -> ReLU -> Dropout2d (``object_context_block``, ``conv_bn_dropout``).

    forward(feats: (B, C, H, W), proxy_feats: (B, C, K, 1)) -> (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, key_channels: int, out_channels: int, scale: int = 1,
                 dropout: float = 0.1, norm_layer: type[nn.Module] = nn.BatchNorm2d, align_corners: bool = True):
        super().__init__()
        self.object_context_block = ObjectAttentionBlock2D(in_channels, key_channels, scale, norm_layer,
                                                           align_corners)
        self.conv_bn_dropout = nn.Sequential(*_conv_bn_relu(2 * in_channels, out_channels, norm_layer),
                                             SampleDropout(dropout, channelwise=True))

    def forward(self, feats: torch.Tensor, proxy_feats: torch.Tensor) -> torch.Tensor:
        context = self.object_context_block(feats, proxy_feats)
        return self.conv_bn_dropout(torch.cat([context, feats], dim=1))
