"""Click-by-click evaluation with a simulated user (RITM's NoC protocol, Sofiiuk et al., 2021).

For each sample: start from an empty mask; repeat up to ``max_clicks`` times: the clicker adds the
next click (see :func:`isegm.inference.clicker.get_next_click`), the predictor returns
probabilities, the mask is ``probs > pred_thr`` and its IoU with the ground truth (ignored pixels
excluded) is recorded; stop once IoU >= ``max_iou_thr`` and at least ``min_clicks`` clicks were made.
"""
from __future__ import annotations

import logging
from time import perf_counter
from typing import Callable, Optional

import numpy as np
from tqdm import tqdm

from isegm.inference.clicker import Clicker
from isegm.inference.utils import get_iou

logger = logging.getLogger(__name__)


def evaluate_sample(image, gt_mask, predictor, max_iou_thr: float, pred_thr: float = 0.49,
                    min_clicks: int = 1, max_clicks: int = 20, sample_id=None,
                    callback: Optional[Callable] = None):
    """Simulate clicks on one sample.

    Args:
        image: (H, W, 3) uint8 RGB.
        gt_mask: (H, W) int32, 1 object, 0 background, -1 ignored.
        predictor: object with ``set_input_image(image)`` and ``get_prediction(clicker)`` returning
            (H, W) float probabilities.
        max_iou_thr: stop when the IoU reaches this (compared in float64, as RITM).
        pred_thr: probability threshold for the mask.
        min_clicks: never stop before this many clicks.
        max_clicks: at most this many clicks.
        sample_id: passed to ``callback``.
        callback: optional ``callback(image, gt_mask, pred_probs, sample_id, click_indx, clicks_list)``
            called after every click (e.g. to save visualisations).

    Returns:
        ``(clicks_list, ious, pred_probs, timings)``: the clicks; (n,) float32 IoU after each click;
        the last (H, W) float32 probabilities; (n,) float64 seconds spent in ``get_prediction``
        for each click.

    Raises:
        ValueError: image / mask shapes disagree or ``max_clicks`` < 1.
    """
    gt_mask = np.asarray(gt_mask)
    if gt_mask.ndim != 2 or np.asarray(image).shape[:2] != gt_mask.shape:
        raise ValueError(f"image {np.asarray(image).shape} and gt_mask {gt_mask.shape} sizes differ")
    if max_clicks < 1:
        raise ValueError(f"max_clicks must be >= 1, got {max_clicks}")

    clicker = Clicker(gt_mask=gt_mask)
    pred_mask = np.zeros(gt_mask.shape, dtype=bool)
    pred_probs = np.zeros(gt_mask.shape, dtype=np.float32)
    ious, timings = [], []

    predictor.set_input_image(image)
    for click_indx in range(max_clicks):
        clicker.make_next_click(pred_mask)
        start = perf_counter()
        pred_probs = predictor.get_prediction(clicker)
        timings.append(perf_counter() - start)
        pred_mask = pred_probs > pred_thr

        if callback is not None:
            callback(image, gt_mask, pred_probs, sample_id, click_indx, clicker.get_clicks())

        iou = get_iou(gt_mask, pred_mask)
        ious.append(iou)
        if iou >= max_iou_thr and click_indx + 1 >= min_clicks:
            break

    return (clicker.get_clicks(), np.array(ious, dtype=np.float32), pred_probs,
            np.array(timings, dtype=np.float64))


def evaluate_dataset(dataset, predictor, progress: bool = True, **kwargs):
    """Run :func:`evaluate_sample` on every sample of a dataset.

    Samples whose ground truth has no object pixel are skipped (their IoU is undefined).

    Args:
        dataset: object with ``__len__`` and ``get_sample(i)`` returning a sample with ``.image``
            (H, W, 3) uint8 and ``.gt_mask`` (H, W) int32.
        predictor: see :func:`evaluate_sample`.
        progress: show a tqdm progress bar.
        **kwargs: :func:`evaluate_sample` arguments (``max_iou_thr`` is required).

    Returns:
        ``(all_ious, elapsed_time, records)``: list of per-sample float32 IoU arrays (evaluated
        samples only); wall-clock seconds of the whole loop (data loading included, as RITM's SPC);
        one dict per dataset index: ``index``, ``sample_id``, ``skipped``, ``n_clicks``, ``ious``
        (list of float), ``times`` (seconds per click), ``clicks`` (list of (is_positive, y, x)).
    """
    all_ious, records = [], []
    start = perf_counter()
    for index in tqdm(range(len(dataset)), leave=False, disable=not progress):
        sample = dataset.get_sample(index)
        sample_id = getattr(sample, "sample_id", None)
        gt_mask = np.asarray(sample.gt_mask)
        if not np.any(gt_mask == 1):
            logger.warning("sample %d (%s) has an empty object mask: skipped", index, sample_id)
            records.append({"index": index, "sample_id": _plain(sample_id), "skipped": True,
                            "n_clicks": 0, "ious": [], "times": [], "clicks": []})
            continue
        clicks, ious, _, times = evaluate_sample(sample.image, gt_mask, predictor, sample_id=index, **kwargs)
        all_ious.append(ious)
        records.append({
            "index": index,
            "sample_id": _plain(sample_id),
            "skipped": False,
            "n_clicks": int(len(ious)),
            "ious": [float(x) for x in ious],
            "times": [float(x) for x in times],
            "clicks": [(bool(c.is_positive), int(c.coords[0]), int(c.coords[1])) for c in clicks],
        })
    elapsed_time = perf_counter() - start
    return all_ious, elapsed_time, records


def _plain(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
