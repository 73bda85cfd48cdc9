"""Cascade-forward refinement (isegm.inference.predictors.cfr): CFR-ICL's cf_n / acf / cf_click semantics
around the NoBRS predictor, undo, bad input, and the evaluator's --cf-n / --acf."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from eval_fixtures import randomize_weights
from inference_fakes import DiskNet, make_fake_dataset, make_image
from inference_fakes import run_clicks as _run_clicks
from isegm.errors import UserError
from isegm.inference.clicker import Click, Clicker
from isegm.inference.predictors import get_predictor
from isegm.inference.predictors.cfr import CascadeForwardPredictor

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO_ROOT / "weights" / "hrnet18s_cocomval_itermask.pth"


class GrowNet(nn.Module):
    """Prev-mask model: the previous mask (4th channel) dilated by ``step`` px, plus a disk of radius 3 at each
    positive click, limited to the rows/cols ``limit`` (so repeated runs grow the mask until it fills the limit)."""

    def __init__(self, step=1, limit=(slice(10, 30), slice(10, 40))):
        super().__init__()
        self.with_prev_mask = True
        self.step = step
        self.limit = limit
        self.calls = 0

    def forward(self, image, points):
        self.calls += 1
        prev = image[:, 3:4] > 0.5
        k = 2 * self.step + 1
        grown = F.max_pool2d(prev.float(), k, stride=1, padding=self.step) > 0.5
        _, _, height, width = image.shape
        ys = torch.arange(height).view(1, 1, height, 1)
        xs = torch.arange(width).view(1, 1, 1, width)
        n = points.shape[1] // 2
        for y, x, _ in points[0, :n].tolist():
            if y >= 0:
                grown |= (ys - y) ** 2 + (xs - x) ** 2 <= 9
        inside = torch.zeros_like(grown)
        inside[..., self.limit[0], self.limit[1]] = True
        return {"instances": torch.where(grown & inside, 10.0, -10.0)}


def tiny_hrnet(seed=0):
    from isegm.model import build_model

    return randomize_weights(build_model("hrnet18s_itermask"), seed)


def clicker_with(shape, *clicks):
    clicker = Clicker(image_shape=shape)
    for y, x, positive in clicks:
        clicker.add_click(Click(y, x, positive))
    return clicker


CLICKS = [(30, 30, True), (20, 50, False), (45, 20, True)]


def run_clicks(predictor, image, clicks=CLICKS):
    return _run_clicks(predictor, image, clicks)


def nobrs(net):
    # RITM's NoBRS set-up: zoom-in from the 2nd click, flip averaging; small crops so the zoom is active here
    return get_predictor(net, "NoBRS", "cpu", zoom_in_params={"target_size": 48, "min_crop_size": 16})


def test_cf_n_0_is_the_plain_predictor_exactly():
    net = tiny_hrnet()
    image = make_image((56, 72), seed=4)
    plain = run_clicks(nobrs(net), image)
    wrapped = CascadeForwardPredictor(nobrs(net), 0)
    cascaded = run_clicks(wrapped, image)
    for a, b in zip(plain, cascaded):
        np.testing.assert_array_equal(a, b)
    assert wrapped.last_n_runs == 1


def test_cf_n_1_is_the_output_fed_back_once():
    net = tiny_hrnet(1)
    image = make_image((56, 72), seed=5)
    manual = nobrs(net)
    manual.set_input_image(image)
    clicker = Clicker(image_shape=image.shape[:2])
    expected = []
    for y, x, positive in CLICKS:
        clicker.add_click(Click(y, x, positive))
        first = manual.get_prediction(clicker)
        expected.append(manual.get_prediction(clicker, prev_mask=first))
    wrapped = CascadeForwardPredictor(nobrs(net), 1)
    got = run_clicks(wrapped, image)
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    assert wrapped.last_n_runs == 2
    # the refinement did something: one run alone differs
    assert not np.array_equal(run_clicks(nobrs(net), image)[-1], got[-1])


def test_cf_n_runs_and_acf_stops_once_stable():
    image = make_image((40, 50))
    clicker = clicker_with((40, 50), (20, 25, True))
    # a model that ignores the previous mask: the 2nd run equals the 1st, ACF stops there
    net = DiskNet(radius=5, with_prev_mask=True)
    fixed = CascadeForwardPredictor(get_predictor(net, "NoBRS", "cpu", zoom_in_params=None, with_flip=False), 4)
    fixed.set_input_image(image)
    fixed.get_prediction(clicker)
    assert len(net.calls) == 5 and fixed.last_n_runs == 5
    net = DiskNet(radius=5, with_prev_mask=True)
    adaptive = CascadeForwardPredictor(get_predictor(net, "NoBRS", "cpu", zoom_in_params=None, with_flip=False), 4,
                                       adaptive=True)
    adaptive.set_input_image(image)
    adaptive.get_prediction(clicker)
    assert len(net.calls) == 2 and adaptive.last_n_runs == 2


def test_acf_runs_while_the_mask_changes_and_stops_when_it_settles():
    image = make_image((40, 50))
    clicker = clicker_with((40, 50), (20, 25, True))
    # step 1: disk r=3 (29 px), then rings of 1 px: 8*k+... > 20 px changed each run until the 20x30 limit is hit
    net = GrowNet(step=1, limit=(slice(12, 28), slice(17, 33)))
    predictor = CascadeForwardPredictor(get_predictor(net, "NoBRS", "cpu", zoom_in_params=None, with_flip=False),
                                        10, adaptive=True)
    predictor.set_input_image(image)
    out = predictor.get_prediction(clicker)
    # growth per run: disk r3 -> r4-ish square rings; the 16x16 limit is filled after a few runs
    masks = []
    reference = get_predictor(GrowNet(step=1, limit=(slice(12, 28), slice(17, 33))), "NoBRS", "cpu",
                              zoom_in_params=None, with_flip=False)
    reference.set_input_image(image)
    for _ in range(11):
        masks.append(reference.get_prediction(clicker) > 0.49)
    changed = [int((a != b).sum()) for a, b in zip(masks[1:], masks[:-1])]
    first_stable = next(i for i, c in enumerate(changed) if c <= 20) + 2   # runs made when ACF stops
    assert changed[0] > 20 and 2 < first_stable < 11
    assert predictor.last_n_runs == net.calls == first_stable
    np.testing.assert_array_equal(out > 0.49, masks[first_stable - 1])


def test_cf_clicks_limits_the_cascade_to_the_first_clicks():
    image = make_image((40, 50))
    net = DiskNet(radius=5, with_prev_mask=True)
    predictor = CascadeForwardPredictor(get_predictor(net, "NoBRS", "cpu", zoom_in_params=None, with_flip=False), 2,
                                        cf_clicks=1)
    predictor.set_input_image(image)
    clicker = clicker_with((40, 50), (20, 25, True))
    predictor.get_prediction(clicker)
    assert predictor.last_n_runs == 3
    clicker.add_click(Click(5, 5, False))
    predictor.get_prediction(clicker)
    assert predictor.last_n_runs == 1 and len(net.calls) == 4


def test_undo_restores_the_wrapped_state():
    net = tiny_hrnet(2)
    image = make_image((56, 72), seed=6)
    predictor = CascadeForwardPredictor(nobrs(net), 2, adaptive=True)
    predictor.set_input_image(image)
    clicker = clicker_with(image.shape[:2], CLICKS[0])
    predictor.get_prediction(clicker)
    state = predictor.get_states()
    runs_after_first = predictor.last_n_runs
    clicker.add_click(Click(*CLICKS[1][:2], CLICKS[1][2]))
    second = predictor.get_prediction(clicker)
    predictor.get_prediction(clicker_with(image.shape[:2], (5, 5, True)))      # something else in between
    predictor.set_states(state)
    assert predictor.last_n_runs == runs_after_first
    np.testing.assert_array_equal(predictor.get_prediction(clicker), second)
    with pytest.raises(ValueError, match="CascadeForwardPredictor"):
        predictor.set_states(nobrs(net).get_states())


def test_bad_input_is_refused():
    with pytest.raises(UserError, match="previous-mask input"):
        CascadeForwardPredictor(get_predictor(DiskNet(with_prev_mask=False), "NoBRS", "cpu"), 1)
    base = get_predictor(DiskNet(with_prev_mask=True), "NoBRS", "cpu")
    with pytest.raises(UserError, match="cf_n must be an integer >= 0, got -1"):
        CascadeForwardPredictor(base, -1)
    with pytest.raises(UserError, match="cf_clicks"):
        CascadeForwardPredictor(base, 1, cf_clicks=0)
    assert CascadeForwardPredictor(base, 0).net is base.net


def test_shipped_checkpoint_cfr_on_coco_mval(coco_mval_path):
    if not CHECKPOINT.exists():
        pytest.skip(f"shipped checkpoint not found at {CHECKPOINT}")
    from isegm.data.registry import get_eval_dataset
    from isegm.model import load_is_model

    net = load_is_model(str(CHECKPOINT), device="cpu", eval_mode=True)
    sample = get_eval_dataset("COCO_MVal", coco_mval_path).get_sample(0)
    manual = get_predictor(net, "NoBRS", "cpu")
    wrapped = CascadeForwardPredictor(get_predictor(net, "NoBRS", "cpu"), 1)
    manual.set_input_image(sample.image)
    wrapped.set_input_image(sample.image)
    clicker = Clicker(gt_mask=sample.gt_mask)
    pred_mask = np.zeros(sample.gt_mask.shape, dtype=bool)
    for _ in range(2):
        clicker.make_next_click(pred_mask)
        once = manual.get_prediction(clicker)
        expected = manual.get_prediction(clicker, prev_mask=once)
        got = wrapped.get_prediction(clicker)
        np.testing.assert_array_equal(got, expected)
        pred_mask = got > 0.49


# ---------------------------------------------------------------------- the evaluator
def lib_run(tmp_path, net_factory, **settings):
    from isegm.inference.runner import EvalSettings, run_evaluation

    return run_evaluation([tmp_path / "fake_model.pth"], {"GrabCut": make_fake_dataset()},
                          EvalSettings(n_clicks=5, progress=False, **settings), torch.device("cpu"),
                          tmp_path / "logs", load_model=lambda path, device: net_factory())


def _trajectories(results):
    return [(s["clicks"], s["ious"]) for s in results["datasets"]["GrabCut"]["fake_model"]["samples"]]


def test_evaluation_cf_n_0_equals_plain_and_variants_are_named(tmp_path):
    plain = lib_run(tmp_path / "a", lambda: GrowNet(step=1))
    zero = lib_run(tmp_path / "b", lambda: GrowNet(step=1), cf_n=0)
    assert _trajectories(plain) == _trajectories(zero) and zero["variant"] == ""
    assert Path(zero["table_path"]).name == "cvpr_NoBRS_5.txt"
    cf = lib_run(tmp_path / "c", lambda: GrowNet(step=1), cf_n=2, acf=True)
    assert cf["variant"] == "acf2" and cf["cf_n"] == 2 and cf["acf"] is True
    assert Path(cf["table_path"]).name == "cvpr_NoBRS_acf2_5.txt"
    assert "NoBRS_acf2" in cf["datasets"]["GrabCut"]["fake_model"]["table_row"]
    assert _trajectories(cf) != _trajectories(plain)


def test_evaluation_refuses_cfr_without_prev_mask_and_writes_nothing(tmp_path):
    with pytest.raises(UserError, match="previous-mask input"):
        lib_run(tmp_path, lambda: DiskNet(with_prev_mask=False), cf_n=1)
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("kwargs,match", [({"cf_n": -1}, "--cf-n -1"), ({"acf": True}, "--acf needs --cf-n"),
                                          ({"cf_n": 1, "cf_clicks": 0}, "--cf-clicks 0")])
def test_eval_settings_refuse_bad_cfr_values(kwargs, match):
    from isegm.inference.runner import EvalSettings

    with pytest.raises(UserError, match=match):
        EvalSettings(**kwargs)


def test_cli_flags_reach_the_settings(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("evaluate_model_cfr", REPO_ROOT / "scripts" / "evaluate_model.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    config = tmp_path / "config.yml"
    config.write_text("GRABCUT_PATH: ./GrabCut\n")
    base = ["NoBRS", "--checkpoint", "x", "--cpu", "--config-path", str(config)]
    _, settings, _ = script.parse_args(base)
    assert (settings.cf_n, settings.acf, settings.cf_clicks, settings.focus_refine) == (0, False, None, False)
    _, settings, _ = script.parse_args(base + ["--cf-n", "4", "--acf", "--cf-clicks", "1", "--focus-refine"])
    assert (settings.cf_n, settings.acf, settings.cf_clicks, settings.focus_refine) == (4, True, 1, True)
    assert settings.mode_label() == "NoBRS_acf4c1_focus"
