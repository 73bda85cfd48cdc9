"""Drawing helpers for evaluation visualisations and the annotation GUI (OpenCV, RGB images).

All functions take and return RGB uint8 images (convert with ``[:, :, ::-1]`` before
``cv2.imwrite``) and never modify their inputs.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np


@lru_cache(maxsize=16)
def _palette(num_cls: int) -> np.ndarray:
    # PASCAL VOC colour map: bits of the label spread over the high bits of R, G, B.
    labels = np.arange(num_cls, dtype=np.int64)
    palette = np.zeros((num_cls, 3), dtype=np.int64)
    for shift in range(8):
        for channel in range(3):
            bit = (labels >> (3 * shift + channel)) & 1
            palette[:, channel] |= bit << (7 - shift)
    palette.setflags(write=False)
    return palette


def get_palette(num_cls: int) -> np.ndarray:
    """(num_cls, 3) int64 PASCAL VOC colour map (0 = black, 1 = dark red, 2 = dark green, ...)."""
    return _palette(int(num_cls)).copy()


def draw_probmap(prob_map: np.ndarray) -> np.ndarray:
    """(H, W) float probabilities in [0, 1] -> (H, W, 3) uint8 RGB heat map (OpenCV COLORMAP_HOT:
    black -> red -> yellow -> white)."""
    values = (np.clip(np.asarray(prob_map, dtype=np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    return cv2.applyColorMap(values, cv2.COLORMAP_HOT)[:, :, ::-1].copy()


def _click_radius(order, default: int) -> int:
    # larger dots for the first clicks, as RITM's visualisations
    if order is None or order < 0:
        return default
    return {0: 8, 1: 6, 2: 4}.get(int(order), 2)


def draw_points(image: np.ndarray, points: Iterable[Sequence[float]], color, radius: int = 3) -> np.ndarray:
    """Draw filled circles at (y, x) points; padding rows (max(y, x) < 0, :func:`isegm.geometry.valid_rows`) are skipped.

    Args:
        image: (H, W, 3) uint8 (or (H, W)) image.
        points: rows (y, x) drawn with ``radius``, or (y, x, order) drawn with a radius shrinking
            with the order (8, 6, 4, then 2 px).
        color: BGR/RGB tuple in the image's channel order.

    Returns:
        A new image with the points drawn.
    """
    result = np.ascontiguousarray(image).copy()
    for p in points:
        if max(p[0], p[1]) < 0:
            continue
        r = _click_radius(p[2], radius) if len(p) > 2 else radius
        cv2.circle(result, (int(round(p[1])), int(round(p[0]))), r, tuple(int(c) for c in color), -1)
    return result


def blend_mask(image: np.ndarray, mask: np.ndarray, alpha: float = 0.6, color=None) -> np.ndarray:
    """Colour the pixels of ``mask > 0`` (instance ids use the palette; ``color`` overrides it)
    with opacity ``alpha``; other pixels are unchanged. (H, W, 3) uint8 -> (H, W, 3) uint8."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    mask = np.asarray(mask)
    labels = np.clip(mask, 0, None).astype(np.int64)
    region = labels > 0
    if color is not None:
        colors = np.broadcast_to(np.asarray(color, dtype=np.float32), image.shape)
    else:
        colors = get_palette(int(labels.max()) + 1)[labels].astype(np.float32)
    out = image.astype(np.float32)
    out[region] = (1 - alpha) * out[region] + alpha * colors[region]
    return out.astype(np.uint8)


def draw_with_blend_and_clicks(img: np.ndarray, mask: Optional[np.ndarray] = None, alpha: float = 0.6,
                               clicks_list=None, pos_color=(0, 255, 0), neg_color=(255, 0, 0),
                               radius: int = 4) -> np.ndarray:
    """Image with the mask blended in (palette colours) and the clicks drawn on top.

    Args:
        img: (H, W, 3) uint8 RGB.
        mask: optional (H, W) bool or int mask (values <= 0 are not coloured, so -1 ignore is not).
        alpha: mask opacity.
        clicks_list: optional :class:`~isegm.inference.clicker.Click` list.
        pos_color, neg_color: RGB colours of positive / negative clicks.
        radius: click radius in pixels.

    Returns:
        (H, W, 3) uint8.
    """
    result = np.asarray(img)
    if mask is not None:
        result = blend_mask(result, np.asarray(mask).astype(np.int64), alpha=alpha)
    else:
        result = result.copy()
    if clicks_list:
        pos = [c.coords for c in clicks_list if c.is_positive]
        neg = [c.coords for c in clicks_list if not c.is_positive]
        result = draw_points(result, pos, pos_color, radius=radius)
        result = draw_points(result, neg, neg_color, radius=radius)
    return result


def get_boundaries(instances_mask: np.ndarray, boundaries_width: int = 1) -> np.ndarray:
    """(H, W) bool: pixels of each non-zero instance within ``boundaries_width`` of its border."""
    instances_mask = np.asarray(instances_mask)
    boundaries = np.zeros(instances_mask.shape, dtype=bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    for obj_id in np.unique(instances_mask):
        if obj_id <= 0:
            continue
        obj = (instances_mask == obj_id).astype(np.uint8)
        inner = cv2.erode(obj, kernel, iterations=boundaries_width).astype(bool)
        boundaries |= obj.astype(bool) & ~inner
    return boundaries


def visualize_instances(imask: np.ndarray, bg_color=255, boundaries_color=None, boundaries_width: int = 1,
                        boundaries_alpha: float = 0.8) -> np.ndarray:
    """(H, W) int instance ids -> (H, W, 3) uint8 palette image, optional blended boundaries."""
    imask = np.asarray(imask).astype(np.int64)
    palette = get_palette(int(imask.max()) + 1)
    if bg_color is not None:
        palette[0] = bg_color
    result = palette[np.clip(imask, 0, None)].astype(np.uint8)
    if boundaries_color is not None:
        border = get_boundaries(imask, boundaries_width=boundaries_width)
        tinted = result.astype(np.float32)
        tinted[border] = boundaries_color
        result = (tinted * boundaries_alpha + (1 - boundaries_alpha) * result).astype(np.uint8)
    return result
