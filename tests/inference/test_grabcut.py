"""Classic GrabCut from clicks: seeding rule, accuracy on a generated disk, determinism."""
import cv2
import numpy as np
import pytest

from isegm.errors import UserError
from isegm.geometry import Click
from isegm.inference.clicker import Clicker
from isegm.inference.evaluation import evaluate_sample
from isegm.inference.predictors.grabcut import GrabCutPredictor


def disk_scene(h=90, w=120, seed=0):
    """A red disk (radius 22 at (45, 60)) on a background of random-coloured 6 px patches, plus noise;
    returns (H, W, 3) uint8 image, (H, W) int32 gt mask."""
    rng = np.random.default_rng(seed)
    patches = rng.integers(0, 256, (h // 6 + 1, w // 6 + 1, 3)).astype(np.uint8)
    image = cv2.resize(patches, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    yy, xx = np.mgrid[:h, :w]
    gt = (yy - 45) ** 2 + (xx - 60) ** 2 <= 22 ** 2
    image[gt] = (200, 40, 50)
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), gt.astype(np.int32)


def _clicker(shape, *clicks):
    clicker = Clicker(image_shape=shape)
    for y, x, pos in clicks:
        clicker.add_click(Click(y, x, pos))
    return clicker


def test_a_few_clicks_segment_the_disk():
    image, gt = disk_scene()
    _, ious, probs, _ = evaluate_sample(image, gt, GrabCutPredictor(), max_iou_thr=0.9, max_clicks=3)
    assert ious[-1] > 0.8, ious
    assert probs.dtype == np.float32 and set(np.unique(probs)) <= {0.0, 1.0}


@pytest.mark.parametrize("scene_seed", [1, 2])
def test_same_input_same_mask(scene_seed):
    """OpenCV seeds GrabCut's k-means from its global RNG: whatever that holds, the mask is the same."""
    image, gt = disk_scene(seed=scene_seed)
    clicker = _clicker(gt.shape, (45, 60, True))
    masks = []
    for global_seed in (1, 2, 3):
        predictor = GrabCutPredictor()
        predictor.set_input_image(image)
        cv2.setRNGSeed(global_seed)
        masks.append(predictor.get_prediction(clicker))
    for mask in masks[1:]:
        np.testing.assert_array_equal(mask, masks[0])


def test_trimap_rule():
    image, _ = disk_scene()
    predictor = GrabCutPredictor(radius=3, margin=0.1)
    predictor.set_input_image(image)
    labels = predictor.trimap([Click(40, 50, True), Click(50, 70, True), Click(80, 10, False)])
    pad = 12  # 0.1 * 120
    assert labels[40, 50] == cv2.GC_FGD and labels[40, 53] == cv2.GC_FGD and labels[40, 54] != cv2.GC_FGD
    assert labels[80, 10] == cv2.GC_BGD and labels[80, 14] == cv2.GC_PR_BGD
    assert labels[40 - pad, 50 - pad] == cv2.GC_PR_FGD and labels[50 + pad, 70 + pad] == cv2.GC_PR_FGD
    assert labels[40 - pad - 1, 50] == cv2.GC_PR_BGD and labels[50, 70 + pad + 1] == cv2.GC_PR_BGD


def test_no_positive_click_gives_an_empty_mask_and_undo_state():
    image, gt = disk_scene()
    predictor = GrabCutPredictor()
    predictor.set_input_image(image)
    assert not predictor.get_prediction(_clicker(gt.shape, (3, 3, False))).any()
    mask = predictor.get_prediction(_clicker(gt.shape, (45, 60, True)))
    states = predictor.get_states()
    predictor.set_states({"prev_prediction": None})
    predictor.set_states(states)
    np.testing.assert_array_equal(predictor.prev_prediction, mask)


@pytest.mark.parametrize("kwargs", [{"radius": 0}, {"margin": -1}, {"iterations": 0}])
def test_bad_parameters(kwargs):
    with pytest.raises(UserError):
        GrabCutPredictor(**kwargs)
