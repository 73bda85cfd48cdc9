"""Clicks, the click-simulation rule and the click -> network-points layout.

The simulated user follows the protocol of RITM (Sofiiuk et al., "Reviving Iterative Training with
Mask Guidance for Interactive Segmentation", 2021), itself taken from Xu et al. (2016) and f-BRS:
the next click goes to the pixel of the largest error region (false negatives vs false positives)
that is farthest from that region's boundary.

There is exactly one implementation of that rule here (:func:`get_next_click`); the evaluation
:class:`Clicker` and the trainer's iterative-mask loop (:func:`add_next_points`) both use it.
Coordinates are (y, x) pixels.
"""
from __future__ import annotations

import copy
import logging
import numbers
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch

from isegm.geometry import Click, pack_points, valid_rows  # noqa: F401  (Click re-exported)

logger = logging.getLogger(__name__)

# RITM's simulated-user clicker uses the exact Euclidean distance transform; its trainer's
# get_next_points uses OpenCV's 5x5-mask approximation. Both choices are kept, see get_next_click.
DIST_MASK_PRECISE = cv2.DIST_MASK_PRECISE  # == 0
DIST_MASK_TRAINER = 5


def _as_pixel(value, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"click {what} coordinate must be an integer pixel index, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if float(value).is_integer():
        return int(value)
    raise ValueError(f"click {what} coordinate must be an integer pixel index, got {value!r}")


class Clicker:
    """Holds the clicks on one image and simulates the next click against a ground-truth mask.

    Args:
        gt_mask: optional (H, W) int ground truth: 1 object, 0 background, ``ignore_label`` ignored.
            Needed by :meth:`make_next_click`; also fixes the image size for validation.
        init_clicks: clicks to add right away (their ``indx`` is reassigned).
        ignore_label: value of ignored pixels in ``gt_mask`` (RITM: -1).
        click_indx_offset: added to every click's order (RITM's multi-stage models).
        image_shape: optional (H, W) used to validate clicks when no ``gt_mask`` is given.
        click_rule: optional simulated user replacing :func:`get_next_click` in
            :meth:`make_next_click`: ``click_rule(gt_mask, pred_mask, ignore_mask, not_clicked_mask)``
            with (H, W) bool arrays, returning ``(is_positive, (y, x))`` or None (e.g.
            :class:`isegm.inference.user.StochasticClickUser`). None = RITM's rule.

    Raises:
        ValueError: ``gt_mask`` is not 2-D.
    """

    def __init__(self, gt_mask=None, init_clicks=None, ignore_label=-1, click_indx_offset=0,
                 image_shape=None, click_rule=None):
        self.click_indx_offset = int(click_indx_offset)
        self.click_rule = click_rule
        self.ignore_label = ignore_label
        if gt_mask is not None:
            gt_mask = np.asarray(gt_mask)
            if gt_mask.ndim != 2:
                raise ValueError(f"gt_mask must be a (H, W) array, got shape {gt_mask.shape}")
            self.gt_mask = gt_mask == 1
            self.not_ignore_mask = gt_mask != ignore_label
            self.image_shape = tuple(gt_mask.shape)
        else:
            self.gt_mask = None
            self.not_ignore_mask = None
            self.image_shape = tuple(int(s) for s in image_shape[:2]) if image_shape is not None else None

        self.clicks_list = []
        self.num_pos_clicks = 0
        self.num_neg_clicks = 0
        self.not_clicked_map = None
        self.reset_clicks()

        for click in init_clicks or ():
            self.add_click(click)

    # ------------------------------------------------------------------ simulation
    def make_next_click(self, pred_mask) -> Click:
        """Add the simulated user's next click for the current binary prediction and return it.

        Args:
            pred_mask: (H, W) bool (or 0/1) current predicted mask.

        Raises:
            RuntimeError: the clicker was built without ``gt_mask``.
            ValueError: ``pred_mask`` has a different shape than ``gt_mask``.

        When no error pixel is left that has not been clicked already, RITM's clicker still adds
        a click: a negative one at (0, 0) (its arg-max over an all-zero map). This is kept so that
        click sequences match the original protocol.
        """
        if self.gt_mask is None:
            raise RuntimeError("Clicker.make_next_click needs the clicker to be built with gt_mask")
        pred_mask = np.asarray(pred_mask)
        if pred_mask.shape != self.gt_mask.shape:
            raise ValueError(f"pred_mask shape {pred_mask.shape} != gt_mask shape {self.gt_mask.shape}")
        if self.click_rule is None:
            result = get_next_click(self.gt_mask, pred_mask, ignore_mask=~self.not_ignore_mask,
                                    padding=True, not_clicked_mask=self.not_clicked_map)
        else:
            result = self.click_rule(self.gt_mask, pred_mask.astype(bool), ~self.not_ignore_mask,
                                     self.not_clicked_map)
        if result is None:
            is_positive, coords = False, (0, 0)
        else:
            is_positive, coords = result
        click = Click(is_positive=bool(is_positive), coords=coords)
        return self.add_click(click)

    # ------------------------------------------------------------------ click list
    def get_clicks(self, clicks_limit=None) -> list:
        """The clicks so far (the first ``clicks_limit`` when given), oldest first."""
        return self.clicks_list[:clicks_limit]

    def add_click(self, click: Click) -> Click:
        """Append a copy of ``click`` with its order set; returns the stored click.

        Raises:
            ValueError: non-integer or negative coordinates, or a click outside the image
                (when the size is known from ``gt_mask`` or ``image_shape``).
        """
        y = _as_pixel(click.coords[0], "y")
        x = _as_pixel(click.coords[1], "x")
        if y < 0 or x < 0:
            raise ValueError(f"click at (y={y}, x={x}) has negative coordinates")
        if self.image_shape is not None:
            height, width = self.image_shape
            if y >= height or x >= width:
                raise ValueError(f"click at (y={y}, x={x}) is outside the image of size "
                                 f"(H={height}, W={width})")
        stored = click.copy(is_positive=bool(click.is_positive), coords=(y, x),
                            indx=self.click_indx_offset + self.num_pos_clicks + self.num_neg_clicks)
        if stored.is_positive:
            self.num_pos_clicks += 1
        else:
            self.num_neg_clicks += 1
        self.clicks_list.append(stored)
        if self.not_clicked_map is not None:
            self.not_clicked_map[y, x] = False
        return stored

    def remove_last_click(self) -> Optional[Click]:
        """Undo: remove and return the last click (None when there is none)."""
        if not self.clicks_list:
            return None
        click = self.clicks_list.pop()
        if click.is_positive:
            self.num_pos_clicks -= 1
        else:
            self.num_neg_clicks -= 1
        if self.not_clicked_map is not None:
            self.not_clicked_map[click.coords[0], click.coords[1]] = True
        return click

    def reset_clicks(self) -> None:
        """Remove every click."""
        if self.gt_mask is not None:
            self.not_clicked_map = np.ones(self.gt_mask.shape, dtype=bool)
        self.num_pos_clicks = 0
        self.num_neg_clicks = 0
        self.clicks_list = []

    def get_state(self) -> list:
        """A deep copy of the clicks, for :meth:`set_state` (undo/redo)."""
        return copy.deepcopy(self.clicks_list)

    def set_state(self, state: Sequence[Click]) -> None:
        """Replace the clicks by a state from :meth:`get_state`."""
        self.reset_clicks()
        for click in state:
            self.add_click(click)

    def __len__(self) -> int:
        return len(self.clicks_list)


# ---------------------------------------------------------------------- the one click rule
def _distance_map(mask: np.ndarray, padding: bool, mask_size: int) -> np.ndarray:
    """L2 distance of every mask pixel to the nearest non-mask pixel, float32 (H, W)."""
    mask = mask.astype(np.uint8)
    if padding:
        mask = np.pad(mask, ((1, 1), (1, 1)), mode="constant")
    dt = cv2.distanceTransform(mask, cv2.DIST_L2, mask_size)
    if padding:
        dt = dt[1:-1, 1:-1]
    return dt


def _click_from_error_masks(fn_mask: np.ndarray, fp_mask: np.ndarray, padding: bool = True,
                            rng: Optional[np.random.Generator] = None,
                            not_clicked_mask: Optional[np.ndarray] = None,
                            dist_mask_size: Optional[int] = None):
    """Core of :func:`get_next_click` working on (H, W) bool error masks."""
    if dist_mask_size is None:
        dist_mask_size = DIST_MASK_PRECISE if rng is None else DIST_MASK_TRAINER
    fn_dt = _distance_map(fn_mask, padding, dist_mask_size)
    fp_dt = _distance_map(fp_mask, padding, dist_mask_size)
    if not_clicked_mask is not None:
        fn_dt = fn_dt * not_clicked_mask
        fp_dt = fp_dt * not_clicked_mask

    fn_max = fn_dt.max()
    fp_max = fp_dt.max()
    if fn_max <= 0 and fp_max <= 0:
        return None

    is_positive = bool(fn_max > fp_max)
    dt = fn_dt if is_positive else fp_dt
    if rng is None:
        # first pixel in raster order at the largest distance (argmax returns the first maximum)
        y, x = np.unravel_index(int(np.argmax(dt)), dt.shape)
        return is_positive, (int(y), int(x))

    inner = np.argwhere(dt > max(fn_max, fp_max) / 2.0)
    if len(inner) == 0:
        return None
    y, x = inner[int(rng.integers(0, len(inner)))]
    return is_positive, (int(y), int(x))


def error_masks(gt_mask, pred_mask, ignore_mask=None):
    """The simulated user's error regions: ``(fn, fp)`` (H, W) bool, fn = gt & ~pred & valid, fp = ~gt & pred & valid.

    ``gt_mask`` bool, or int with 1 = object and -1 = ignored; ``pred_mask`` non-zero = predicted;
    ``ignore_mask`` optional (H, W) bool, True = ignored.

    Raises:
        ValueError: the masks are not 2-D or their shapes differ.
    """
    gt_mask = np.asarray(gt_mask)
    pred_mask = np.asarray(pred_mask)
    if gt_mask.ndim != 2 or gt_mask.shape != pred_mask.shape:
        raise ValueError(f"gt_mask {gt_mask.shape} and pred_mask {pred_mask.shape} must be equal (H, W) shapes")
    if gt_mask.dtype == bool:
        gt = gt_mask
        valid = np.ones_like(gt)
    else:
        gt = gt_mask == 1
        valid = gt_mask != -1
    if ignore_mask is not None:
        ignore_mask = np.asarray(ignore_mask, dtype=bool)
        if ignore_mask.shape != gt.shape:
            raise ValueError(f"ignore_mask shape {ignore_mask.shape} != gt_mask shape {gt.shape}")
        valid = valid & ~ignore_mask
    pred = pred_mask.astype(bool)
    return gt & ~pred & valid, ~gt & pred & valid


def get_next_click(gt_mask, pred_mask, ignore_mask=None, padding: bool = True,
                   rng: Optional[np.random.Generator] = None, *, not_clicked_mask=None,
                   dist_mask_size: Optional[int] = None):
    """The simulated user's next click (RITM protocol).

    fn = gt & ~pred & ~ignore, fp = ~gt & pred & ~ignore. Each is distance-transformed
    (``cv2.distanceTransform(..., cv2.DIST_L2, mask)``; with ``padding`` the masks get a 1-pixel
    zero border first, so the image border counts as region boundary). The click is positive iff
    max(dt_fn) > max(dt_fp) (ties -> negative).

    * ``rng is None`` (RITM's evaluation clicker): the first pixel in raster order at the maximum
      distance of the chosen region; exact distance transform.
    * ``rng`` given (RITM trainer's ``get_next_points``): a uniformly random pixel of the chosen
      region with dt > max_dist / 2, drawn with ``rng.integers``; OpenCV's 5x5 approximate L2
      transform, as RITM's trainer uses.

    Args:
        gt_mask: (H, W) bool, or int with 1 = object (then -1 pixels are ignored as well).
        pred_mask: (H, W) bool current prediction (non-zero counts as predicted, as in RITM).
        ignore_mask: optional (H, W) bool, True = ignored pixel.
        padding: add the zero border before the distance transform.
        rng: numpy Generator for the trainer's random variant, None for the deterministic rule.
        not_clicked_mask: optional (H, W) bool, False at already clicked pixels, which then cannot
            be chosen again (RITM's evaluation clicker).
        dist_mask_size: override the distance-transform mask (0 = exact, 3 or 5 = approximate).

    Returns:
        ``(is_positive, (y, x))`` with int coordinates, or None when no (unclicked) error pixel
        is left.

    Raises:
        ValueError: the masks are not 2-D or their shapes differ.
    """
    fn_mask, fp_mask = error_masks(gt_mask, pred_mask, ignore_mask)
    if not_clicked_mask is not None:
        not_clicked_mask = np.asarray(not_clicked_mask, dtype=bool)
    return _click_from_error_masks(fn_mask, fp_mask, padding=padding, rng=rng,
                                   not_clicked_mask=not_clicked_mask, dist_mask_size=dist_mask_size)


# ---------------------------------------------------------------------- clicks -> points
def clicks_to_points(clicks_lists, num_pos=None, num_neg=None, clicks_limit=None) -> np.ndarray:
    """RITM's name for :func:`isegm.geometry.pack_points` (same arguments, same (B, 2N, 3) float32 result)."""
    return pack_points(clicks_lists, num_pos=num_pos, num_neg=num_neg, clicks_limit=clicks_limit)


def add_next_points(pred_probs: torch.Tensor, gt: torch.Tensor, points: torch.Tensor,
                    pred_thresh: float = 0.49,
                    rng: Union[np.random.Generator, Sequence[np.random.Generator], None] = None, *,
                    click_indx: Optional[int] = None) -> torch.Tensor:
    """Add one simulated click per sample to a batch of points (the IT-M training loop).

    As RITM's trainer ``get_next_points``: gt object = gt > 0.5, fn = gt & (probs < pred_thresh),
    fp = ~gt & (probs > pred_thresh), no ignore region, no already-clicked exclusion, always padded;
    the click comes from :func:`get_next_click`'s rule (random inner point when ``rng`` is given,
    the deterministic farthest point otherwise). Samples without error get no click.

    Placement:
        * ``click_indx`` given (RITM exactly; pass the 1-based iteration number): the click goes
          to row ``N - click_indx`` of its half (the halves are filled from the end) with order
          ``click_indx``.
        * ``click_indx`` None: the first free (all -1) row of its half, with order = the largest
          order among the sample's valid rows + 1 (0 if none); a full half gets no click.

    Args:
        pred_probs: (B, 1, H, W) float probabilities in [0, 1].
        gt: (B, 1, H, W) float ground truth {0, 1}.
        points: (B, 2N, 3) float rows (y, x, order), padding (-1, -1, -1).
        pred_thresh: probability threshold.
        rng: numpy Generator for the random inner-point choice (RITM training), drawn from sample by
            sample; or one Generator per sample (B of them: a sample's click then does not depend on
            the other samples of the batch, which distributed training needs); None = deterministic.
        click_indx: see Placement.

    Returns:
        A new (B, 2N, 3) tensor (same dtype/device as ``points``); ``points`` is not modified.

    Raises:
        ValueError: mismatching shapes or an out-of-range ``click_indx``.
    """
    if pred_probs.dim() != 4 or pred_probs.shape[1] != 1 or pred_probs.shape != gt.shape:
        raise ValueError(f"pred_probs {tuple(pred_probs.shape)} and gt {tuple(gt.shape)} must both be (B, 1, H, W)")
    if points.dim() != 3 or points.shape[0] != pred_probs.shape[0] or points.shape[2] != 3 or points.shape[1] % 2:
        raise ValueError(f"points must be (B, 2N, 3) with B={pred_probs.shape[0]}, got {tuple(points.shape)}")
    num_points = points.shape[1] // 2
    if click_indx is not None and not 0 < click_indx <= num_points:
        raise ValueError(f"click_indx must be in 1..{num_points}, got {click_indx}")
    if rng is None or isinstance(rng, np.random.Generator):
        rngs = [rng] * points.shape[0]
    else:
        rngs = list(rng)
        if len(rngs) != points.shape[0]:
            raise ValueError(f"rng: {len(rngs)} generators for a batch of {points.shape[0]} samples")

    probs = pred_probs.detach().float().cpu().numpy()[:, 0]
    gt_np = gt.detach().cpu().numpy()[:, 0] > 0.5
    fn_masks = gt_np & (probs < pred_thresh)
    fp_masks = ~gt_np & (probs > pred_thresh)
    points_np = points.detach().cpu().numpy().copy()

    for b in range(points_np.shape[0]):
        result = _click_from_error_masks(fn_masks[b], fp_masks[b], padding=True, rng=rngs[b])
        if result is None:
            continue
        is_positive, (y, x) = result
        offset = 0 if is_positive else num_points
        if click_indx is not None:
            row = offset + num_points - click_indx
            order = float(click_indx)
        else:
            half = points_np[b, offset:offset + num_points]
            free = np.flatnonzero(~valid_rows(half))
            if len(free) == 0:
                logger.debug("no free %s point slot in sample %d; click dropped",
                             "positive" if is_positive else "negative", b)
                continue
            row = offset + int(free[0])
            valid = points_np[b][valid_rows(points_np[b])]
            order = float(valid[:, 2].max() + 1) if len(valid) else 0.0
        points_np[b, row] = (y, x, order)

    return torch.from_numpy(points_np).to(device=points.device, dtype=points.dtype)
