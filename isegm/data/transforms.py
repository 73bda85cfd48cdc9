"""Training augmentations (albumentations >= 2.0) in the form RITM's training scripts use.

RITM (Sofiiuk et al. 2021) trains on random crops of randomly rescaled images::

    UniformRandomResize(scale_range=(0.75, 1.40)) -> HorizontalFlip -> PadIfNeeded(crop, border 0)
    -> RandomCrop(crop) -> RandomBrightnessContrast(p=0.75) -> RGBShift(p=0.75)

Everything except :class:`UniformRandomResize` is albumentations' own transform;
:func:`ritm_train_augmentator` / :func:`ritm_val_augmentator` build the two pipelines.
All transforms are applied with ``transform(image=(H, W, 3) uint8, mask=(H, W[, L]) int32)``.
"""
from __future__ import annotations

import copy
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.augmentations.geometric import functional as fgeometric
from albumentations.core.serialization import SERIALIZABLE_REGISTRY

__all__ = [
    "UniformRandomResize",
    "ritm_train_augmentator",
    "ritm_val_augmentator",
    "remove_image_only_transforms",
]


class UniformRandomResize(A.RandomScale):
    """Rescale image and masks by one factor drawn uniformly from ``scale_range`` (RITM).

    Unlike ``A.RandomScale`` (whose ``scale_limit`` is relative to 1 and whose sizes are
    truncated), the range is given in absolute scale factors and the new size is
    ``round(H * s), round(W * s)``, exactly as RITM computes it.  Masks use
    ``mask_interpolation`` (nearest by default, so instance ids survive).

    Args:
        scale_range: (low, high) scale factors, 0 < low <= high.
        interpolation: OpenCV interpolation flag for the image.
        mask_interpolation: OpenCV interpolation flag for masks.
        p: probability of applying the transform (RITM: always).

    Raises:
        ValueError: ``scale_range`` is not two positive numbers with low <= high.
    """

    def __init__(self, scale_range: tuple[float, float] = (0.9, 1.1), interpolation: int = cv2.INTER_LINEAR,
                 mask_interpolation: int = cv2.INTER_NEAREST, p: float = 1.0):
        try:
            low, high = (float(x) for x in scale_range)
        except (TypeError, ValueError):
            raise ValueError(f"scale_range must be (low, high), got {scale_range!r}") from None
        if not 0.0 < low <= high:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range!r}")
        super().__init__(scale_limit=(low - 1.0, high - 1.0), interpolation=interpolation,
                         mask_interpolation=mask_interpolation, p=p)
        self.scale_range = (low, high)

    def get_params(self) -> dict[str, float]:
        return {"scale": self.py_random.uniform(*self.scale_range)}

    @staticmethod
    def _target_shape(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
        return max(1, int(round(shape[0] * scale))), max(1, int(round(shape[1] * scale)))

    def apply(self, img: np.ndarray, scale: float, **params: Any) -> np.ndarray:
        return fgeometric.resize(img, self._target_shape(img.shape, scale), self.interpolation)

    def apply_to_mask(self, mask: np.ndarray, scale: float, **params: Any) -> np.ndarray:
        return fgeometric.resize(mask, self._target_shape(mask.shape, scale), self.mask_interpolation)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return "scale_range", "interpolation", "mask_interpolation"


def ritm_train_augmentator(crop_size: tuple[int, int] = (320, 480),
                           scale_range: tuple[float, float] = (0.75, 1.40),
                           seed: int | None = None, replay: bool = False) -> A.Compose:
    """RITM's training pipeline (models/iter_mask/*: resize, flip, pad, crop, colour jitter).

    Args:
        crop_size: (height, width) of the output crops in pixels.
        scale_range: UniformRandomResize range.
        seed: albumentations seed (None = non-deterministic).
        replay: build an ``A.ReplayCompose`` (needed for soft targets) instead of ``A.Compose``.

    Returns:
        A Compose producing (crop_h, crop_w, 3) uint8 images and (crop_h, crop_w[, L]) masks.
    """
    height, width = _crop(crop_size)
    transforms = [
        UniformRandomResize(scale_range=scale_range),
        A.HorizontalFlip(),
        A.PadIfNeeded(min_height=height, min_width=width, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0),
        A.RandomCrop(height=height, width=width),
        A.RandomBrightnessContrast(brightness_limit=(-0.25, 0.25), contrast_limit=(-0.15, 0.4), p=0.75),
        A.RGBShift(r_shift_limit=10, g_shift_limit=10, b_shift_limit=10, p=0.75),
    ]
    return _compose(transforms, seed, replay)


def ritm_val_augmentator(crop_size: tuple[int, int] = (320, 480), seed: int | None = None,
                         replay: bool = False) -> A.Compose:
    """RITM's validation pipeline: pad to ``crop_size`` (border 0) and take a random crop."""
    height, width = _crop(crop_size)
    transforms = [
        A.PadIfNeeded(min_height=height, min_width=width, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0),
        A.RandomCrop(height=height, width=width),
    ]
    return _compose(transforms, seed, replay)


def remove_image_only_transforms(replay: dict[str, Any]) -> dict[str, Any]:
    """Copy of a ReplayCompose record without image-only (photometric) transforms.

    What is left replays only the geometry of an augmentation, e.g. on a float object mask
    to get soft boundaries (RITM ``soft_targets``).

    Raises:
        KeyError: the record names a transform class albumentations does not know.
    """
    replay = copy.deepcopy(replay)

    def _filter(node: dict[str, Any]) -> dict[str, Any]:
        if "transforms" not in node:
            return node
        kept = []
        for child in node["transforms"]:
            if "transforms" in child:
                kept.append(_filter(child))
                continue
            cls = SERIALIZABLE_REGISTRY[child["__class_fullname__"]]
            if not issubclass(cls, A.ImageOnlyTransform):
                kept.append(child)
        node["transforms"] = kept
        return node

    return _filter(replay)


def _crop(crop_size: tuple[int, int]) -> tuple[int, int]:
    try:
        height, width = (int(x) for x in crop_size)
    except (TypeError, ValueError):
        raise ValueError(f"crop_size must be (height, width), got {crop_size!r}") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"crop_size must be positive, got {crop_size!r}")
    return height, width


def _compose(transforms: list, seed: int | None, replay: bool) -> A.Compose:
    if replay:
        composed = A.ReplayCompose(transforms, p=1.0)
        if seed is not None:
            composed.set_random_seed(seed)
        return composed
    return A.Compose(transforms, p=1.0, seed=seed)
