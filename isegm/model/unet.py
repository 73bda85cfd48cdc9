"""MFP ResNet-34 U-Net click model (the seed design "MFPResNetUNet").

A U-Net (Ronneberger et al., MICCAI 2015) whose encoder is a ResNet-34 (He et al., CVPR 2016) in
torchvision's layout (``torchvision.models.resnet34``: ``conv1``, ``bn1``, ``layer1`` .. ``layer4``),
with its first convolution widened from 3 to 5 input channels: the normalised RGB image plus a
positive and a negative click map (6 with ``with_prev_mask``: the previous probability map comes
first among the extra channels, as in :meth:`ISModel.get_coord_features`). The click maps are the
project's :class:`~isegm.model.ops.DistMaps` (RITM's disks of radius 5 by default, or tanh distance
maps with ``use_disks=False``), computed by :class:`~isegm.model.is_model.ISModel` from the usual
``(B, 2N, 3)`` points. The decoder upsamples the stride-32 features step by step, concatenating at
each step the encoder output of the same resolution (strides 16, 8, 4, 2, then the 5-channel input
itself at stride 1), and ends in a 1x1 convolution giving one logit channel at input resolution.

The model is an :class:`ISModel`: same ``forward(image, points) -> {'instances': (B, 1, H, W) logits}``,
same checkpoint format (:func:`isegm.model.save_is_model` / :func:`isegm.model.load_is_model`; the
checkpoint's class is ``isegm.model.unet.UNetModel``), so the predictors, the evaluator and the
annotation session use it unchanged. It has no f-BRS insertion points (feature BRS refuses it; RGB-BRS
and NoBRS work) and no auxiliary output.

``with_prev_mask`` is False by default, as in the design (clicks only, no iterative mask input);
True adds the previous mask as a 6th input channel so that the model can be trained with IT-M.

ImageNet initialisation: :meth:`ResNetUNetEncoder.load_pretrained_weights` reads a LOCAL
torchvision-layout ``resnet34`` state dict (nothing is ever downloaded): every encoder tensor is
copied; of ``conv1.weight`` (64, 3, 7, 7) the three RGB filters go to input channels 0..2 and the
click-map (and previous-mask) filters keep their initialisation (small random values: the recipe's
Xavier init), so the clicks act from the first step; ``fc.*`` is ignored.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from isegm.errors import UserError

from .is_model import IMAGENET_MEAN_STD, ISModel, ISModelConfig
from .modifiers import LRMult
from .modeling.pretrained import _unwrap
from .ops import resolve_norm_layer
from .torch_file import read_torch_file

logger = logging.getLogger(__name__)

ENCODERS = ("resnet34",)
# Channels of the encoder outputs at strides 2, 4, 8, 16, 32 (ResNet-34: basic blocks).
_ENCODER_CHANNELS = (64, 64, 128, 256, 512)
_PREFIXES = ("module.", "model.", "backbone.")


@dataclass(frozen=True)
class UNetConfig(ISModelConfig):
    """ISModelConfig plus the U-Net parameters; the click defaults are RITM's disks of radius 5.

    Attributes:
        encoder: 'resnet34' (torchvision layout).
        decoder_channels: output channels of the 5 decoder stages (strides 16, 8, 4, 2, 1).
        backbone_lr_mult: learning-rate multiplier of the encoder (1.0: trained from scratch).

    ``use_rgb_conv`` and ``conv_extend`` (RITM's fusion variants) do not apply: the clicks enter the
    encoder's first convolution; both must stay False. ``use_leaky_relu`` is ignored.
    """
    use_rgb_conv: bool = False
    norm_radius: float = 5
    use_disks: bool = True
    encoder: str = "resnet34"
    decoder_channels: tuple = (256, 128, 64, 32, 16)
    backbone_lr_mult: float = 1.0


class ResNetUNetEncoder(nn.Module):
    """torchvision ResNet-34 without its classifier, first conv taking ``in_channels`` channels.

    ``forward(x)``: (B, in_channels, H, W) -> [(B, 64, H/2, W/2), (B, 64, H/4), (B, 128, H/8),
    (B, 256, H/16), (B, 512, H/32)] (sizes rounded up as by the strided convolutions).
    State-dict keys are torchvision's (``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight`` ...).

    Raises:
        ValueError: unknown encoder name.
    """

    def __init__(self, in_channels: int, encoder: str = "resnet34", norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"unknown U-Net encoder {encoder!r}; expected one of {list(ENCODERS)}")
        from torchvision.models import resnet34

        net = resnet34(weights=None, norm_layer=norm_layer)
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1, self.relu, self.maxpool = net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x0 = self.relu(self.bn1(self.conv1(x)))
        x1 = self.layer1(self.maxpool(x0))
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        return [x0, x1, x2, x3, x4]

    def load_pretrained_weights(self, path) -> list[str]:
        """Initialise from a local torchvision-layout ResNet-34 ImageNet state dict (never downloads).

        Accepted files: ``torch.save(resnet34().state_dict())`` (torchvision's released
        ``resnet34-*.pth`` is one), optionally under 'state_dict' / 'model' and with 'module.' /
        'model.' / 'backbone.' key prefixes. Every encoder tensor must be present with torchvision's
        shape (``num_batches_tracked`` may be absent); ``fc.*`` is ignored. Of ``conv1.weight``
        (64, 3, 7, 7) the RGB filters fill input channels 0..2; the click-map / previous-mask filters
        keep their current (random) values.

        Returns:
            the encoder keys that were set from the file.

        Raises:
            UserError: no file at ``path``, not a readable PyTorch file, not a tensor dict, or missing /
                mis-shaped encoder tensors (one line naming the file and the first offending keys).
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise UserError(f"ImageNet ResNet-34 weights not found: {path} (expected a local torchvision-layout "
                            f"resnet34 .pth; nothing is downloaded)")
        try:
            source = _unwrap(read_torch_file(path), path)
        except ValueError as err:   # CheckpointError is a ValueError too
            raise UserError(f"ImageNet ResNet-34 weights {path}: {str(err).splitlines()[0]}") from err
        state = {}
        for key, value in source.items():
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key = key[len(prefix):]
            state[key] = value

        target = self.state_dict()
        missing, mismatched = [], []
        for key, current in target.items():
            if key not in state:
                if not key.endswith("num_batches_tracked"):
                    missing.append(key)
                continue
            expected = (current.shape[0], 3, *current.shape[2:]) if key == "conv1.weight" else current.shape
            if tuple(state[key].shape) != tuple(expected):
                mismatched.append(f"{key} {tuple(state[key].shape)} (expected {tuple(expected)})")
        if missing or mismatched:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing tensors ({', '.join(missing[:3])})")
            if mismatched:
                parts.append(f"{len(mismatched)} with another shape ({', '.join(mismatched[:3])})")
            raise UserError(f"ImageNet ResNet-34 weights {path}: not a torchvision resnet34 state dict: "
                            + "; ".join(parts))

        loaded = []
        with torch.no_grad():
            for key, current in target.items():
                if key not in state:
                    continue
                value = state[key].to(current.dtype)
                if key == "conv1.weight":
                    current[:, :3].copy_(value)
                else:
                    current.copy_(value)
                loaded.append(key)
        # state_dict() tensors share storage with the parameters and buffers: the copies above set them.
        ignored = [k for k in state if k not in target]
        logger.info("U-Net encoder: %d tensors from %s (conv1: RGB filters only); %d ignored (e.g. %s)",
                    len(loaded), path, len(ignored), ignored[:2])
        return loaded


class _DecoderBlock(nn.Module):
    """Upsample to the skip's size (bilinear), concatenate the skip, two 3x3 conv + norm + ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, norm_layer):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels + skip_channels, out_channels, kernel_size=3, padding=1, bias=False),
            norm_layer(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            norm_layer(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat((x, skip), dim=1))


class UNetModel(ISModel):
    """MFP ResNet-34 U-Net (see the module docstring). Example (the registered ``unet_resnet34``)::

        UNetModel()      # disks of radius 5, no previous mask: 5 input channels

    Keywords: every :class:`UNetConfig` field (``with_prev_mask``, ``use_disks``, ``norm_radius``,
    ``clicks_groups``, ``decoder_channels``, ``backbone_lr_mult``, ``norm_layer`` ...).

    Raises:
        TypeError: unknown keyword. ValueError: unknown encoder or norm layer, ``use_rgb_conv`` /
            ``conv_extend`` set, or not 5 decoder channel counts.
    """
    config_class = UNetConfig

    def __init__(self, **params):
        config = self.make_config(**params)
        if config.use_rgb_conv or config.conv_extend:
            raise ValueError("UNetModel feeds the click maps to the encoder's first convolution; "
                             "use_rgb_conv and conv_extend must be False")
        if len(config.decoder_channels) != len(_ENCODER_CHANNELS) or any(
                not isinstance(c, int) or c <= 0 for c in config.decoder_channels):
            raise ValueError(f"decoder_channels must be {len(_ENCODER_CHANNELS)} positive ints, "
                             f"got {config.decoder_channels!r}")
        super().__init__(config)
        # ISModel builds RITM's click fusion (maps_transform); the U-Net concatenates the maps instead.
        del self.maps_transform
        self.maps_transform = None
        self.backbone_lr_mult = config.backbone_lr_mult
        norm_cls = resolve_norm_layer(config.norm_layer)[0]

        in_channels = 3 + self.coord_feature_ch
        self.feature_extractor = ResNetUNetEncoder(in_channels, config.encoder, norm_layer=norm_cls)
        self.feature_extractor.apply(LRMult(config.backbone_lr_mult))
        # skips, deepest first: strides 16, 8, 4, 2 from the encoder, then the input itself
        skips = list(reversed(_ENCODER_CHANNELS[:-1])) + [in_channels]
        blocks, ch = [], _ENCODER_CHANNELS[-1]
        for skip_ch, out_ch in zip(skips, config.decoder_channels):
            blocks.append(_DecoderBlock(ch, skip_ch, out_ch, norm_cls))
            ch = out_ch
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(ch, 1, kernel_size=1)

    def fuse_inputs(self, image: torch.Tensor, coord_features: torch.Tensor):
        """-> ``(image ++ click maps (B, 3 + coord_feature_ch, H, W), None)``."""
        return torch.cat((image, coord_features), dim=1), None

    def backbone_forward(self, image: torch.Tensor, coord_features: torch.Tensor | None = None) -> dict:
        """``image``: the fused (B, 3 + coord_feature_ch, H, W) input -> {'instances': (B, 1, H, W) logits}."""
        features = self.feature_extractor(image)
        x = features[-1]
        for block, skip in zip(self.decoder, list(reversed(features[:-1])) + [image]):
            x = block(x, skip)
        return {"instances": self.head(x)}


__all__ = ["UNetModel", "UNetConfig", "ResNetUNetEncoder", "IMAGENET_MEAN_STD"]
