"""Base class of click-based interactive segmentation models (RITM's ``ISModel``).

Sofiiuk et al. 2021, "Reviving Iterative Training with Mask Guidance for Interactive
Segmentation", sec. 3: clicks are encoded as disks (or distance maps); for iterative models the
previous mask is one more input channel. The encodings enter the backbone either

* through ``maps_transform`` ("Conv1S" in the paper): 1x1 conv -> (Leaky)ReLU -> 3x3/2 conv ->
  learned scale, added to the backbone's features after its first conv; or
* through ``rgb_conv`` ("Conv1E"-like early fusion): concatenated with the RGB image and mapped back
  to 3 channels by 1x1 convs before the backbone; or
* ``conv_extend``: a single 3x3/2 conv added after the first conv.

Subclasses build ``feature_extractor`` and implement :meth:`ISModel.backbone_forward`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from .modifiers import LRMult
from .ops import BatchImageNormalize, DistMaps, ScaleLayer, resolve_norm_layer, split_points_by_order

IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class ISModelConfig:
    """Parameters every ISModel shares (names and defaults are RITM's ``ISModel.__init__``).

    Attributes:
        use_rgb_conv: fuse clicks with RGB before the backbone (else ``maps_transform``).
        with_aux_output: also return the upsampled auxiliary logits ``instances_aux``.
        norm_radius: disk radius / distance normaliser, pixels.
        use_disks: binary disks instead of tanh distance maps.
        cpu_dist_maps: RITM's Cython click maps (rounded coordinates); see :class:`DistMaps`.
        clicks_groups: radii of per-click-order encodings (first click, ..., rest) or None.
        with_prev_mask: input has a 4th channel, the previous probability map.
        use_leaky_relu: LeakyReLU(0.2) instead of ReLU in the fusion layers.
        binary_prev_mask: threshold the previous mask at 0.5.
        conv_extend: fuse with a single 3x3/2 conv.
        norm_layer: dotted path of the normalisation class (see ``ops.NORM_LAYERS``).
        norm_mean_std: (mean, std) RGB statistics for input normalisation.
    """
    use_rgb_conv: bool = True
    with_aux_output: bool = False
    norm_radius: float = 260
    use_disks: bool = False
    cpu_dist_maps: bool = False
    clicks_groups: tuple | None = None
    with_prev_mask: bool = False
    use_leaky_relu: bool = False
    binary_prev_mask: bool = False
    conv_extend: bool = False
    norm_layer: str = "torch.nn.modules.batchnorm.BatchNorm2d"
    norm_mean_std: tuple = IMAGENET_MEAN_STD

    def to_dict(self) -> dict[str, Any]:
        """Plain-data dict; ``type(self)(**d)`` rebuilds the config."""
        return dataclasses.asdict(self)


def _as_tuple(value):
    """Lists (e.g. from a checkpoint) -> nested tuples, so configs are hashable plain data."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(v) for v in value)
    return value


class ISModel(nn.Module):
    """Click model base: ``forward(image, points) -> {'instances': logits[, 'instances_aux']}``.

    Attributes (the contract every model keeps): ``config``, ``with_prev_mask``,
    ``binary_prev_mask``, ``feature_extractor``, ``backbone_lr_mult``, ``norm_radius``,
    ``use_disks``, ``with_aux_output``.
    """
    config_class: ClassVar[type[ISModelConfig]] = ISModelConfig

    def __init__(self, config: ISModelConfig):
        super().__init__()
        self.config = config
        self.with_aux_output = config.with_aux_output
        self.clicks_groups = config.clicks_groups
        self.with_prev_mask = config.with_prev_mask
        self.binary_prev_mask = config.binary_prev_mask
        self.norm_radius = config.norm_radius
        self.use_disks = config.use_disks
        self.normalization = BatchImageNormalize(*config.norm_mean_std)
        norm_layer, _ = resolve_norm_layer(config.norm_layer)

        self.coord_feature_ch = 2 * (len(config.clicks_groups) if config.clicks_groups is not None else 1)
        if config.with_prev_mask:
            self.coord_feature_ch += 1

        def activation():
            return nn.LeakyReLU(negative_slope=0.2) if config.use_leaky_relu else nn.ReLU(inplace=True)

        ch = self.coord_feature_ch
        self.rgb_conv = None
        self.maps_transform = None
        if config.use_rgb_conv:
            self.rgb_conv = nn.Sequential(
                nn.Conv2d(3 + ch, 6 + ch, kernel_size=1),
                norm_layer(6 + ch),
                activation(),
                nn.Conv2d(6 + ch, 3, kernel_size=1))
        elif config.conv_extend:
            self.maps_transform = nn.Conv2d(ch, 64, kernel_size=3, stride=2, padding=1)
            self.maps_transform.apply(LRMult(0.1))
        else:
            self.maps_transform = nn.Sequential(
                nn.Conv2d(ch, 16, kernel_size=1),
                activation(),
                nn.Conv2d(16, 64, kernel_size=3, stride=2, padding=1),
                ScaleLayer(init_value=0.05, lr_mult=1))

        if config.clicks_groups is not None:
            self.dist_maps = nn.ModuleList(
                DistMaps(norm_radius=radius, spatial_scale=1.0, cpu_mode=config.cpu_dist_maps,
                         use_disks=config.use_disks) for radius in config.clicks_groups)
        else:
            self.dist_maps = DistMaps(norm_radius=config.norm_radius, spatial_scale=1.0,
                                      cpu_mode=config.cpu_dist_maps, use_disks=config.use_disks)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def make_config(cls, **params) -> ISModelConfig:
        """Validated config from constructor keywords; classes (norm_layer) become dotted paths.

        Raises:
            TypeError: unknown parameter name (lists the known ones).
            ValueError: unsupported norm layer.
        """
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(params) - fields)
        if unknown:
            raise TypeError(f"{cls.__name__} got unknown parameter(s) {unknown}; known: {sorted(fields)}")
        for name in ("norm_layer", "backbone_norm_layer"):
            if params.get(name) is not None:
                params[name] = resolve_norm_layer(params[name])[1]
        params = {k: _as_tuple(v) for k, v in params.items()}
        return cls.config_class(**params)

    @classmethod
    def from_config(cls, config: ISModelConfig | dict):
        """Build a model from its config (dataclass or plain dict from ``config.to_dict()``)."""
        if isinstance(config, dict):
            config = cls.make_config(**config)
        return cls(**dataclasses.asdict(config))

    # ------------------------------------------------------------------ forward
    def forward(self, image: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predict mask logits.

        Args:
            image: (B, 3, H, W) float32 RGB in [0, 1] (not normalised), or (B, 4, H, W) with the
                previous probability map in [0, 1] as 4th channel when ``with_prev_mask``.
            points: (B, 2N, 3) float32 rows (y, x, click order); first N positive, last N
                negative; padding rows (-1, -1, -1).

        Returns:
            {'instances': (B, 1, H, W) float32 logits} plus 'instances_aux' (same shape) when
            ``with_aux_output``; bilinear upsampling with align_corners=True as in RITM.

        Raises:
            ValueError: wrong image channels / rank or points shape.
        """
        expected = 4 if self.with_prev_mask else 3
        if image.dim() != 4 or image.shape[1] != expected:
            raise ValueError(f"image must be (B, {expected}, H, W) "
                             f"({'RGB + previous mask' if self.with_prev_mask else 'RGB'}), got {tuple(image.shape)}")
        if points.dim() != 3 or points.shape[0] != image.shape[0] or points.shape[2] != 3:
            raise ValueError(f"points must be (B={image.shape[0]}, 2N, 3) rows (y, x, order), "
                             f"got {tuple(points.shape)}")

        image, prev_mask = self.prepare_input(image)
        coord_features = self.get_coord_features(image, prev_mask, points)
        outputs = self.backbone_forward(*self.fuse_inputs(image, coord_features))

        size = image.shape[2:]
        result = {"instances": self._upsample(outputs["instances"], size)}
        if self.with_aux_output and outputs.get("instances_aux") is not None:
            result["instances_aux"] = self._upsample(outputs["instances_aux"], size)
        return result

    @staticmethod
    def _upsample(logits: torch.Tensor, size) -> torch.Tensor:
        if logits.shape[2:] == size:
            return logits
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=True)

    def prepare_input(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Split the previous mask channel off and normalise the RGB channels.

        Returns:
            (normalised (B, 3, H, W) image, (B, 1, H, W) previous mask or None).
        """
        prev_mask = None
        if self.with_prev_mask:
            prev_mask = image[:, 3:, :, :]
            image = image[:, :3, :, :]
            if self.binary_prev_mask:
                prev_mask = (prev_mask > 0.5).float()
        return self.normalization(image), prev_mask

    def get_coord_features(self, image: torch.Tensor, prev_mask: torch.Tensor | None,
                           points: torch.Tensor) -> torch.Tensor:
        """Click maps (B, 2 * groups, H, W), preceded by the previous mask channel when given."""
        if self.clicks_groups is not None:
            groups = (2,) + (1,) * (len(self.clicks_groups) - 2) + (-1,)
            point_groups = split_points_by_order(points, groups=groups)
            coord_features = torch.cat([dist_map(image, pts) for dist_map, pts in zip(self.dist_maps, point_groups)],
                                       dim=1)
        else:
            coord_features = self.dist_maps(image, points)
        if prev_mask is not None:
            coord_features = torch.cat((prev_mask, coord_features), dim=1)
        return coord_features

    def fuse_inputs(self, image: torch.Tensor, coord_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Normalised image (B, 3, H, W) and click maps (B, coord_feature_ch, H, W) -> the arguments
        of :meth:`backbone_forward`: ``(rgb_conv(image ++ maps), None)`` with ``rgb_conv``, else
        ``(image, maps_transform(maps))`` ((B, 64, H/2, W/2) features added after the first conv)."""
        if self.rgb_conv is not None:
            return self.rgb_conv(torch.cat((image, coord_features), dim=1)), None
        return image, self.maps_transform(coord_features)

    # ------------------------------------------------------------------ f-BRS insertion points
    #: f-BRS mode -> this model's feature insertion point (Sofiiuk et al. 2020, "f-BRS", sec. 3.3);
    #: empty: the model has none and refuses feature BRS.
    feature_brs_points: ClassVar[dict[str, str]] = {}

    def feature_brs_point(self, brs_mode: str) -> str:
        """The insertion point used for ``brs_mode`` ('f-BRS-A' | 'f-BRS-B' | 'f-BRS-C').

        Raises:
            ValueError: the model has no such insertion point (the message names mode and class).
        """
        point = self.feature_brs_points.get(brs_mode)
        if point is None:
            raise ValueError(f"{brs_mode} needs a feature insertion point that {type(self).__name__} does not have"
                             + (f" (it has {', '.join(sorted(self.feature_brs_points))})"
                                if self.feature_brs_points else ""))
        return point

    def brs_feature_channels(self, point: str) -> int:
        """Channels of the features at insertion ``point`` (the length of f-BRS's scale and bias)."""
        raise ValueError(f"{type(self).__name__} has no feature insertion point {point!r}")

    def brs_head_input(self, x: torch.Tensor, additional_features: torch.Tensor | None, point: str):
        """First part of :meth:`backbone_forward` up to ``point``: -> ``(features (B, C, h, w), extra)``,
        ``extra`` being whatever :meth:`brs_head` needs besides the features (or None)."""
        raise ValueError(f"{type(self).__name__} has no feature insertion point {point!r}")

    def brs_head(self, features: torch.Tensor, extra, point: str) -> torch.Tensor:
        """Rest of :meth:`backbone_forward` from ``point``: -> low-resolution 'instances' logits, so that
        ``brs_head(*brs_head_input(x, a, p), p)`` equals ``backbone_forward(x, a)['instances']``."""
        raise ValueError(f"{type(self).__name__} has no feature insertion point {point!r}")

    def backbone_forward(self, image: torch.Tensor, coord_features: torch.Tensor | None = None) -> dict:
        """Normalised image (B, 3, H, W) and fused click features (B, 64, H/2, W/2) or None ->
        {'instances': low-resolution logits[, 'instances_aux': ...]}."""
        raise NotImplementedError

    def load_pretrained_weights(self, path) -> list[str]:
        """Load ImageNet backbone weights from a local file (see the backbone's method)."""
        return self.feature_extractor.load_pretrained_weights(path)
