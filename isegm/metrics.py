"""Pure metric functions of interactive segmentation: IoU, NoC, NoF, mIoU@k.

The definitions follow RITM's evaluation code (Sofiiuk et al., "Reviving Iterative Training with
Mask Guidance for Interactive Segmentation", 2021, ``isegm/inference/utils.py``):

* IoU of a binary prediction with a ground truth, ignored pixels excluded (``get_iou``).
* NoC@t of one sample: 1 + index of the first click whose IoU >= t, else ``max_clicks``
  (RITM's ``compute_noc_metric._get_noc``); NoC@t of a dataset is the mean over samples.
* NoF@t: samples whose NoC@t equals ``max_clicks`` (RITM prints it as ``>=20@t``; it includes a
  sample reaching t exactly at the last click).
* mIoU@k: mean over samples of the IoU after click k.

Every function takes plain arrays and has no side effect; callers (evaluation loop, training
metrics, scripts) import them from here.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

EPS = 1e-8

__all__ = ["iou", "batch_iou", "noc", "noc_nof", "noc_thresholds", "miou_curve", "miou_at", "pad_ious",
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
