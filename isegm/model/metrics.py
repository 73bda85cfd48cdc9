"""Training-time metrics (RITM's AdaptiveIoU)."""
from __future__ import annotations

import torch

from isegm.metrics import batch_iou


class AdaptiveIoU:
    """IoU at a binarisation threshold that tracks the best one during training (RITM's AdaptiveIoU).

    After each batch the threshold moves (EMA with ``thresh_beta``) towards whichever of
    ``t - step``, ``t``, ``t + step`` gave the highest IoU on that batch. ``get_epoch_value`` is the mean of
    the per-batch best IoUs.

    ``update(pred, gt)``: ``pred`` logits ``(B, 1, H, W)`` (probabilities if ``from_logits=False``),
    ``gt`` ``(B, 1, H, W)`` float in {0, 1} with ``ignore_label`` for ignored pixels. A batch without any
    object pixel is skipped. With ``reduce`` set, the per-sample IoUs of all processes count as one batch.
    """

    name = "AdaptiveIoU"
    pred_outputs = ("instances",)
    gt_outputs = ("instances",)
    #: optional callable summing a float64 tensor over the processes of a distributed run (the
    #: trainer sets it): the threshold then follows the global batch, identically on every process
    reduce = None

    def __init__(self, init_thresh: float = 0.4, thresh_step: float = 0.025, thresh_beta: float = 0.99,
                 iou_beta: float = 0.9, ignore_label: float = -1, from_logits: bool = True):
        self.iou_thresh = init_thresh
        self.thresh_step, self.thresh_beta, self.iou_beta = thresh_step, thresh_beta, iou_beta
        self.ignore_label, self.from_logits = ignore_label, from_logits
        self.ema_iou = 0.0
        self.reset_epoch_stats()

    def reset_epoch_stats(self) -> None:
        self.epoch_iou_sum = 0.0
        self.epoch_batch_count = 0

    @torch.no_grad()
    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        gt_mask = gt > 0.5
        prob = torch.sigmoid(pred) if self.from_logits else pred
        ignore = gt == self.ignore_label
        thresholds = (self.iou_thresh, self.iou_thresh - self.thresh_step, self.iou_thresh + self.thresh_step)
        per_sample = [batch_iou(prob > t, gt_mask, ignore) for t in thresholds]
        # sums and counts, so that a distributed run can add them over the processes' shares of the batch
        totals = [float(v.sum()) for v in per_sample] + [float(per_sample[0].size), float(gt_mask.sum())]
        if self.reduce is not None:
            totals = self.reduce(torch.tensor(totals, dtype=torch.float64)).tolist()
        *sums, count, gt_pixels = totals
        if gt_pixels == 0:
            return
        means = [s / count if count else 0.0 for s in sums]
        best_t, best_iou = thresholds[0], means[0]
        for t, value in zip(thresholds[1:], means[1:]):
            if value > best_iou:
                best_t, best_iou = t, value
        self.iou_thresh = self.thresh_beta * self.iou_thresh + (1 - self.thresh_beta) * best_t
        self.ema_iou = self.iou_beta * self.ema_iou + (1 - self.iou_beta) * best_iou
        self.epoch_iou_sum += best_iou
        self.epoch_batch_count += 1

    def get_epoch_value(self) -> float:
        return self.epoch_iou_sum / self.epoch_batch_count if self.epoch_batch_count else 0.0
