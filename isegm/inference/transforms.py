"""Invertible test-time transforms of RITM's predictor (Sofiiuk et al., 2021).

A predictor applies its transforms in order to the (1, C, H, W) input image and the clicks, runs the
network, then applies ``inv_transform`` in reverse order to the (B, 1, h, w) output. RITM's order is
``[ZoomIn, LimitLongestSide, SigmoidForPred, AddHorizontalFlip]``, so the flip averaging is done on
logits, the sigmoid follows, and the size transforms resample probabilities.

Each transform keeps per-image state: ``reset()`` (new image), ``get_state()`` / ``set_state()``
(undo), and ``image_changed`` (True when the transformed image differs from the last call's).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from isegm.inference.clicker import Click

ClicksLists = List[List[Click]]


# ---------------------------------------------------------------------- bounding boxes
def get_bbox_from_mask(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """(rmin, rmax, cmin, cmax), inclusive, of the non-zero pixels of a non-empty (H, W) mask.

    Raises:
        ValueError: the mask is empty.
    """
    rows = np.flatnonzero(np.any(mask, axis=1))
    cols = np.flatnonzero(np.any(mask, axis=0))
    if len(rows) == 0:
        raise ValueError("cannot take the bounding box of an empty mask")
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def expand_bbox(bbox, expand_ratio: float, min_crop_size: Optional[float] = None) -> Tuple[int, int, int, int]:
    """Scale an inclusive box about its centre by ``expand_ratio`` (each side at least
    ``min_crop_size`` pixels); bounds rounded with Python's round (half to even), as RITM."""
    rmin, rmax, cmin, cmax = bbox
    rcenter = 0.5 * (rmin + rmax)
    ccenter = 0.5 * (cmin + cmax)
    height = expand_ratio * (rmax - rmin + 1)
    width = expand_ratio * (cmax - cmin + 1)
    if min_crop_size is not None:
        height = max(height, min_crop_size)
        width = max(width, min_crop_size)
    return (int(round(rcenter - 0.5 * height)), int(round(rcenter + 0.5 * height)),
            int(round(ccenter - 0.5 * width)), int(round(ccenter + 0.5 * width)))


def clamp_bbox(bbox, rmin: int, rmax: int, cmin: int, cmax: int) -> Tuple[int, int, int, int]:
    """Intersect an inclusive box with the limits."""
    return max(rmin, bbox[0]), min(rmax, bbox[1]), max(cmin, bbox[2]), min(cmax, bbox[3])


def _segments_iou(s1, s2) -> float:
    a, b = s1
    c, d = s2
    intersection = max(0, min(b, d) - max(a, c) + 1)
    union = max(1e-6, max(b, d) - min(a, c) + 1)
    return intersection / union


def get_bbox_iou(b1, b2) -> float:
    """RITM's box overlap: product of the 1-D IoUs of the row and the column ranges."""
    return _segments_iou(b1[:2], b2[:2]) * _segments_iou(b1[2:4], b2[2:4])


# ---------------------------------------------------------------------- base
class BaseTransform:
    """Interface of a test-time transform."""

    def __init__(self):
        self.image_changed = False

    def transform(self, image_nd: torch.Tensor, clicks_lists: ClicksLists):
        """(image (B, C, H, W), clicks lists) -> transformed (image, clicks lists)."""
        raise NotImplementedError

    def inv_transform(self, prob_map: torch.Tensor) -> torch.Tensor:
        """Map the (B, 1, h, w) output back to this transform's input frame."""
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def get_state(self):
        raise NotImplementedError

    def set_state(self, state) -> None:
        raise NotImplementedError


class StatelessTransform(BaseTransform):
    """A transform without state between clicks: reset / get_state / set_state do nothing."""

    def reset(self) -> None:
        pass

    def get_state(self):
        return None

    def set_state(self, state) -> None:
        pass


class SigmoidForPred(StatelessTransform):
    """Identity forward; ``inv_transform`` turns logits into probabilities with a sigmoid."""

    def transform(self, image_nd, clicks_lists):
        return image_nd, clicks_lists

    def inv_transform(self, prob_map):
        return torch.sigmoid(prob_map)


class AddHorizontalFlip(StatelessTransform):
    """Doubles the batch with the mirrored image (click x -> W - 1 - x); the inverse averages the
    first half with the mirrored second half."""

    def transform(self, image_nd, clicks_lists):
        if image_nd.dim() != 4:
            raise ValueError(f"AddHorizontalFlip expects a (B, C, H, W) tensor, got {tuple(image_nd.shape)}")
        width = image_nd.shape[3]
        image_nd = torch.cat([image_nd, torch.flip(image_nd, dims=[3])], dim=0)
        flipped = [[c.copy(coords=(c.coords[0], width - c.coords[1] - 1)) for c in clicks]
                   for clicks in clicks_lists]
        return image_nd, list(clicks_lists) + flipped

    def inv_transform(self, prob_map):
        if prob_map.dim() != 4 or prob_map.shape[0] % 2:
            raise ValueError(f"AddHorizontalFlip.inv_transform expects an even batch, got {tuple(prob_map.shape)}")
        n = prob_map.shape[0] // 2
        return 0.5 * (prob_map[:n] + torch.flip(prob_map[n:], dims=[3]))


