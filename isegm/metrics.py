"""Pure metric functions of interactive segmentation: IoU, Dice, boundary IoU, precision, recall,
pixel accuracy, the confusion matrix; NoC, NoF, mIoU@k.

The definitions follow RITM's evaluation code (Sofiiuk et al., "Reviving Iterative Training with
Mask Guidance for Interactive Segmentation", 2021, ``isegm/inference/utils.py``):

* IoU of a binary prediction with a ground truth, ignored pixels excluded (``get_iou``).
* NoC@t of one sample: 1 + index of the first click whose IoU >= t, else ``max_clicks``
  (RITM's ``compute_noc_metric._get_noc``); NoC@t of a dataset is the mean over samples.
* NoF@t: samples whose NoC@t equals ``max_clicks`` (RITM prints it as ``>=20@t``; it includes a
  sample reaching t exactly at the last click).
* mIoU@k: mean over samples of the IoU after click k.

The per-mask scores besides IoU (:func:`confusion`, :func:`dice`, :func:`precision`, :func:`recall`,
:func:`pixel_accuracy`, :func:`boundary_iou`) honour the same ignore convention as :func:`iou`:
ground-truth pixels equal to ``ignore_label`` count for nothing. Each returns NaN where its
denominator is empty, as :func:`iou` does for an empty union.

Every function takes plain arrays and has no side effect; callers (evaluation loop, training
metrics, scripts) import them from here.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

EPS = 1e-8

__all__ = ["iou", "confusion", "dice", "precision", "recall", "pixel_accuracy", "scores_from_confusion",
           "pseudo_f_measure",
           "boundary_dilation", "mask_boundary", "boundary_iou", "metric_curve", "batch_iou", "noc", "noc_nof", "noc_thresholds", "miou_curve", "miou_at", "pad_ious",
           "time_per_click"]


def iou(gt_mask, pred_mask, ignore_label: int = -1) -> float:
    """IoU of a binary prediction with a ground truth that may hold ignored pixels (RITM's ``get_iou``).

    Args:
        gt_mask: (H, W) int, 1 = object, ``ignore_label`` = ignored, anything else background.
        pred_mask: (H, W) bool (non-zero = predicted object).
        ignore_label: value of ignored ground-truth pixels (excluded from both terms).

    Returns:
        |pred & gt| / |pred | gt| over non-ignored pixels (float); NaN when the union is empty.

    Raises:
        ValueError: the shapes differ.
    """
    gt_mask = np.asarray(gt_mask)
    pred_mask = np.asarray(pred_mask).astype(bool)
    if gt_mask.shape != pred_mask.shape:
        raise ValueError(f"gt_mask shape {gt_mask.shape} != pred_mask shape {pred_mask.shape}")
    valid = gt_mask != ignore_label
    obj = gt_mask == 1
    intersection = np.count_nonzero(pred_mask & obj & valid)
    union = np.count_nonzero((pred_mask | obj) & valid)
    if union == 0:
        return float("nan")
    return intersection / union


def _valid_masks(gt_mask, pred_mask, ignore_label):
    gt_mask = np.asarray(gt_mask)
    pred_mask = np.asarray(pred_mask).astype(bool)
    if gt_mask.shape != pred_mask.shape:
        raise ValueError(f"gt_mask shape {gt_mask.shape} != pred_mask shape {pred_mask.shape}")
    return gt_mask == 1, pred_mask, gt_mask != ignore_label


def confusion(gt_mask, pred_mask, ignore_label: int = -1) -> tuple:
    """The binary confusion matrix over non-ignored pixels: ``(tp, fp, fn, tn)``.

    Args:
        gt_mask: (H, W) int, 1 = object, ``ignore_label`` = ignored, anything else background
            (bool accepted: True = object, nothing ignored).
        pred_mask: (H, W) bool (non-zero = predicted object).
        ignore_label: value of ignored ground-truth pixels (counted in no cell).

    Returns:
        Four Python ints (pixel counts): object predicted, background predicted as object, object
        missed, background left out. ``tp / (tp + fp + fn)`` is :func:`iou` exactly.

    Raises:
        ValueError: the shapes differ.
    """
    gt, pred, valid = _valid_masks(gt_mask, pred_mask, ignore_label)
    n_valid = np.count_nonzero(valid)
    pred_valid = pred & valid
    tp = np.count_nonzero(pred_valid & gt)
    fp = np.count_nonzero(pred_valid) - tp
    fn = np.count_nonzero(gt & valid) - tp
    tn = n_valid - tp - fp - fn
    return int(tp), int(fp), int(fn), int(tn)


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def scores_from_confusion(tp: int, fp: int, fn: int, tn: int) -> dict:
    """IoU, Dice, precision, recall and pixel accuracy from confusion counts (see :func:`confusion`).

    Returns:
        ``{"iou", "dice", "precision", "recall", "accuracy"}`` floats (float64 division of the ints),
        each NaN when its denominator is 0: IoU tp/(tp+fp+fn); Dice (Sørensen 1948, Dice 1945)
        2tp/(2tp+fp+fn); precision tp/(tp+fp) (NaN for an empty prediction); recall tp/(tp+fn)
        (NaN without object pixels); accuracy (tp+tn)/(tp+fp+fn+tn).
    """
    return {"iou": _ratio(tp, tp + fp + fn), "dice": _ratio(2 * tp, 2 * tp + fp + fn),
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "accuracy": _ratio(tp + tn, tp + fp + fn + tn)}


def dice(gt_mask, pred_mask, ignore_label: int = -1) -> float:
    """Dice coefficient (F1 of the object pixels) 2|P∩G| / (|P| + |G|) over non-ignored pixels.

    Args: as :func:`confusion`. Returns: float, NaN when prediction and object are both empty.
    Raises: ValueError: the shapes differ.
    """
    return scores_from_confusion(*confusion(gt_mask, pred_mask, ignore_label))["dice"]


def precision(gt_mask, pred_mask, ignore_label: int = -1) -> float:
    """Precision |P∩G| / |P| over non-ignored pixels (NaN for an empty prediction). Args: as :func:`confusion`."""
    return scores_from_confusion(*confusion(gt_mask, pred_mask, ignore_label))["precision"]


def recall(gt_mask, pred_mask, ignore_label: int = -1) -> float:
    """Recall |P∩G| / |G| over non-ignored pixels (NaN without object pixels). Args: as :func:`confusion`."""
    return scores_from_confusion(*confusion(gt_mask, pred_mask, ignore_label))["recall"]


def pixel_accuracy(gt_mask, pred_mask, ignore_label: int = -1) -> float:
    """Share of non-ignored pixels labelled right, (tp + tn) / valid (NaN when all are ignored).

    Args: as :func:`confusion`.
    """
    return scores_from_confusion(*confusion(gt_mask, pred_mask, ignore_label))["accuracy"]


def pseudo_f_measure(gt_mask, pred_mask, ignore_label: int = -1) -> float:
    """Pseudo F-measure pFM (H-DIBCO 2010, Pratikakis et al.; Ntirogiannis et al., IEEE TIP 2013), the
    document-binarisation score "Fusing Forces" reports: ``2 P Rps / (P + Rps)``.

    P is the precision (:func:`precision`); the pseudo-recall Rps is the share of the ground truth's
    skeleton that the prediction covers, the skeleton being the object thinned to one-pixel lines
    (``skimage.morphology.thin``, MATLAB's ``bwmorph(gt, 'thin', Inf)`` of the DIBCO tools). This is the pFM
    the "Fusing Forces" authors' released code computes (a ``bwmorph`` thinning of the ground truth, the share
    of it the prediction covers, the plain precision). Rps does not punish a prediction that misses the
    object's rim as long as its "strokes" are found; H-DIBCO 2013 and later weight the pseudo-recall and
    pseudo-precision by stroke width and distance (the TIP 2013 weights), which is not done here. Ignored
    pixels count in neither P nor the skeleton.

    Args:
        gt_mask, pred_mask, ignore_label: as :func:`confusion`.

    Returns:
        float in [0, 1]; NaN when the prediction is empty, the object has no pixel, or P + Rps = 0.
    """
    from skimage.morphology import thin

    gt, pred, valid = _valid_masks(gt_mask, pred_mask, ignore_label)
    skeleton = thin(gt & valid) & valid
    p = precision(gt_mask, pred_mask, ignore_label)
    n_skel = int(np.count_nonzero(skeleton))
    if n_skel == 0 or not np.isfinite(p):
        return float("nan")
    rps = np.count_nonzero(skeleton & pred) / n_skel
    return float("nan") if p + rps == 0 else float(2 * p * rps / (p + rps))


def boundary_dilation(shape, dilation_ratio: float = 0.02) -> int:
    """Width d of the boundary band of Boundary IoU: max(1, round(ratio * image diagonal)) pixels.

    Cheng et al., "Boundary IoU: Improving Object-Centric Image Segmentation Evaluation", CVPR 2021
    (its reference code rounds with Python's ``round``, i.e. halves to even; so does this).

    Args:
        shape: (H, W) of the image (extra trailing dimensions ignored).
        dilation_ratio: band width relative to the diagonal (the paper's 0.02), > 0.

    Raises:
        ValueError: ``dilation_ratio`` <= 0.
    """
    if not dilation_ratio > 0:
        raise ValueError(f"dilation_ratio must be > 0, got {dilation_ratio!r}")
    height, width = int(shape[0]), int(shape[1])
    return max(1, int(round(dilation_ratio * float(np.hypot(height, width)))))


def mask_boundary(mask, dilation: int) -> np.ndarray:
    """The inner boundary band of a binary mask: the mask minus its erosion by ``dilation`` pixels.

    The erosion uses a (2d+1) x (2d+1) square (d steps of the 3x3 square, the paper's G_d ∩ G), and
    pixels outside the image count as background, so a mask cut by the image border has a band
    along it (Cheng et al., CVPR 2021).

    Args:
        mask: (H, W) bool (non-zero = object).
        dilation: band width d in pixels (>= 1), e.g. :func:`boundary_dilation`.

    Returns:
        (H, W) bool band.

    Raises:
        ValueError: ``mask`` not 2-D or ``dilation`` < 1.
    """
    import cv2

    mask = np.asarray(mask).astype(bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    if int(dilation) < 1:
        raise ValueError(f"dilation must be >= 1 pixel, got {dilation!r}")
    d = int(dilation)
    # one zero pixel around the mask: the square window of any pixel within d of the image edge
    # reaches it, so the erosion treats the outside as background
    padded = np.pad(mask.astype(np.uint8), 1)
    kernel = np.ones((2 * d + 1, 2 * d + 1), np.uint8)
    eroded = cv2.erode(padded, kernel)[1:-1, 1:-1].astype(bool)
    return mask & ~eroded


def boundary_iou(gt_mask, pred_mask, ignore_label: int = -1, dilation_ratio: float = 0.02,
                 gt_boundary: np.ndarray | None = None) -> float:
    """Boundary IoU (Cheng et al., CVPR 2021): IoU of the inner boundary bands of prediction and object.

    Bands are :func:`mask_boundary` with d = :func:`boundary_dilation` of the image. The object's
    band is taken from ``gt_mask == 1`` (ignored pixels as background); ignored pixels are then
    dropped from both bands, as :func:`iou` drops them. This is the per-mask score of the paper
    (its COCO evaluator reports min(mask IoU, boundary IoU); this function does not take the min).

    Args:
        gt_mask: (H, W) int, 1 = object, ``ignore_label`` = ignored (bool accepted).
        pred_mask: (H, W) bool.
        ignore_label: value of ignored ground-truth pixels.
        dilation_ratio: band width relative to the image diagonal (> 0).
        gt_boundary: optional precomputed (H, W) bool band of the object (saves one erosion per
            click when the same ground truth is scored many times).

    Returns:
        float in [0, 1], NaN when both bands are empty (no object and no prediction).

    Raises:
        ValueError: shapes differ or ``dilation_ratio`` <= 0.
    """
    gt, pred, valid = _valid_masks(gt_mask, pred_mask, ignore_label)
    d = boundary_dilation(gt.shape, dilation_ratio)
    if gt_boundary is None:
        gt_boundary = mask_boundary(gt, d)
    elif np.shape(gt_boundary) != gt.shape:
        raise ValueError(f"gt_boundary shape {np.shape(gt_boundary)} != gt_mask shape {gt.shape}")
    gt_band = np.asarray(gt_boundary, bool) & valid
    pred_band = mask_boundary(pred, d) & valid
    return _ratio(int(np.count_nonzero(gt_band & pred_band)), int(np.count_nonzero(gt_band | pred_band)))


def metric_curve(per_sample: Sequence, n_clicks: int) -> np.ndarray:
    """Mean over samples of a per-click score after clicks 1..n_clicks (NaN-aware).

    A sample that stopped early keeps its last value (as :func:`miou_curve`); NaN values (an
    undefined score, e.g. precision of an empty prediction) are left out of the mean.

    Args:
        per_sample: per sample the (n_i,) score after each click.
        n_clicks: curve length.

    Returns:
        (n_clicks,) float64 (NaN where no sample has a defined value).
    """
    if not per_sample:
        return np.full(n_clicks, np.nan)
    table = np.full((len(per_sample), n_clicks), np.nan, dtype=np.float64)
    for i, values in enumerate(per_sample):
        values = np.asarray(values, dtype=np.float64)[:n_clicks]
        if len(values):
            table[i, :len(values)] = values
            table[i, len(values):] = values[-1]
    counts = np.sum(~np.isnan(table), axis=0)
    sums = np.nansum(table, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def batch_iou(pred_mask, gt_mask, ignore_mask=None) -> np.ndarray:
    """Per-sample IoU of boolean masks (B, ...) (RITM's ``isegm/model/metrics._compute_iou``).

    Args:
        pred_mask, gt_mask: (B, ...) bool torch tensors or numpy arrays.
        ignore_mask: optional (B, ...) bool; ignored pixels are removed from the prediction only (as RITM).

    Returns:
        (K,) float array, one IoU per sample whose union is non-empty (empty unions dropped, as RITM).
    """
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(pred_mask, torch.Tensor):
        if ignore_mask is not None:
            pred_mask = pred_mask & ~ignore_mask
        dims = tuple(range(1, gt_mask.dim()))
        union = (pred_mask | gt_mask).float().mean(dim=dims).cpu().numpy()
        inter = (pred_mask & gt_mask).float().mean(dim=dims).cpu().numpy()
    else:
        pred_mask, gt_mask = np.asarray(pred_mask, bool), np.asarray(gt_mask, bool)
        if ignore_mask is not None:
            pred_mask = pred_mask & ~np.asarray(ignore_mask, bool)
        dims = tuple(range(1, gt_mask.ndim))
        union = (pred_mask | gt_mask).astype(np.float32).mean(axis=dims)
        inter = (pred_mask & gt_mask).astype(np.float32).mean(axis=dims)
    nonzero = union > 0
    return inter[nonzero] / union[nonzero]


def noc(ious, iou_thr: float, max_clicks: int = 20) -> int:
    """Clicks one sample needed (RITM's ``_get_noc``): 1 + first index with ``ious >= iou_thr``, else ``max_clicks``.

    Args:
        ious: (n,) IoU after each click (float32 as RITM stores them; compared in that dtype).
    """
    reached = np.asarray(ious) >= iou_thr
    return int(np.argmax(reached)) + 1 if reached.any() else int(max_clicks)


def noc_nof(all_ious: Sequence, iou_thrs: Sequence[float], max_clicks: int = 20):
    """NoC and NoF for several thresholds (RITM's ``compute_noc_metric``).

    Args:
        all_ious: per sample, the (n_i,) IoU after each click.
        iou_thrs: thresholds, e.g. ``[0.8, 0.85, 0.9]``.
        max_clicks: clicks counted for a sample that never reaches a threshold.

    Returns:
        ``(noc_list, nof_list)``: per threshold the mean clicks (float; NaN for no samples) and the
        number of samples whose click count equals ``max_clicks`` (int).
    """
    noc_list, nof_list = [], []
    for thr in iou_thrs:
        scores = np.array([noc(ious, thr, max_clicks) for ious in all_ious], dtype=np.int64)
        noc_list.append(float(scores.mean()) if len(scores) else float("nan"))
        nof_list.append(int((scores == max_clicks).sum()))
    return noc_list, nof_list


def noc_thresholds(target_iou: float) -> list:
    """RITM's reported thresholds: 0.80, 0.85, ... up to min(0.95, target_iou) (np.arange floats)."""
    return np.arange(0.8, min(0.95, target_iou) + 0.001, 0.05).tolist()


def miou_curve(all_ious: Sequence, n_clicks: int) -> np.ndarray:
    """mIoU after clicks 1..n_clicks; a sample that stopped early keeps its last IoU.

    Returns:
        (n_clicks,) float64 (NaN where there are no samples).
    """
    if not all_ious:
        return np.full(n_clicks, np.nan)
    table = np.empty((len(all_ious), n_clicks), dtype=np.float64)
    for i, ious in enumerate(all_ious):
        ious = np.asarray(ious, dtype=np.float64)[:n_clicks]
        if len(ious) == 0:
            table[i] = np.nan
            continue
        table[i, :len(ious)] = ious
        table[i, len(ious):] = ious[-1]
    return table.mean(axis=0)


def miou_at(all_ious: Sequence, ks: Sequence[int] = (1, 2, 3, 5, 10, 20)) -> dict:
    """RITM's ``--print-ious`` figures: ``{k: mIoU after click k}`` over the clicks all samples have.

    Returns:
        ``{k: float}`` for each ``k`` <= the shortest sample's click count (empty for no samples).
    """
    if not all_ious:
        return {}
    n = min(len(x) for x in all_ious)
    if n == 0:
        return {}
    mean = np.array([np.asarray(x)[:n] for x in all_ious]).mean(axis=0)
    return {int(k): float(mean[k - 1]) for k in ks if k <= n}


def pad_ious(all_ious: Sequence, n_clicks: int, fill: float = np.nan) -> np.ndarray:
    """Stack per-sample IoU arrays into (N, n_clicks) float32, missing clicks set to ``fill``."""
    out = np.full((len(all_ious), n_clicks), fill, dtype=np.float32)
    for i, ious in enumerate(all_ious):
        ious = np.asarray(ious, dtype=np.float32)[:n_clicks]
        out[i, :len(ious)] = ious
    return out


def time_per_click(all_ious: Sequence, elapsed_time: float):
    """(seconds per click, seconds per image) as RITM: total time / total clicks and / images."""
    n_images = len(all_ious)
    n_clicks = sum(len(x) for x in all_ious)
    return elapsed_time / (n_clicks + EPS), elapsed_time / (n_images + EPS)
