"""Where the model is unsure: an uncertainty map and a suggested next click (issue 9).

The suggester sees only the model's probabilities (never the ground truth): the uncertainty of a
pixel is how close its probability is to the mask threshold, and the suggested click is the pixel
deepest inside the largest-depth uncertain zone, the analogue of RITM's click rule (the pixel farthest
from the boundary of the error region) with "uncertain" standing in for "wrong".
:func:`score_suggestions` measures honestly how often the suggestion lands in the error region that
the simulated user would click next.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from isegm.geometry import Click
from isegm.inference.clicker import DIST_MASK_PRECISE, _distance_map, error_masks, get_next_click

__all__ = ["uncertainty_map", "suggest_click", "SuggestionScorer"]


def _check_probs(probs, thresh):
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"probabilities must be (H, W), got shape {probs.shape}")
    if not 0.0 < thresh < 1.0:
        raise ValueError(f"thresh must be in (0, 1), got {thresh!r}")
    return probs.astype(np.float32, copy=False)


def uncertainty_map(probs, thresh: float = 0.49) -> np.ndarray:
    """Per-pixel uncertainty in [0, 1]: 1 at the threshold, 0 at a certain 0 or 1.

    ``u = 1 - |p - thresh| / max(thresh, 1 - thresh)``.

    Args:
        probs: (H, W) float probabilities of the object.
        thresh: the mask threshold in (0, 1) (the evaluation's 0.49).

    Returns:
        (H, W) float32.

    Raises:
        ValueError: ``probs`` not 2-D or ``thresh`` outside (0, 1).
    """
    probs = _check_probs(probs, thresh)
    u = 1.0 - np.abs(probs - np.float32(thresh)) / np.float32(max(thresh, 1.0 - thresh))
    return np.clip(u, 0.0, 1.0).astype(np.float32)


def suggest_click(probs, thresh: float = 0.49, min_uncertainty: float = 0.5,
                  exclude=None) -> Optional[Click]:
    """The suggested next click: the pixel deepest inside the uncertain zone, with its likely sign.

    Uncertain pixels are those with :func:`uncertainty_map` >= ``min_uncertainty``; the suggestion is
    the first pixel in raster order at the largest L2 distance from the zone's boundary (image border
    included), as RITM's click rule on an error region. It is positive when the pixel is now background
    (p <= thresh): clicking there would claim it for the object; negative otherwise.

    Args:
        probs: (H, W) float probabilities.
        thresh: mask threshold in (0, 1).
        min_uncertainty: in (0, 1]; 0.5 takes p within half the threshold's range of it.
        exclude: optional (H, W) bool, True where no suggestion may fall (e.g. near existing clicks).

    Returns:
        A :class:`~isegm.geometry.Click` ((y, x) int pixels, index None), or None when no pixel is uncertain.

    Raises:
        ValueError: bad shapes or values.
    """
    if not 0.0 < min_uncertainty <= 1.0:
        raise ValueError(f"min_uncertainty must be in (0, 1], got {min_uncertainty!r}")
    u = uncertainty_map(probs, thresh)
    zone = u >= min_uncertainty
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != zone.shape:
            raise ValueError(f"exclude shape {exclude.shape} != probabilities shape {zone.shape}")
        zone &= ~exclude
    if not zone.any():
        return None
    depth = _distance_map(zone, True, DIST_MASK_PRECISE)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return Click(int(y), int(x), bool(np.asarray(probs)[y, x] <= thresh))


class SuggestionScorer:
    """Scores :func:`suggest_click` against the simulated user, as an ``evaluate_sample`` callback.

    After every prediction it asks the suggester (probabilities only) and the simulated user
    (:func:`~isegm.inference.clicker.get_next_click`, ground truth) for the next click, and counts:

    * ``region_hits``: the suggestion lies in the 8-connected error component the user's click lies in;
    * ``error_hits``: it lies on any error pixel;
    * ``sign_hits``: region hit with the user's sign;
    * ``none``: no uncertain pixel, no suggestion (counted as a miss).

    Predictions after which the user has nothing left to click are not counted.
    Use ``callback=scorer`` in :func:`isegm.inference.evaluation.evaluate_dataset`.
    """

    def __init__(self, thresh: float = 0.49, min_uncertainty: float = 0.5):
        self.thresh = float(thresh)
        self.min_uncertainty = float(min_uncertainty)
        self.counts = {"n": 0, "region_hits": 0, "error_hits": 0, "sign_hits": 0, "none": 0}

    def __call__(self, image, gt_mask, pred_probs, sample_id, click_indx, clicks_list):
        pred = np.asarray(pred_probs) > self.thresh
        user = get_next_click(gt_mask, pred)
        if user is None:
            return
        is_positive, (uy, ux) = user
        fn, fp = error_masks(gt_mask, pred)
        error = fn if is_positive else fp
        _, labels = cv2.connectedComponents(error.astype(np.uint8), connectivity=8)
        region = labels == labels[uy, ux]
        suggestion = suggest_click(pred_probs, self.thresh, self.min_uncertainty)
        self.counts["n"] += 1
        if suggestion is None:
            self.counts["none"] += 1
            return
        sy, sx = int(suggestion.y), int(suggestion.x)
        in_region = bool(region[sy, sx])
        self.counts["region_hits"] += in_region
        self.counts["error_hits"] += bool((fn | fp)[sy, sx])
        self.counts["sign_hits"] += in_region and suggestion.is_positive == is_positive

    def rates(self) -> dict:
        """``{"n", "region_hit_rate", "error_hit_rate", "sign_hit_rate", "no_suggestion_rate"}`` (rates NaN when n = 0)."""
        n = self.counts["n"]
        rate = (lambda k: self.counts[k] / n) if n else (lambda k: float("nan"))
        return {"n": n, "region_hit_rate": rate("region_hits"), "error_hit_rate": rate("error_hits"),
                "sign_hit_rate": rate("sign_hits"), "no_suggestion_rate": rate("none")}


def score_suggestions(dataset, predictor, n_clicks: int = 5, thresh: float = 0.49, min_uncertainty: float = 0.5,
                      max_samples: Optional[int] = None, progress: bool = False) -> dict:
    """Hit rates of :func:`suggest_click` over a dataset under RITM's clicking protocol.

    Every sample gets ``n_clicks`` simulated clicks (no early stop); after each prediction the
    :class:`SuggestionScorer` compares the suggestion with the simulated user's next click.

    Returns:
        :meth:`SuggestionScorer.rates` plus ``samples`` (evaluated) and ``miou`` (mean IoU after the last click).
    """
    from isegm.inference.evaluation import evaluate_dataset

    scorer = SuggestionScorer(thresh, min_uncertainty)
    all_ious, _, _ = evaluate_dataset(dataset, predictor, progress=progress, max_samples=max_samples,
                                      max_iou_thr=1.01, pred_thr=thresh, max_clicks=n_clicks, callback=scorer)
    rates = scorer.rates()
    rates["samples"] = len(all_ious)
    rates["miou"] = float(np.mean([ious[-1] for ious in all_ious])) if all_ious else float("nan")
    return rates