# ---------------------------------------------------------------------- zoom-in
def get_object_roi(pred_mask: np.ndarray, clicks_list: Sequence[Click], expansion_ratio: float,
                   min_crop_size: float) -> Tuple[int, int, int, int]:
    """Box of the predicted mask plus the positive clicks, expanded and clamped to the image."""
    mask = pred_mask.copy()
    for click in clicks_list:
        if click.is_positive:
            mask[int(click.coords[0]), int(click.coords[1])] = True
    bbox = expand_bbox(get_bbox_from_mask(mask), expansion_ratio, min_crop_size)
    return clamp_bbox(bbox, 0, mask.shape[0] - 1, 0, mask.shape[1] - 1)


def get_roi_image_nd(image_nd: torch.Tensor, object_roi, target_size: Union[int, Tuple[int, int]]) -> torch.Tensor:
    """Crop the inclusive ROI and resize it (bilinear, align_corners=True): to ``target_size``
    (h, w) when a tuple, else so that the longer side is ``target_size`` (rounded half to even)."""
    rmin, rmax, cmin, cmax = object_roi
    height = rmax - rmin + 1
    width = cmax - cmin + 1
    if isinstance(target_size, (tuple, list)):
        new_height, new_width = int(target_size[0]), int(target_size[1])
    else:
        scale = target_size / max(height, width)
        new_height = int(round(height * scale))
        new_width = int(round(width * scale))
    crop = image_nd[:, :, rmin:rmax + 1, cmin:cmax + 1]
    return F.interpolate(crop, size=(new_height, new_width), mode="bilinear", align_corners=True)


def check_object_roi(object_roi, clicks_list: Sequence[Click]) -> bool:
    """True when every positive click lies in [rmin, rmax) x [cmin, cmax) (RITM's half-open test)."""
    for click in clicks_list:
        if click.is_positive:
            if click.coords[0] < object_roi[0] or click.coords[0] >= object_roi[1]:
                return False
            if click.coords[1] < object_roi[2] or click.coords[1] >= object_roi[3]:
                return False
    return True


def _transform_clicks_to_roi(clicks_list, object_roi, roi_shape) -> List[Click]:
    rmin, rmax, cmin, cmax = object_roi
    crop_height, crop_width = roi_shape
    return [c.copy(coords=(crop_height * (c.coords[0] - rmin) / (rmax - rmin + 1),
                           crop_width * (c.coords[1] - cmin) / (cmax - cmin + 1)))
            for c in clicks_list]


