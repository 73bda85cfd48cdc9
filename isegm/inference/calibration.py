"""Calibration inputs for int8 quantisation (issue 13): what the network really gets under the NoC protocol.

A peer of the evaluation loop rather than part of a predictor module, so that the predictors do not import the
protocol that runs them.
"""
from __future__ import annotations

import numpy as np

from isegm.errors import UserError
from isegm.inference.predictors.onnx import _split

__all__ = ["calibration_feeds"]


class _RecordingNet:
    """Wraps a torch click model and records the ``(image, prev_mask, points)`` it is called with."""

    def __init__(self, net):
        self.net = net
        self.with_prev_mask = bool(getattr(net, "with_prev_mask", False))
        self.feeds = []

    def __call__(self, image, points):
        rgb, prev = _split(image, self.with_prev_mask)
        for b in range(image.shape[0]):  # batch 1 feeds: the flip pair gives two
            self.feeds.append({"image": rgb[b:b + 1].float().numpy().copy(),
                               "prev_mask": prev[b:b + 1].float().numpy().copy(),
                               "points": points[b:b + 1].float().numpy().copy()})
        return self.net(image, points)


def calibration_feeds(net, dataset, n_images: int, n_clicks: int = 3, predictor_params=None) -> list:
    """Network inputs of the NoC protocol on the first ``n_images`` samples of ``dataset``.

    Runs the simulated user (:func:`isegm.inference.evaluation.evaluate_sample`) with the fp32 torch
    ``net`` in the NoBRS predictor (``predictor_params``: :func:`get_predictor` keywords, e.g. RITM's
    cvpr zoom-in and flip) for ``n_clicks`` clicks per image, and returns every input the network got,
    as ``{'image', 'prev_mask', 'points'}`` float32 arrays of batch 1. Pass a split that no test set
    overlaps (``scripts/export_model.py`` uses the COCO_MVal part train.py held out).

    Raises:
        UserError: ``n_images`` < 1 or the dataset has no usable sample.
    """
    from isegm.inference.evaluation import evaluate_sample
    from isegm.inference.predictors import get_predictor

    if n_images < 1:
        raise UserError(f"--calib-images {n_images}: expected >= 1")
    recorder = _RecordingNet(net)
    predictor = get_predictor(recorder, "NoBRS", "cpu", **dict(predictor_params or {}))
    used = 0
    for index in range(len(dataset)):
        if used >= n_images:
            break
        sample = dataset.get_sample(index)
        gt = np.asarray(sample.gt_mask)
        if not np.any(gt == 1):
            continue
        evaluate_sample(sample.image, gt, predictor, max_iou_thr=2.0, max_clicks=n_clicks)
        used += 1
    if not recorder.feeds:
        raise UserError("no calibration sample with an object mask in the calibration split")
    return recorder.feeds
