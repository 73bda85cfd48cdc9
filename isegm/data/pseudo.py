"""Pseudo-objects: training targets made from unlabelled pixels and from procedural shapes.

COCO_MVal annotates one object per image; the rest of every image is unlabelled. Two sources of extra
targets with exact masks, both drawn per training item (after augmentation, so on the crop the model sees):

* **Superpixel regions** (in the spirit of unsupervised interactive segmentation, MIS, Li et al., ICCV 2023,
  which merges regions at several granularities): the crop is over-segmented with Felzenszwalb & Huttenlocher's
  graph segmentation (scikit-image ``felzenszwalb``) at a scale drawn from ``scales``; a seed segment is
  grown by merging, one at a time, the adjacent segment whose mean colour is closest to the region's
  (a path up a colour-similarity merge hierarchy), for a random number of merges. The region is the target.
* **Synthetic shapes** (formula-driven supervision, FractalDB, Kataoka et al., ACCV 2020, with copy-paste):
  a random star-shaped blob (a radius that is a sum of random harmonics) or a random polygon, filled with the
  pixels of another training crop, is pasted onto the crop. The shape is the target.

Either replaces the item's objects by the pseudo-object (one object, no ignore regions); otherwise the
item is left unchanged. Validation never uses them (:func:`isegm.engine.recipe.build_datasets`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .sample import DSample

__all__ = ["PseudoObjects", "superpixel_region", "synthetic_shape"]


def _segment_graph(labels: np.ndarray, image: np.ndarray):
    """Per-segment pixel counts, mean colours (float64, (S, 3)) and the adjacency as sorted unique pairs."""
    num = int(labels.max()) + 1
    flat = labels.ravel()
    areas = np.bincount(flat, minlength=num).astype(np.float64)
    colours = np.stack([np.bincount(flat, weights=image[..., c].ravel().astype(np.float64), minlength=num)
                        for c in range(3)], axis=1) / np.maximum(areas, 1)[:, None]
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        lo = np.minimum(a[diff], b[diff]).astype(np.int64)
        hi = np.maximum(a[diff], b[diff]).astype(np.int64)
        pairs.append(lo * num + hi)
    codes = np.unique(np.concatenate(pairs)) if pairs else np.zeros(0, np.int64)
    return areas, colours, np.stack([codes // num, codes % num], axis=1)


def superpixel_region(image: np.ndarray, rng: np.random.Generator, scales=(100, 300, 1000), max_merges: int = 8,
                      area_range=(0.01, 0.5), attempts: int = 5) -> np.ndarray | None:
    """A pseudo-object made of merged Felzenszwalb segments of ``image``.

    Args:
        image: (H, W, 3) uint8 RGB.
        rng: the generator every random choice is drawn from (same state, same region).
        scales: Felzenszwalb ``scale`` values (larger = coarser segments); one is drawn per attempt.
        max_merges: the number of merges is uniform in [0, max_merges].
        area_range: (min, max) area of the region as a fraction of the image.
        attempts: seeds tried before giving up.

    Returns:
        (H, W) bool mask, or None when no attempt gave a region inside ``area_range``.

    Raises:
        ValueError: ``image`` not (H, W, 3) uint8.
    """
    from skimage.segmentation import felzenszwalb

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"superpixel_region needs an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    total = float(image.shape[0] * image.shape[1])
    low, high = area_range[0] * total, area_range[1] * total
    for _ in range(int(attempts)):
        scale = float(scales[int(rng.integers(len(scales)))])
        labels = felzenszwalb(image, scale=scale, sigma=0.8, min_size=max(20, int(total / 2000)))
        areas, colours, pairs = _segment_graph(labels, image)
        neighbours = [[] for _ in range(len(areas))]
        for a, b in pairs:
            neighbours[a].append(b)
            neighbours[b].append(a)
        candidates = np.flatnonzero(areas < high)
        if candidates.size == 0:
            continue
        weights = np.sqrt(areas[candidates])
        seed = int(candidates[rng.choice(candidates.size, p=weights / weights.sum())])
        region, area = {seed}, areas[seed]
        colour = colours[seed].copy()
        frontier = set(neighbours[seed])
        for _ in range(int(rng.integers(max_merges + 1))):
            frontier -= region
            if not frontier:
                break
            options = np.fromiter(frontier, dtype=np.int64)
            best = int(options[np.argmin(((colours[options] - colour) ** 2).sum(axis=1))])
            if area + areas[best] > high:
                break
            colour = (colour * area + colours[best] * areas[best]) / (area + areas[best])
            area += areas[best]
            region.add(best)
            frontier.update(neighbours[best])
        if low <= area <= high:
            return np.isin(labels, np.fromiter(region, dtype=np.int64))
    return None


def synthetic_shape(height: int, width: int, rng: np.random.Generator, size_range=(0.2, 0.7)) -> np.ndarray:
    """A random filled shape inside an (height, width) canvas: a harmonic blob or a polygon (even odds).

    Args:
        height, width: canvas size in pixels (>= 8 each).
        rng: the generator every random choice is drawn from.
        size_range: (min, max) of the shape's extent as a fraction of the canvas's shorter side.

    Returns:
        (height, width) bool mask with at least one pixel.

    Raises:
        ValueError: canvas smaller than 8 x 8.
    """
    import cv2

    if height < 8 or width < 8:
        raise ValueError(f"synthetic_shape needs a canvas of at least 8 x 8 pixels, got {height} x {width}")
    radius = 0.5 * float(rng.uniform(*size_range)) * min(height, width)
    cy = float(rng.uniform(radius, height - radius)) if height > 2 * radius else height / 2
    cx = float(rng.uniform(radius, width - radius)) if width > 2 * radius else width / 2
    if rng.random() < 0.5:
        theta = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)
        r = np.ones_like(theta)
        for k in range(2, 8):
            r += rng.uniform(0.0, 0.6 / k) * np.cos(k * theta + rng.uniform(0.0, 2.0 * np.pi))
        r = r / r.max()
    else:
        n = int(rng.integers(3, 11))
        theta = np.sort(rng.uniform(0.0, 2.0 * np.pi, n))
        r = rng.uniform(0.35, 1.0, n)
    stretch = rng.uniform(0.6, 1.0)
    angle = rng.uniform(0.0, np.pi)
    ys, xs = r * np.sin(theta) * stretch, r * np.cos(theta)
    ys, xs = xs * np.sin(angle) + ys * np.cos(angle), xs * np.cos(angle) - ys * np.sin(angle)
    points = np.stack([cx + radius * xs, cy + radius * ys], axis=1)  # cv2 takes (x, y)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    if not mask.any():
        mask[int(cy), int(cx)] = 1
    return mask.astype(bool)


@dataclass(frozen=True)
class PseudoObjects:
    """Replace a training item's objects by a pseudo-object with the given probabilities.

    Args:
        superpixel_prob: probability of a superpixel region (:func:`superpixel_region`) as the target.
        synthetic_prob: probability of a pasted synthetic shape (:func:`synthetic_shape`) as the target.
        scales, max_merges, area_range: the superpixel region's parameters.
        shape_size_range: the synthetic shape's extent (fraction of the crop's shorter side).

    Raises:
        ValueError: a probability outside [0, 1], probabilities summing above 1, an empty ``scales`` or a
            malformed range (names the field).

    Calling it: ``pseudo(sample, draw_other, rng) -> (sample, record)``. One coin ``u = rng.random()`` is
    drawn (only when some probability is above 0): ``u < superpixel_prob`` gives a superpixel region,
    ``u < superpixel_prob + synthetic_prob`` a synthetic shape textured with ``draw_other()``'s image
    (another augmented item; the sample's own image, flipped, when it returns None); otherwise the sample
    is returned unchanged. ``record`` is ``{}`` or ``{'kind': 'superpixel' | 'synthetic'}``. A superpixel
    draw that finds no region in ``area_range`` leaves the sample unchanged.
    """
    superpixel_prob: float = 0.0
    synthetic_prob: float = 0.0
    scales: tuple = (100, 300, 1000)
    max_merges: int = 8
    area_range: tuple = (0.01, 0.5)
    shape_size_range: tuple = (0.2, 0.7)

    def __post_init__(self):
        for name in ("superpixel_prob", "synthetic_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"pseudo_objects {name} must be a probability in [0, 1], got {value!r}")
        if self.superpixel_prob + self.synthetic_prob > 1.0 + 1e-9:
            raise ValueError(f"pseudo_objects superpixel_prob + synthetic_prob must be <= 1, got "
                             f"{self.superpixel_prob} + {self.synthetic_prob}")
        if len(self.scales) == 0 or any(float(s) <= 0 for s in self.scales):
            raise ValueError(f"pseudo_objects scales must be positive numbers, got {self.scales!r}")
        if int(self.max_merges) < 0:
            raise ValueError(f"pseudo_objects max_merges must be >= 0, got {self.max_merges}")
        for name, low, high in (("area_range", 0.0, 1.0), ("shape_size_range", 0.0, 1.0)):
            value = getattr(self, name)
            if len(value) != 2 or not low < float(value[0]) <= float(value[1]) <= high:
                raise ValueError(f"pseudo_objects {name} must be (min, max) with {low} < min <= max <= {high}, "
                                 f"got {value!r}")

    @property
    def active(self) -> bool:
        """True when a pseudo-object can be drawn."""
        return self.superpixel_prob > 0 or self.synthetic_prob > 0

    def __call__(self, sample: DSample, draw_other: Callable[[], DSample | None],
                 rng: np.random.Generator) -> tuple[DSample, dict]:
        if not self.active:
            return sample, {}
        u = rng.random()
        if u < self.superpixel_prob:
            mask = superpixel_region(sample.image, rng, self.scales, self.max_merges, self.area_range)
            if mask is None:
                return sample, {}
            return _single_object(sample, sample.image, mask), {"kind": "superpixel"}
        if u < self.superpixel_prob + self.synthetic_prob:
            height, width = sample.image.shape[:2]
            mask = synthetic_shape(height, width, rng, self.shape_size_range)
            other = draw_other()
            texture = other.image if other is not None and other.image.shape == sample.image.shape \
                else sample.image[:, ::-1]
            image = sample.image.copy()
            image[mask] = texture[mask]
            return _single_object(sample, image, mask), {"kind": "synthetic"}
        return sample, {}


def _single_object(sample: DSample, image: np.ndarray, mask: np.ndarray) -> DSample:
    return DSample(np.ascontiguousarray(image), mask.astype(np.int32), objects_ids=[1], sample_id=sample.sample_id,
                   name=sample.name)