class ZoomIn(BaseTransform):
    """RITM's Zoom-In: after ``skip_clicks`` clicks, run the network on a resized crop around the
    object (the previous prediction's box plus the positive clicks, expanded by
    ``expansion_ratio``, sides >= ``min_crop_size``, clamped to the image).

    The crop is kept while every positive click stays inside it and the box of the current
    prediction overlaps it with ``get_bbox_iou >= recompute_thresh_iou``; otherwise it is replaced.
    ``target_size`` int: the crop is resized so its longer side is ``target_size``;
    tuple (h, w): resized to exactly that. ``skip_clicks = -1`` zooms from the first click (on the
    whole image while there is no prediction). The inverse resizes the crop prediction back and
    pastes it into a zero map of the image size. ``prob_thresh`` binarises the previous
    probabilities for the box.
    """

    def __init__(self, target_size: Union[int, Tuple[int, int]] = 400, skip_clicks: int = 1,
                 expansion_ratio: float = 1.4, min_crop_size: int = 200,
                 recompute_thresh_iou: float = 0.5, prob_thresh: float = 0.50):
        super().__init__()
        self.target_size = tuple(target_size) if isinstance(target_size, (tuple, list)) else target_size
        self.min_crop_size = min_crop_size
        self.skip_clicks = skip_clicks
        self.expansion_ratio = expansion_ratio
        self.recompute_thresh_iou = recompute_thresh_iou
        self.prob_thresh = prob_thresh

        self._input_image_shape = None
        self._prev_probs = None
        self._object_roi = None
        self._roi_image = None

    @property
    def object_roi(self):
        """The current zoom-in crop as (rmin, rmax, cmin, cmax), inclusive, in image pixels; None before
        the first zoom (or after :meth:`reset`)."""
        return self._object_roi

    def transform(self, image_nd, clicks_lists):
        if image_nd.shape[0] != 1 or len(clicks_lists) != 1:
            raise ValueError("ZoomIn works on a single image with a single clicks list")
        self.image_changed = False

        clicks_list = clicks_lists[0]
        if len(clicks_list) <= self.skip_clicks:
            return image_nd, clicks_lists

        self._input_image_shape = tuple(image_nd.shape)

        current_object_roi = None
        if self._prev_probs is not None:
            current_pred_mask = (self._prev_probs > self.prob_thresh)[0, 0]
            if current_pred_mask.sum() > 0:
                current_object_roi = get_object_roi(current_pred_mask, clicks_list,
                                                    self.expansion_ratio, self.min_crop_size)

        if current_object_roi is None:
            if self.skip_clicks >= 0:
                # RITM returns the whole image here but keeps any ROI chosen earlier, which the
                # inverse then still uses; kept as is so results match the original.
                return image_nd, clicks_lists
            current_object_roi = 0, image_nd.shape[2] - 1, 0, image_nd.shape[3] - 1

        update_object_roi = (self._object_roi is None
                             or not check_object_roi(self._object_roi, clicks_list)
                             or get_bbox_iou(current_object_roi, self._object_roi) < self.recompute_thresh_iou)
        if update_object_roi:
            self._object_roi = current_object_roi
            self.image_changed = True
        self._roi_image = get_roi_image_nd(image_nd, self._object_roi, self.target_size)

        clicks = _transform_clicks_to_roi(clicks_list, self._object_roi, self._roi_image.shape[2:])
        return self._roi_image.to(image_nd.device), [clicks]

    def inv_transform(self, prob_map):
        if self._object_roi is None:
            self._prev_probs = prob_map.detach().cpu().numpy()
            return prob_map
        if prob_map.shape[0] != 1:
            raise ValueError(f"ZoomIn.inv_transform expects a batch of one, got {tuple(prob_map.shape)}")
        rmin, rmax, cmin, cmax = self._object_roi
        prob_map = F.interpolate(prob_map, size=(rmax - rmin + 1, cmax - cmin + 1),
                                 mode="bilinear", align_corners=True)
        if self._prev_probs is not None:
            full = torch.zeros(self._prev_probs.shape, device=prob_map.device, dtype=prob_map.dtype)
            full[:, :, rmin:rmax + 1, cmin:cmax + 1] = prob_map
        else:
            full = prob_map
        self._prev_probs = full.detach().cpu().numpy()
        return full

    def check_possible_recalculation(self) -> bool:
        """RITM (skip_clicks == 0 only): True when the first prediction covers a small part of the
        image, so that the predictor reruns it zoomed in."""
        if self._prev_probs is None or self._object_roi is not None or self.skip_clicks > 0:
            return False
        pred_mask = (self._prev_probs > self.prob_thresh)[0, 0]
        if pred_mask.sum() > 0:
            possible_roi = get_object_roi(pred_mask, [], self.expansion_ratio, self.min_crop_size)
            image_roi = (0, self._input_image_shape[2] - 1, 0, self._input_image_shape[3] - 1)
            if get_bbox_iou(possible_roi, image_roi) < 0.50:
                return True
        return False

    def get_state(self):
        roi_image = self._roi_image.cpu() if self._roi_image is not None else None
        prev_probs = self._prev_probs.copy() if self._prev_probs is not None else None
        return self._input_image_shape, self._object_roi, prev_probs, roi_image, self.image_changed

    def set_state(self, state):
        self._input_image_shape, self._object_roi, prev_probs, self._roi_image, self.image_changed = state
        self._prev_probs = prev_probs.copy() if prev_probs is not None else None

    def reset(self):
        self._input_image_shape = None
        self._object_roi = None
        self._prev_probs = None
        self._roi_image = None
        self.image_changed = False


class LimitLongestSide(BaseTransform):
    """Downscale inputs whose longer side exceeds ``max_size`` so that it equals ``max_size``
    (bilinear, align_corners=True); the inverse resizes the output back.

    As RITM's version (a ZoomIn over the whole image), the size used by the inverse is the last one
    this transform resized from: an input that needs no resizing leaves it unchanged.
    """

    def __init__(self, max_size: int = 800):
        super().__init__()
        if max_size is None or int(max_size) < 1:
            raise ValueError(f"max_size must be a positive int, got {max_size!r}")
        self.max_size = int(max_size)
        self._object_roi = None
        self._roi_image = None

    @property
    def target_size(self) -> int:
        return self.max_size

    def transform(self, image_nd, clicks_lists):
        if image_nd.shape[0] != 1 or len(clicks_lists) != 1:
            raise ValueError("LimitLongestSide works on a single image with a single clicks list")
        self.image_changed = False
        if max(image_nd.shape[2:4]) <= self.max_size:
            return image_nd, clicks_lists
        self._object_roi = (0, image_nd.shape[2] - 1, 0, image_nd.shape[3] - 1)
        self._roi_image = get_roi_image_nd(image_nd, self._object_roi, self.max_size)
        self.image_changed = True
        clicks = _transform_clicks_to_roi(clicks_lists[0], self._object_roi, self._roi_image.shape[2:])
        return self._roi_image, [clicks]

    def inv_transform(self, prob_map):
        if self._object_roi is None:
            return prob_map
        rmin, rmax, cmin, cmax = self._object_roi
        return F.interpolate(prob_map, size=(rmax - rmin + 1, cmax - cmin + 1),
                             mode="bilinear", align_corners=True)

    def get_state(self):
        roi_image = self._roi_image.cpu() if self._roi_image is not None else None
        return self._object_roi, roi_image, self.image_changed

    def set_state(self, state):
        self._object_roi, self._roi_image, self.image_changed = state

    def reset(self):
        self._object_roi = None
        self._roi_image = None
        self.image_changed = False
