import math

import numpy as np
import pytest

import torch

from isegm import metrics
from isegm.errors import UserError
from isegm.inference import utils


def test_get_iou_excludes_ignored_pixels():
    gt = np.array([[1, 1, 0, -1],
                   [1, 0, 0, -1]], dtype=np.int32)
    pred = np.array([[1, 0, 1, 1],
                     [1, 0, 0, 1]], dtype=bool)
    # intersection 2, union (non-ignored) = 4
    assert metrics.iou(gt, pred) == pytest.approx(0.5)
    assert metrics.iou(gt, gt == 1) == 1.0
    assert math.isnan(metrics.iou(np.zeros((2, 2)), np.zeros((2, 2), bool)))
    with pytest.raises(ValueError):
        metrics.iou(gt, pred[:, :2])


def test_noc_and_nof_arithmetic():
    all_ious = [
        np.array([0.5, 0.86, 0.91], np.float32),   # NoC@85 = 2, NoC@90 = 3
        np.array([0.95], np.float32),              # 1, 1
        np.array([0.1] * 4, np.float32),           # never: 5, 5  (max_clicks 5)
        np.array([0.1, 0.2, 0.3, 0.4, 0.9], np.float32),  # reached at click 5 == max: counts as NoF
    ]
    noc, nof = metrics.noc_nof(all_ious, [0.85, 0.9], max_clicks=5)
    assert noc == pytest.approx([(2 + 1 + 5 + 5) / 4, (3 + 1 + 5 + 5) / 4])
    assert nof == [2, 2]
    assert metrics.noc([0.2, 0.9], 0.9, 20) == 2
    assert metrics.noc([], 0.9, 20) == 20


def test_noc_thresholds_match_ritm_arange():
    assert metrics.noc_thresholds(0.9) == np.arange(0.8, 0.901, 0.05).tolist()
    assert len(metrics.noc_thresholds(0.9)) == 3
    assert len(metrics.noc_thresholds(0.85)) == 2
    assert len(metrics.noc_thresholds(1.01)) == 4
    # float32 IoU exactly 0.85 counts as reaching the (0.8500000000000001) threshold, as in RITM
    noc, _ = metrics.noc_nof([np.array([0.85], np.float32)], metrics.noc_thresholds(0.9)[1:2])
    assert noc == [1.0]


def test_time_metrics():
    spc, spi = metrics.time_per_click([np.zeros(3), np.zeros(1)], 8.0)
    assert spc == pytest.approx(2.0) and spi == pytest.approx(4.0)


def test_find_checkpoint(tmp_path):
    (tmp_path / "h18_model" / "checkpoints").mkdir(parents=True)
    target = tmp_path / "h18_model" / "checkpoints" / "last_checkpoint.pth"
    target.write_bytes(b"x")
    (tmp_path / "top.pth").write_bytes(b"x")
    assert utils.find_checkpoint(tmp_path, str(target)) == target
    assert utils.find_checkpoint(tmp_path, "top.pth") == tmp_path / "top.pth"
    assert utils.find_checkpoint(tmp_path, "last") == target
    assert utils.find_checkpoint(tmp_path, "h18:last") == target
    with pytest.raises(FileNotFoundError, match="missing"):
        utils.find_checkpoint(tmp_path, "missing")
    (tmp_path / "last_other.pth").write_bytes(b"x")
    with pytest.raises(UserError, match="several"):
        utils.find_checkpoint(tmp_path, "last")
    with pytest.raises(IsADirectoryError, match="folder"):
        utils.find_checkpoint(tmp_path, str(tmp_path / "h18_model"))


def test_eval_zoom_in_params():
    assert utils.get_eval_zoom_in_params("cvpr", "GrabCut") == {"target_size": 400}
    assert utils.get_eval_zoom_in_params("cvpr", "DAVIS") == {"target_size": 600}
    assert utils.get_eval_zoom_in_params("fixed400", "DAVIS") == {"skip_clicks": -1, "target_size": (400, 400)}
    for bad in ("fixed", "fixedx", "other"):
        with pytest.raises(UserError, match="fixed<N>"):
            utils.get_eval_zoom_in_params(bad, "GrabCut")


def test_iou_curve_and_padding():
    ious = [np.array([0.5, 0.9], np.float32), np.array([0.7], np.float32)]
    np.testing.assert_allclose(metrics.miou_curve(ious, 3), [0.6, 0.8, 0.8], rtol=1e-6)
    padded = metrics.pad_ious(ious, 3)
    assert padded.shape == (2, 3) and padded.dtype == np.float32
    assert np.isnan(padded[1, 1:]).all() and padded[0, 1] == np.float32(0.9)


def test_miou_at_uses_clicks_all_samples_have():
    ious = [np.array([0.5, 0.9, 1.0], np.float32), np.array([0.7, 0.8], np.float32)]
    assert metrics.miou_at(ious) == pytest.approx({1: 0.6, 2: 0.85})
    assert metrics.miou_at([]) == {}


def test_batch_iou_torch_and_numpy_agree_and_drop_empty_unions():
    pred = torch.tensor([[[1, 1], [0, 0]], [[0, 0], [0, 0]], [[1, 0], [0, 0]]], dtype=torch.bool)
    gt = torch.tensor([[[1, 0], [0, 0]], [[0, 0], [0, 0]], [[1, 0], [1, 0]]], dtype=torch.bool)
    ignore = torch.zeros_like(gt)
    ignore[0, 0, 1] = True                        # the false-positive pixel of sample 0 is ignored
    values = metrics.batch_iou(pred, gt, ignore)
    np.testing.assert_allclose(values, [1.0, 0.5])
    np.testing.assert_allclose(metrics.batch_iou(pred.numpy(), gt.numpy(), ignore.numpy()), values)
