"""BRS predictors (isegm.inference.predictors.brs / brs_functors).

Two parts:

* **Exactness against the original code** (needs ``../shared/reference/ritm_brs_outputs.npz``, the COCO_MVal
  folder and the shipped checkpoint; skipped with the missing path named otherwise). The fixture holds what
  RITM (commit b9b4460) computes with ``weights/hrnet18s_cocomval_itermask.pth`` on 4 COCO_MVal samples,
  cvpr zoom-in (400 px), flip, threshold 0.49, single-threaded CPU (see
  ``make_brs_fixture_notes.md`` beside it). The test runs single-threaded too.

  - 5 clicks, every BRS mode: the clicks, the per-click IoUs (1e-4), the probability map after click 3
    (1e-3, the fixture is float16), and one objective evaluation at each of clicks 2-5 (this trained model
    respects its clicks, so BRS must exit at once and equal NoBRS). f-BRS-A runs on the first sample only:
    on HRNet it is the same computation as f-BRS-B (both insert at point 'A', which is asserted).
  - 10 clicks, where BRS acts (RGB-BRS from click 6, f-BRS from click 9), on the first sample for RGB-BRS
    and f-BRS-C only (a subset, to stay near a minute of CPU; about 65 s on an idle core). The notes expect ~1e-2 per click unless the same
    scipy is used; here (scipy 1.17.1, torch 2.14.1, as the fixture) all six modes matched the fixture bit for
    bit on all 4 samples x 10 clicks, with the same objective-evaluation counts, once the OCR block stopped
    taking its one-region shortcut when a backward pass is needed (its gradient sums in another order:
    DistMap-BRS had drifted by up to 3.6e-3 IoU from click 8). The test asserts the clicks, the evaluation
    counts, and IoUs within 1e-2 as the notes suggest.

* **Unit tests with a tiny random HRNet** (no data): BRS changes the output when the network disobeys a
  click and lowers the click loss; the early exit fires (one evaluation, output equal to NoBRS) when the
  clicks are respected; a new image resets the optimisation state; undo restores it; options reach the
  objective and L-BFGS; bad options are refused by name.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from isegm.inference.clicker import Click, Clicker
from isegm.inference.predictors import (BRS_MODES, FeatureBRSPredictor, InputBRSPredictor, get_predictor)
from isegm.inference.predictors.brs import click_square_maps
from isegm.inference.predictors.brs_functors import BRSMaskLoss

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
FIXTURE = SHARED / "reference" / "ritm_brs_outputs.npz"
COCO_MVAL = SHARED / "datasets" / "COCO_MVal"
CHECKPOINT = REPO_ROOT / "weights" / "hrnet18s_cocomval_itermask.pth"


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------- reference
@pytest.fixture(scope="module")
def reference():
    for path in (FIXTURE, COCO_MVAL, CHECKPOINT):
        if not path.exists():
            pytest.skip(f"BRS reference input not found: {path}")
    from isegm.data.registry import get_eval_dataset
    from isegm.model import load_is_model

    ref = np.load(FIXTURE, allow_pickle=False)
    dataset = get_eval_dataset("COCO_MVal", str(COCO_MVAL))
    names = [dataset.get_sample_name(i) for i in range(len(dataset))]
    samples = [dataset.get_sample(names.index(Path(name).stem)) for name in ref["names"]]
    model = load_is_model(str(CHECKPOINT), device="cpu", eval_mode=True)
    return ref, samples, model


def _run(model, mode, sample, n_clicks):
    from isegm.inference.evaluation import evaluate_sample
    from isegm.inference.utils import get_eval_zoom_in_params

    predictor = get_predictor(model, mode, "cpu", zoom_in_params=get_eval_zoom_in_params("cvpr", "COCO_MVal"),
                              prob_thresh=0.49)
    probs = {}

    def keep(image, gt, pred, sample_id, click_indx, clicks):
        probs[click_indx + 1] = pred.copy()

    clicks, ious, _, _ = evaluate_sample(sample.image, sample.gt_mask, predictor, max_iou_thr=1.01, pred_thr=0.49,
                                         max_clicks=n_clicks, callback=keep)
    rows = np.array([[c.coords[0], c.coords[1], int(c.is_positive)] for c in clicks], dtype=np.int32)
    return predictor, rows, ious, probs


def _thumbnail(prob):
    import cv2

    scale = 128 / max(prob.shape)
    size = (int(round(prob.shape[1] * scale)), int(round(prob.shape[0] * scale)))
    return cv2.resize(prob.astype(np.float32), size, interpolation=cv2.INTER_AREA)


N10_MODES = ("RGB-BRS", "f-BRS-C")


@pytest.mark.parametrize("mode", BRS_MODES)
def test_clicks_match_original_ritm(reference, one_thread, mode):
    ref, samples, model = reference
    indices = range(1) if mode == "f-BRS-A" else range(len(samples))
    if mode == "f-BRS-A":
        assert model.feature_brs_point("f-BRS-A") == model.feature_brs_point("f-BRS-B") == "A"
    for i in indices:
        n_clicks = 10 if (i == 0 and mode in N10_MODES) else 5
        predictor, clicks, ious, probs = _run(model, mode, samples[i], n_clicks)
        # the 5-click keys: BRS exits at once (one evaluation per click from the 2nd) and equals NoBRS
        np.testing.assert_allclose(ious[:5], ref[f"{mode}/ious"][i], rtol=0, atol=1e-4, err_msg=f"{mode} sample {i}")
        np.testing.assert_allclose(ious[:5], ref["NoBRS/ious"][i], rtol=0, atol=1e-4)
        assert predictor.evaluations_per_click[:5] == [0, 1, 1, 1, 1], (mode, i)
        np.testing.assert_array_equal(clicks[:5], ref["NoBRS/n10/clicks"][i][:5])
        if i == 0 and f"{mode}/clicks0" in ref:
            np.testing.assert_array_equal(clicks[:5], ref[f"{mode}/clicks0"])
            np.testing.assert_allclose(_thumbnail(probs[3]), ref[f"{mode}/prob0_click3"].astype(np.float32),
                                       rtol=0, atol=1e-3)
        if n_clicks == 10:
            # clicks 6-10, where BRS acts (RGB-BRS from click 6, f-BRS-C at clicks 9-10)
            np.testing.assert_array_equal(clicks, ref[f"{mode}/n10/clicks"][0])
            assert predictor.evaluations_per_click == ref[f"{mode}/n10/nfev"][0].tolist()
            assert max(predictor.evaluations_per_click) > 1                 # the optimisation really ran
            np.testing.assert_allclose(ious, ref[f"{mode}/n10/ious"][0], rtol=0, atol=1e-2)
            np.testing.assert_allclose(_thumbnail(probs[10]), ref[f"{mode}/n10/prob0_click10"].astype(np.float32),
                                       rtol=0, atol=1e-2)
            assert np.abs(ref[f"{mode}/n10/ious"][0] - ref["NoBRS/n10/ious"][0]).max() > 1e-3   # BRS mattered


# ---------------------------------------------------------------------------------------------- tiny model
def _tiny_hrnet(seed=0, cls_bias=None):
    """A small random HRNet (width 8, OCR 8) that reacts to its input: He-initialised convolutions, BN at
    identity, the class head scaled so the logits of a 48 x 64 image have std 2 and mean 0. With
    ``cls_bias`` the head ignores its features (weights x 0.01) and outputs about ``cls_bias``."""
    from isegm.model import HRNetModel

    torch.manual_seed(seed)
    model = HRNetModel(width=8, ocr_width=8, small=True, use_rgb_conv=False, use_disks=True, norm_radius=5,
                       with_prev_mask=True, use_leaky_relu=True)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    model.eval().requires_grad_(False)
    image = torch.cat([torch.from_numpy(_image(1)).permute(2, 0, 1)[None].float() / 255, torch.zeros(1, 1, 48, 64)], 1)
    with torch.no_grad():
        logits = model(image, torch.tensor([[[20.0, 30.0, 0.0], [-1, -1, -1]]]))["instances"]
        head = model.feature_extractor.cls_head
        head.weight.mul_(2 / logits.std())
        head.bias.sub_(logits.mean() * 2 / logits.std())
        if cls_bias is not None:
            head.weight.mul_(0.01)
            head.bias.fill_(cls_bias)
    return model


def _image(seed=0, shape=(48, 64)):
    return np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def _clicker(clicks, shape=(48, 64)):
    clicker = Clicker(image_shape=shape)
    for click in clicks:
        clicker.add_click(click)
    return clicker


def _click_loss(prob, clicks, flip_shape=None):
    pos, neg = click_square_maps([clicks], prob.shape, "cpu")
    loss, _, _ = BRSMaskLoss()(torch.from_numpy(prob)[None, None], pos, neg)
    return float(loss)


@pytest.mark.parametrize("mode", BRS_MODES)
def test_brs_changes_a_prediction_that_disobeys_its_clicks(mode):
    model = _tiny_hrnet(seed=0)
    image = _image(1)
    plain = get_predictor(model, "NoBRS", "cpu", zoom_in_params=None, with_flip=False)
    plain.set_input_image(image)
    first = Click(20, 30, True)
    probe = plain.get_prediction(_clicker([first]))
    # the second click goes where the network is most wrong about it
    y, x = np.unravel_index(np.argmin(probe), probe.shape)
    clicks = [first, Click(int(y), int(x), True)]
    plain.set_input_image(image)
    plain.get_prediction(_clicker(clicks[:1]))
    nobrs = plain.get_prediction(_clicker(clicks))
    assert nobrs[y, x] < 0.49, "precondition: the random network disobeys the 2nd click"

    predictor = get_predictor(model, mode, "cpu", zoom_in_params=None, with_flip=False)
    predictor.set_input_image(image)
    predictor.get_prediction(_clicker(clicks[:1]))
    brs = predictor.get_prediction(_clicker(clicks))
    assert predictor.evaluations_per_click[0] == 0                  # no optimisation at the first click
    assert predictor.evaluations_per_click[1] > 1
    assert np.abs(brs - nobrs).max() > 1e-3
    assert _click_loss(brs, clicks) < _click_loss(nobrs, clicks)
    assert brs.dtype == np.float32 and brs.shape == image.shape[:2]


@pytest.mark.parametrize("mode", ["RGB-BRS", "f-BRS-B"])
def test_early_exit_when_clicks_are_respected(mode):
    # a network that says "object" everywhere respects positive clicks: one evaluation, output = NoBRS
    model = _tiny_hrnet(seed=1, cls_bias=8.0)
    image = _image(2)
    clicks = [Click(20, 30, True), Click(10, 12, True), Click(40, 50, True)]
    outputs = {}
    for name in ("NoBRS", mode):
        predictor = get_predictor(model, name, "cpu", zoom_in_params=None)
        predictor.set_input_image(image)
        outputs[name] = [predictor.get_prediction(_clicker(clicks[:k])) for k in (1, 2, 3)]
    assert predictor.evaluations_per_click == [0, 1, 1]
    assert np.all(outputs["NoBRS"][-1] > 0.49)
    for a, b in zip(outputs["NoBRS"], outputs[mode]):
        np.testing.assert_array_equal(a, b)


def test_new_image_resets_state_and_undo_restores_it():
    model = _tiny_hrnet(seed=0)
    clicks = [Click(20, 30, True), Click(5, 5, True), Click(40, 60, False)]
    predictor = get_predictor(model, "f-BRS-C", "cpu", zoom_in_params=None)
    predictor.set_input_image(_image(1))
    predictor.get_prediction(_clicker(clicks[:1]))
    predictor.get_prediction(_clicker(clicks[:2]))
    states = predictor.get_states()
    third = predictor.get_prediction(_clicker(clicks))
    assert np.abs(predictor.opt_data).max() > 0                  # the optimisation moved the variables
    predictor.set_states(states)                                    # undo the third click, then redo it
    np.testing.assert_array_equal(predictor.get_prediction(_clicker(clicks)), third)

    predictor.set_input_image(_image(2))
    assert predictor.opt_data is None and predictor.input_data is None and predictor.evaluations_per_click == []
    fresh = get_predictor(model, "f-BRS-C", "cpu", zoom_in_params=None)
    fresh.set_input_image(_image(2))
    for k in (1, 2, 3):
        np.testing.assert_array_equal(predictor.get_prediction(_clicker(clicks[:k])),
                                      fresh.get_prediction(_clicker(clicks[:k])))


def test_defaults_and_overrides_follow_ritm():
    model = _tiny_hrnet()
    rgb = get_predictor(model, "RGB-BRS", "cpu")
    assert isinstance(rgb, InputBRSPredictor) and rgb.optimize_target == "rgb" and rgb.net_clicks_limit == 5
    assert rgb.optimize_after_n_clicks == 1 and rgb.with_flip and rgb.zoom_in is not None
    assert rgb.opt_functor.optimizer_params == {"m": 20, "factr": 0, "pgtol": 1e-8, "maxfun": 20, "maxiter": 40}
    f = rgb.opt_functor
    assert (f.prob_thresh, f.reg_weight, f.min_iou_diff, f.with_flip, f.flip_average) == (0.49, 1e-3, 0.01, True, False)
    assert get_predictor(model, "DistMap-BRS", "cpu").optimize_target == "dmaps"
    for mode, point, channels in (("f-BRS-A", "A", 120), ("f-BRS-B", "A", 120), ("f-BRS-C", "C", 16)):
        predictor = get_predictor(model, mode, "cpu")
        assert isinstance(predictor, FeatureBRSPredictor) and predictor.net_clicks_limit == 8
        assert (predictor.point, predictor.num_channels) == (point, channels)
        assert predictor.opt_functor.reg_bias_weight == 10.0 and predictor.opt_functor.scale_act is None

    custom = get_predictor(model, "f-BRS-B", "cpu", prob_thresh=0.6, lbfgs_params={"maxfun": 7},
                           brs_opt_func_params={"min_iou_diff": 0.0, "scale_act": "tanh"},
                           predictor_params={"net_clicks_limit": 3, "optimize_after_n_clicks": 2})
    assert custom.opt_functor.optimizer_params["maxfun"] == 7 and custom.opt_functor.optimizer_params["maxiter"] == 14
    assert (custom.opt_functor.prob_thresh, custom.opt_functor.min_iou_diff, custom.opt_functor.scale_act) == \
        (0.6, 0.0, "tanh")
    assert (custom.net_clicks_limit, custom.optimize_after_n_clicks) == (3, 2)


def test_bad_brs_options_are_refused_by_name():
    model = _tiny_hrnet()
    with pytest.raises(TypeError, match="frobnicate"):
        get_predictor(model, "RGB-BRS", "cpu", brs_opt_func_params={"frobnicate": 1})
    with pytest.raises(TypeError, match="scale_act"):           # f-BRS only
        get_predictor(model, "RGB-BRS", "cpu", brs_opt_func_params={"scale_act": "tanh"})
    with pytest.raises(TypeError, match="maxiter"):
        get_predictor(model, "f-BRS-A", "cpu", lbfgs_params={"maxiter": 5})
    with pytest.raises(TypeError, match="net_click_limit"):
        get_predictor(model, "f-BRS-A", "cpu", predictor_params={"net_click_limit": 5})
    with pytest.raises(ValueError, match="scale_act"):
        get_predictor(model, "f-BRS-A", "cpu", brs_opt_func_params={"scale_act": "relu"})


@pytest.mark.parametrize("mode", ["RGB-BRS", "f-BRS-A"])
def test_maxfun_bounds_the_search_and_the_lowest_loss_logits_are_returned(mode):
    # contradictory clicks (overlapping positive and negative squares) can never be respected, and with
    # min_iou_diff 0 nothing else stops L-BFGS before maxfun (scipy finishes the line search it is in)
    model = _tiny_hrnet(seed=0)
    clicks = [Click(20, 30, True), Click(20, 32, False)]
    class RecordingLoss(BRSMaskLoss):
        def forward(self, prob, pos_mask, neg_mask):
            result = super().forward(prob, pos_mask, neg_mask)
            self.values.append(float(result[0].detach()))
            self.masks = (pos_mask, neg_mask)
            return result

    runs = {}
    for maxfun in (3, 20):
        loss = RecordingLoss()
        loss.values = []
        predictor = get_predictor(model, mode, "cpu", zoom_in_params=None, lbfgs_params={"maxfun": maxfun},
                                  brs_opt_func_params={"min_iou_diff": 0.0, "reg_weight": 0.0, "brs_loss": loss})
        predictor.set_input_image(_image(1))
        predictor.get_prediction(_clicker(clicks[:1]))
        loss.values = []
        prob = predictor.get_prediction(_clicker(clicks))
        runs[maxfun] = (predictor.evaluations_per_click[1], min(loss.values))
        assert runs[maxfun][0] == len(loss.values) > maxfun
        best = predictor.opt_functor.best_logits                   # (2, 1, h, w): image and its mirror
        best_loss = float(BRSMaskLoss()(torch.sigmoid(best), *loss.masks)[0])
        assert best_loss == min(loss.values) < loss.values[0]      # the lowest loss seen, not the last / first
        expected = torch.sigmoid(0.5 * (best[:1] + torch.flip(best[1:], dims=[3])))[0, 0].numpy()
        np.testing.assert_array_equal(prob, expected)
    assert runs[3][0] < runs[20][0] and runs[20][1] < runs[3][1]


def test_click_square_maps_follow_ritm_rounding_and_slicing():
    clicks = [Click(2.5, 3.5, True), Click(0, 6, False), Click(5, 0.4, True)]
    pos, neg = click_square_maps([clicks], (8, 8), "cpu")
    assert pos.shape == (1, 1, 8, 8) and pos.dtype == torch.float32
    expected_pos = np.zeros((8, 8), np.float32)
    expected_pos[1:4, 3:6] = 1          # round(2.5) = 2, round(3.5) = 4 (half to even)
    # (5, 0): x - 1 = -1 -> an empty numpy slice [-1:2], so this click marks nothing (RITM's quirk)
    np.testing.assert_array_equal(pos[0, 0].numpy(), expected_pos)
    assert neg[0, 0].sum() == 0         # y = 0: the slice [-1:2] is empty as well
