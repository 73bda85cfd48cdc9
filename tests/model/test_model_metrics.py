"""AdaptiveIoU (RITM's training metric): the threshold follows the better neighbour."""
import pytest
import torch

from isegm.model.metrics import AdaptiveIoU


def _probs_where_a_higher_threshold_is_better():
    # object pixels at p = 0.44, background at 0.41: at the initial threshold 0.4 everything is
    # predicted (IoU 0.5), at 0.4 + 0.025 only the object (IoU 1.0)
    gt = torch.zeros(1, 1, 4, 4)
    gt[:, :, :2] = 1
    probs = torch.where(gt > 0, torch.tensor(0.44), torch.tensor(0.41))
    return probs, gt


def test_adaptive_iou_scores_the_better_neighbouring_threshold_and_moves_towards_it():
    probs, gt = _probs_where_a_higher_threshold_is_better()
    metric = AdaptiveIoU(init_thresh=0.4, thresh_step=0.025, thresh_beta=0.99, from_logits=False)
    metric.update(probs, gt)
    assert metric.get_epoch_value() == pytest.approx(1.0)
    assert metric.iou_thresh == pytest.approx(0.99 * 0.4 + 0.01 * 0.425)
    for _ in range(300):
        metric.update(probs, gt)
    assert metric.iou_thresh > 0.41  # drifted past the background probability


def test_adaptive_iou_ignores_ignored_pixels_and_empty_batches():
    probs, gt = _probs_where_a_higher_threshold_is_better()
    metric = AdaptiveIoU(from_logits=False)
    metric.update(probs, torch.zeros_like(gt))        # no object: not counted
    assert metric.get_epoch_value() == 0.0
    gt_ignored = torch.where(gt > 0, gt, torch.tensor(-1.0))  # background ignored: every threshold is perfect
    metric.update(probs, gt_ignored)
    assert metric.get_epoch_value() == pytest.approx(1.0)
    assert metric.iou_thresh == pytest.approx(0.4)


def test_adaptive_iou_with_reduce_counts_all_processes_shares_as_one_batch():
    """Under torchrun each process sees a share of the batch; with ``reduce`` (the trainer sets a sum
    over processes) the threshold follows the global batch, as one process would."""
    gt = torch.zeros(4, 1, 4, 4)
    gt[:, :, :2] = 1
    probs = torch.where(gt > 0, torch.tensor(0.44), torch.tensor(0.41))
    # second half: best at the current threshold 0.4 (object at 0.41, background at 0.38); the whole
    # batch's best is then 0.75 at 0.4, the first half's alone 1.0 at 0.425
    probs[2:] = torch.where(gt[2:] > 0, torch.tensor(0.41), torch.tensor(0.38))
    whole = AdaptiveIoU(from_logits=False)
    whole.update(probs, gt)

    shares = [(probs[:2], gt[:2]), (probs[2:], gt[2:])]
    local = []                          # each process's (sums, counts) before the all-reduce
    for share in shares:
        probe = AdaptiveIoU(from_logits=False)
        probe.reduce = lambda t: local.append(t) or t
        probe.update(*share)
    summed = local[0] + local[1]
    for share in shares:
        m = AdaptiveIoU(from_logits=False)
        m.reduce = lambda t: summed     # what the all-reduce returns on every process
        m.update(*share)
        assert m.get_epoch_value() == pytest.approx(whole.get_epoch_value())
        assert m.iou_thresh == pytest.approx(whole.iou_thresh)
    assert whole.get_epoch_value() == pytest.approx(0.75)
    alone = AdaptiveIoU(from_logits=False)
    alone.update(*shares[0])
    assert alone.get_epoch_value() == pytest.approx(1.0)
