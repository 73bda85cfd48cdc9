"""Random click simulation for training (RITM's ``MultiPointSampler``, Sofiiuk et al. 2021, Sec. 3.2).

For a sample, one object (or, with ``merge_objects_prob``, a union of objects) becomes the
target.  Positive clicks are drawn uniformly inside the (usually eroded) target, negative
clicks inside one of three regions chosen per click: background (``negative_bg_prob``),
other objects (``negative_other_prob``) or a band around the target
(``negative_border_prob``).  The number of positive clicks is ``1 + k`` and the number of
negative clicks ``k'`` with ``P(k) ~ prob_gamma ** k`` (geometric decay).

Output layout (shared with the models and the clicker): a (2N, 3) float32 array of rows
``(y, x, order)``, N = ``max_num_points``; rows [0, N) are positive, rows [N, 2N) negative,
unused rows are ``(-1, -1, -1)``.  As in RITM, randomly sampled training clicks carry
``order = SAMPLED_CLICK_INDEX`` (100), and a ``first_click_center`` click carries 0; the
trainer's iterative clicks carry their real index.

Deviation from RITM (a bug there): pixels of ignore regions (-1 in the target) are never
used for positive or negative clicks.

Randomness: every draw comes from one ``np.random.Generator`` (``seed`` argument or
:meth:`MultiPointSampler.set_seed`), so a seeded sampler fed the same samples is
reproducible.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Union

import cv2
import numpy as np

from .sample import DSample

__all__ = ["MultiPointSampler", "generate_probs", "get_point_candidates",
           "SAMPLED_CLICK_INDEX", "FIRST_CLICK_INDEX"]

SAMPLED_CLICK_INDEX = 100
FIRST_CLICK_INDEX = 0
_KERNEL_3x3 = np.ones((3, 3), np.uint8)

SeedLike = Union[None, int, np.random.SeedSequence, np.random.Generator]
# A region to click in: one mask, or a list of (mask, probability) alternatives chosen per click.
_Region = Union[np.ndarray, list]


def _as_generator(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


@lru_cache(maxsize=None)
def _probs_cached(num: int, gamma: float) -> tuple[float, ...]:
    weights = gamma ** np.arange(num, dtype=np.float64)
    return tuple((weights / weights.sum()).tolist())


def generate_probs(num: int, gamma: float) -> np.ndarray:
    """(num,) float64 probabilities proportional to ``gamma ** k``, k = 0 .. num-1."""
    return np.array(_probs_cached(int(num), float(gamma)))


def get_point_candidates(obj_mask: np.ndarray, k: float = 1.7, full_prob: float = 0.0,
                         rng: np.random.Generator | None = None) -> np.ndarray:
    """Candidate pixels for a "central" first click (RITM ``first_click_center``).

    Args:
        obj_mask: (H, W) bool/int mask of the object.
        k: with k > 0, candidates are pixels whose distance to the object border is
            > max distance / k; with k <= 0, one pixel is drawn with probability proportional
            to its distance to the border.
        full_prob: probability of using the whole object instead.
        rng: random generator.

    Returns:
        (M, 2) int64 array of (y, x) candidates (M = 0 for an empty mask).
    """
    rng = _as_generator(rng)
    obj_mask = np.asarray(obj_mask) > 0
    if full_prob > 0 and rng.random() < full_prob:
        return np.argwhere(obj_mask)
    padded = np.pad(obj_mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 0)[1:-1, 1:-1]
    if k > 0:
        return np.argwhere(dist > dist.max() / k)
    total = dist.sum()
    if total <= 0:
        return np.zeros((0, 2), np.int64)
    flat_index = rng.choice(dist.size, p=(dist / total).ravel())
    return np.array([np.unravel_index(flat_index, dist.shape)], dtype=np.int64)


class MultiPointSampler:
    """RITM's training click sampler.

    Args:
        max_num_points: N, the maximum number of positive (and of negative) clicks.
        prob_gamma: decay of the click-count distribution, P(k) ~ gamma ** k.
        expand_ratio: width of the negative border band, ``ceil(expand_ratio * sqrt(area))`` px.
        positive_erode_prob: probability of eroding the positive region before sampling.
        positive_erode_iters: 3x3 erosion iterations (skipped if <= 10 px would remain).
        negative_bg_prob, negative_other_prob, negative_border_prob: per-click probabilities of
            the three negative regions; must sum to 1.
        merge_objects_prob: probability of taking a union of 2..``max_num_merged_objects``
            root objects as the target.
        max_num_merged_objects: upper bound of merged objects (-1 = ``max_num_points``).
        use_hierarchy: pick a random node of the object tree (part or whole) as the target.
        soft_targets: targets are soft masks (needs a ReplayCompose augmentator).
        first_click_center: the first positive click lies in the object's inner region.
        only_one_first_click: with several positive regions, only the first gets a forced click.
        sfc_inner_k, sfc_full_inner_prob: parameters of :func:`get_point_candidates`.
        seed: int, SeedSequence, ``np.random.Generator`` (used as is) or None (fresh entropy).

    Raises:
        ValueError: max_num_points < 1, prob_gamma <= 0, or negative probabilities not summing to 1.

    Usage::

        sampler.sample_object(sample)        # choose the target
        points = sampler.sample_points()     # (2N, 3) float32
        target = sampler.selected_mask       # (1, H, W) float32: 1 / 0 (-1 = ignore)
    """

    neg_strategies = ("bg", "other", "border")

    def __init__(self, max_num_points: int, prob_gamma: float = 0.7, expand_ratio: float = 0.1,
                 positive_erode_prob: float = 0.9, positive_erode_iters: int = 3,
                 negative_bg_prob: float = 0.1, negative_other_prob: float = 0.4,
                 negative_border_prob: float = 0.5, merge_objects_prob: float = 0.0,
                 max_num_merged_objects: int = 1, use_hierarchy: bool = False, soft_targets: bool = False,
                 first_click_center: bool = False, only_one_first_click: bool = False,
                 sfc_inner_k: float = 1.7, sfc_full_inner_prob: float = 0.0, seed: SeedLike = None):
        if int(max_num_points) < 1:
            raise ValueError(f"max_num_points must be >= 1, got {max_num_points}")
        if prob_gamma <= 0:
            raise ValueError(f"prob_gamma must be > 0, got {prob_gamma}")
        neg_probs = (float(negative_bg_prob), float(negative_other_prob), float(negative_border_prob))
        if min(neg_probs) < 0 or not math.isclose(sum(neg_probs), 1.0):
            raise ValueError(f"negative_bg_prob + negative_other_prob + negative_border_prob must be 1 "
                             f"(each >= 0), got {neg_probs}")
        self.max_num_points = int(max_num_points)
        self.prob_gamma = float(prob_gamma)
        self.expand_ratio = expand_ratio
        self.positive_erode_prob = positive_erode_prob
        self.positive_erode_iters = positive_erode_iters
        self.neg_strategies_prob = neg_probs
        self.merge_objects_prob = merge_objects_prob
        self.max_num_merged_objects = (self.max_num_points if max_num_merged_objects == -1
                                       else int(max_num_merged_objects))
        self.use_hierarchy = use_hierarchy
        self.soft_targets = soft_targets
        self.first_click_center = first_click_center
        self.only_one_first_click = only_one_first_click
        self.sfc_inner_k = sfc_inner_k
        self.sfc_full_inner_prob = sfc_full_inner_prob

        self._pos_probs = generate_probs(self.max_num_points, self.prob_gamma)
        self._neg_probs = generate_probs(self.max_num_points + 1, self.prob_gamma)
        self.rng = _as_generator(seed)

        self._selected_mask: np.ndarray | None = None
        self._pos_regions: list[np.ndarray] = []
        self._neg_regions: dict[str, object] | None = None

    def set_seed(self, seed: SeedLike) -> None:
        """Replace the random generator (int / SeedSequence / Generator / None)."""
        self.rng = _as_generator(seed)

    def __repr__(self) -> str:
        return (f"MultiPointSampler(max_num_points={self.max_num_points}, prob_gamma={self.prob_gamma}, "
                f"merge_objects_prob={self.merge_objects_prob}, "
                f"max_num_merged_objects={self.max_num_merged_objects})")

    # ------------------------------------------------------------------ public API
    @property
    def selected_mask(self) -> np.ndarray:
        """(1, H, W) float32 target of the last :meth:`sample_object` (1 object, 0 bg, -1 ignore).

        Raises:
            RuntimeError: :meth:`sample_object` was not called yet.
        """
        if self._selected_mask is None:
            raise RuntimeError("call sample_object(sample) before reading selected_mask")
        return self._selected_mask

    def __call__(self, sample: DSample) -> tuple[np.ndarray, np.ndarray]:
        """``sample_object`` + ``sample_points``: returns ((2N, 3) float32 points, (1, H, W) float32 target)."""
        self.sample_object(sample)
        return self.sample_points(), self.selected_mask

    def sample_object(self, sample: DSample) -> None:
        """Choose the target object(s) of ``sample`` and prepare the click regions.

        A sample without objects gives an all-zero target, no positive clicks and negative
        clicks on the background (RITM's "keep background" samples).
        """
        ignore = sample.get_ignore_mask()
        if len(sample) == 0:
            background = sample.get_background_mask() & ~ignore
            self._selected_mask = np.zeros((1,) + background.shape, np.float32)
            self._pos_regions = []
            self._neg_regions = {name: background for name in self.neg_strategies}
            self._neg_regions["required"] = []
            return

        gt_mask, pos_regions, required_neg = self._sample_mask(sample)
        binary_gt = gt_mask > 0.5 if self.soft_targets else gt_mask > 0
        self._selected_mask = gt_mask[np.newaxis].astype(np.float32)
        self._pos_regions = pos_regions

        outside = ~binary_gt & ~ignore
        border = self._border_band(binary_gt) & ~ignore
        if len(sample) <= len(pos_regions):
            other = outside
        else:
            other = outside & ~sample.get_background_mask()
        self._neg_regions = {"bg": outside, "other": other, "border": border, "required": required_neg}

    def sample_points(self) -> np.ndarray:
        """(2N, 3) float32 clicks ``(y, x, order)`` for the current target (see module docstring).

        Raises:
            RuntimeError: :meth:`sample_object` was not called yet.
        """
        if self._neg_regions is None:
            raise RuntimeError("call sample_object(sample) before sample_points()")
        pos = self._multi_region_points(self._pos_regions, [False] * len(self._pos_regions),
                                        with_first_click=self.first_click_center)
        strategies = [(self._neg_regions[name], prob)
                      for name, prob in zip(self.neg_strategies, self.neg_strategies_prob)]
        required = list(self._neg_regions["required"])
        neg = self._multi_region_points(required + [strategies], [False] * len(required) + [True])
        return np.concatenate([pos, neg], axis=0)

    # ------------------------------------------------------------------ target selection
    def _sample_mask(self, sample: DSample) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        roots = sample.root_objects
        max_merged = min(len(roots), self.max_num_merged_objects)
        if len(roots) > 1 and max_merged >= 2 and self.rng.random() < self.merge_objects_prob:
            count = int(self.rng.integers(2, max_merged + 1))
            chosen = [roots[i] for i in self.rng.choice(len(roots), size=count, replace=False)]
        else:
            chosen = [roots[int(self.rng.integers(len(roots)))]]

        gt_mask = None
        pos_segments: list[np.ndarray] = []
        neg_segments: list[np.ndarray] = []
        for obj_id in chosen:
            obj_gt, obj_pos, obj_neg = self._sample_from_tree(obj_id, sample)
            gt_mask = obj_gt if gt_mask is None else np.maximum(gt_mask, obj_gt)
            pos_segments.extend(obj_pos)
            neg_segments.extend(obj_neg)

        pos_regions = [self._maybe_erode(x) for x in pos_segments]
        neg_regions = [self._maybe_erode(x) for x in neg_segments]
        return gt_mask, pos_regions, neg_regions

    def _target(self, sample: DSample, obj_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(gt mask as int32 1/0/-1 or soft float32, bool positive region) of one object."""
        obj_mask = sample.get_object_mask(obj_id)
        gt_mask = sample.get_soft_object_mask(obj_id) if self.soft_targets else obj_mask
        return gt_mask, obj_mask == 1

    def _sample_from_tree(self, obj_id: int, sample: DSample):
        if not self.use_hierarchy:
            gt_mask, pos_mask = self._target(sample, obj_id)
            return gt_mask, [pos_mask], []

        tree = sample.objects
        node_id = obj_id
        while tree[node_id]["children"] and self.rng.random() >= 0.5:
            children = tree[node_id]["children"]
            node_id = children[int(self.rng.integers(len(children)))]
        node = tree[node_id]
        gt_mask, pos_mask = self._target(sample, node_id)
        gt_mask = gt_mask.copy()

        negatives = []
        parent = node["parent"]
        if parent is not None and parent in tree:
            negatives.append((sample.get_object_mask(parent) == 1) & ~pos_mask)

        children = list(node["children"])
        for child_id in children:
            # tiny parts are never clicked as positive for the whole
            if tree[child_id].get("area", 0) / max(node.get("area", 1), 1) < 0.10:
                pos_mask = pos_mask & ~(sample.get_object_mask(child_id) == 1)
        if children:
            num_disabled = int(self.rng.integers(0, min(len(children), 3) + 1))
            disabled = [children[i] for i in self.rng.choice(len(children), size=num_disabled, replace=False)]
            for child_id in disabled:
                child_mask = sample.get_object_mask(child_id) == 1
                pos_mask = pos_mask & ~child_mask
                if self.soft_targets:
                    gt_mask = np.minimum(gt_mask, 1.0 - sample.get_soft_object_mask(child_id))
                else:
                    gt_mask[child_mask] = 0
                negatives.append(child_mask)
        return gt_mask, [pos_mask], negatives

    # ------------------------------------------------------------------ click sampling
    def _multi_region_points(self, regions: list[_Region], is_negative: list[bool],
                             with_first_click: bool = False) -> np.ndarray:
        n = self.max_num_points
        regions = regions[:n]
        per_region = [self._sample_region_points(region, is_negative[i], with_first_click)
                      for i, region in enumerate(regions)]
        per_region = [pts for pts in per_region if len(pts) > 0]

        points: list[tuple[int, int, int]] = []
        if len(per_region) == 1:
            points = per_region[0]
        elif len(per_region) > 1:
            if self.only_one_first_click:
                per_region = per_region[:1]
            points = [pts[0] for pts in per_region]
            weight = 1.0 / len(regions)
            union: list[tuple[np.ndarray, float]] = []
            for region in regions:
                if isinstance(region, list):
                    union.extend((mask, prob * weight) for mask, prob in region)
                else:
                    union.append((region, weight))
            extra = self._sample_region_points(union, is_negative=True)
            room = n - len(points)
            if len(extra) > room:
                keep = np.sort(self.rng.choice(len(extra), size=room, replace=False))
                extra = [extra[i] for i in keep]
            points.extend(extra)

        out = np.full((n, 3), -1, dtype=np.float32)
        if points:
            out[:len(points)] = np.asarray(points, dtype=np.float32)
        return out

    def _sample_region_points(self, region: _Region, is_negative: bool = False,
                              with_first_click: bool = False) -> list[tuple[int, int, int]]:
        n = self.max_num_points
        if is_negative:
            num_points = int(self.rng.choice(n + 1, p=self._neg_probs))
        else:
            num_points = 1 + int(self.rng.choice(n, p=self._pos_probs))
        if num_points == 0:
            return []

        if isinstance(region, list):
            # one alternative per click, chosen with the given probabilities
            if not region:
                return []
            candidates = [np.argwhere(mask) for mask, _ in region]
            probs = np.array([prob for _, prob in region], dtype=np.float64)
            choice = self.rng.choice(len(region), size=num_points, p=probs / probs.sum())
            sizes = np.array([len(c) for c in candidates])[choice]
            valid = sizes > 0
            picks = (self.rng.random(num_points) * np.maximum(sizes, 1)).astype(np.int64)
            return [(*candidates[c][p].tolist(), SAMPLED_CLICK_INDEX)
                    for c, p, ok in zip(choice, picks, valid) if ok]

        points: list[tuple[int, int, int]] = []
        start = 0
        if with_first_click:
            inner = get_point_candidates(region, k=self.sfc_inner_k, full_prob=self.sfc_full_inner_prob,
                                         rng=self.rng)
            if len(inner):
                y, x = inner[int(self.rng.integers(len(inner)))].tolist()
                points.append((y, x, FIRST_CLICK_INDEX))
            start = 1
        candidates = np.argwhere(region)
        if len(candidates) and num_points > start:
            picks = self.rng.integers(len(candidates), size=num_points - start)
            points.extend((int(y), int(x), SAMPLED_CLICK_INDEX) for y, x in candidates[picks])
        return points

    # ------------------------------------------------------------------ region helpers
    def _maybe_erode(self, mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask, dtype=bool)
        if self.rng.random() > self.positive_erode_prob:
            return mask
        eroded = cv2.erode(mask.astype(np.uint8), _KERNEL_3x3, iterations=self.positive_erode_iters) > 0
        return eroded if eroded.sum() > 10 else mask

    def _border_band(self, mask: np.ndarray) -> np.ndarray:
        radius = int(np.ceil(self.expand_ratio * np.sqrt(mask.sum())))
        if radius <= 0:
            return np.zeros_like(mask, dtype=bool)
        expanded = cv2.dilate(mask.astype(np.uint8), _KERNEL_3x3, iterations=radius) > 0
        return expanded & ~mask
