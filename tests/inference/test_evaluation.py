import numpy as np
import pytest

from inference_fakes import DiskNet, disk_mask, make_fake_dataset, make_image
from isegm.inference.evaluation import evaluate_dataset, evaluate_sample
from isegm.inference.predictors import get_predictor
from isegm.utils.vis import draw_points, draw_probmap, draw_with_blend_and_clicks


def make_predictor(radius=5):
    return get_predictor(DiskNet(radius=radius), "NoBRS", "cpu", zoom_in_params=None)


def test_one_click_reaches_target_on_disk_object():
    shape = (40, 48)
    gt = disk_mask(shape, (20, 24), 5).astype(np.int32)
    calls = []
    clicks, ious, probs, times = evaluate_sample(
        make_image(shape), gt, make_predictor(), max_iou_thr=0.9,
        callback=lambda *args: calls.append(args))
    assert [(c.is_positive, c.coords) for c in clicks] == [(True, (20, 24))]
    assert ious.dtype == np.float32 and ious.tolist() == [1.0]
    assert probs.shape == shape and len(times) == 1 and times[0] >= 0
    assert len(calls) == 1 and calls[0][4] == 0


def test_min_and_max_clicks():
    shape = (40, 48)
    gt = disk_mask(shape, (20, 24), 5).astype(np.int32)
    _, ious, _, _ = evaluate_sample(make_image(shape), gt, make_predictor(), max_iou_thr=0.9, min_clicks=3)
    assert len(ious) == 3
    # a disk net of radius 2 cannot cover a 12x30 box quickly: stops at max_clicks
    box = np.zeros(shape, np.int32)
    box[5:17, 5:35] = 1
    clicks, ious, _, _ = evaluate_sample(make_image(shape), box, make_predictor(radius=2),
                                         max_iou_thr=0.99, max_clicks=4)
    assert len(ious) == len(clicks) == 4
    assert all(c.is_positive for c in clicks)
    assert np.all(np.diff(ious) > 0)


def test_shape_mismatch():
    with pytest.raises(ValueError):
        evaluate_sample(make_image((10, 10)), np.zeros((10, 11), np.int32), make_predictor(), 0.9)


def test_evaluate_dataset_skips_empty_masks(fake_dataset):
    # the fake net predicts disks of radius 7 around clicks; objects are disks of radius 5
    all_ious, elapsed, records = evaluate_dataset(fake_dataset, make_predictor(radius=7), progress=False,
                                                  max_iou_thr=0.9, max_clicks=5)
    assert len(all_ious) == 2 and elapsed > 0
    assert [r["skipped"] for r in records] == [False, False, True]
    assert records[0]["clicks"][0] == (True, 20, 24)
    assert records[0]["ious"][0] == pytest.approx(81 / 149)      # 81-px disk inside a 149-px disk
    # the second object has an ignore ring up to radius 8: the larger disk costs nothing there
    assert records[1]["ious"] == [1.0] and records[1]["n_clicks"] == 1
    assert records[2]["sample_id"] == "empty"


def test_vis_helpers():
    image = np.zeros((20, 30, 3), np.uint8)
    drawn = draw_points(image, [(5, 10), (-1, -1)], (255, 0, 0), radius=2)
    assert tuple(drawn[5, 10]) == (255, 0, 0) and drawn[:, 20:].sum() == 0 and image.sum() == 0
    assert drawn[:3, :3].sum() == 0                          # the padding row (-1, -1) draws nothing
    drawn = draw_points(image, [(5, 10, 0)], (0, 255, 0))
    assert tuple(drawn[5, 18]) == (0, 255, 0)                # order 0 -> radius 8
    probmap = draw_probmap(np.array([[0.0, 1.0]]))
    assert probmap.shape == (1, 2, 3) and tuple(probmap[0, 0]) == (0, 0, 0)
    assert tuple(probmap[0, 1]) == (255, 255, 255)
    mask = np.zeros((20, 30), bool)
    mask[:10] = True
    from isegm.inference.clicker import Click
    blended = draw_with_blend_and_clicks(np.full((20, 30, 3), 100, np.uint8), mask,
                                         clicks_list=[Click(False, (15, 15))])
    assert tuple(blended[15, 15]) == (255, 0, 0)
    assert tuple(blended[19, 0]) == (100, 100, 100)
    assert tuple(blended[0, 0]) == (int(0.4 * 100 + 0.6 * 128), 40, 40)


def test_max_samples_limits_the_run_and_skips_are_named():
    dataset = make_fake_dataset()
    all_ious, _, records = evaluate_dataset(dataset, make_predictor(), progress=False, max_samples=1, max_iou_thr=0.9)
    assert len(records) == 1 and len(all_ious) == 1
    _, _, records = evaluate_dataset(dataset, make_predictor(), progress=False, max_iou_thr=0.9)
    assert [r["reason"] for r in records] == ["", "", "no object in the mask"]


# ---------------------------------------------------------------------- issue 11: scores, stochastic clicks, resize
def test_records_hold_per_click_scores_consistent_with_iou(fake_dataset):
    from isegm import metrics as M

    all_ious, _, records = evaluate_dataset(fake_dataset, make_predictor(radius=7), progress=False,
                                            max_iou_thr=0.9, max_clicks=5, boundary_iou=True)
    first = records[0]
    assert len(first["confusion"]) == first["n_clicks"] == len(first["metrics"]["dice"])
    tp, fp, fn, tn = first["confusion"][0]
    assert (tp, fp, fn) == (81, 149 - 81, 0) and tp + fp + fn + tn == 40 * 48
    assert first["ious"][0] == pytest.approx(tp / (tp + fp + fn))
    assert first["metrics"]["dice"][0] == pytest.approx(2 * 81 / (81 + 149))
    assert first["metrics"]["precision"][0] == pytest.approx(81 / 149) and first["metrics"]["recall"][0] == 1.0
    assert first["metrics"]["accuracy"][0] == pytest.approx(1 - 68 / (40 * 48))
    gt = fake_dataset.get_sample(0).gt_mask
    pred = disk_mask(gt.shape, (20, 24), 7)
    assert first["metrics"]["biou"][0] == pytest.approx(M.boundary_iou(gt, pred))
    # without boundary_iou the band is not computed; the rest is the same and IoUs are unchanged
    all_ious2, _, records2 = evaluate_dataset(fake_dataset, make_predictor(radius=7), progress=False,
                                              max_iou_thr=0.9, max_clicks=5)
    assert "biou" not in records2[0]["metrics"] and records2[0]["metrics"]["dice"] == first["metrics"]["dice"]
    assert [r["ious"] for r in records2] == [r["ious"] for r in records]


def test_stochastic_repeats_are_seeded_per_repeat_and_sample(fake_dataset):
    from isegm.inference.evaluation import StochasticSpec

    def run(seed):
        return evaluate_dataset(fake_dataset, make_predictor(radius=3), progress=False, max_iou_thr=0.9,
                                max_clicks=6, stochastic=StochasticSpec(sigma=2.0, repeats=3, seed=seed))

    ious, _, records = run(4)
    _, _, again = run(4)
    _, _, other = run(5)
    runs = records[0]["stochastic_runs"]
    assert len(runs) == 3 and [r["seed"] for r in runs] == [[4, 0, 0], [4, 1, 0], [4, 2, 0]]
    assert runs == again[0]["stochastic_runs"]
    assert [r["clicks"] for r in runs] != [r["clicks"] for r in other[0]["stochastic_runs"]]
    assert len({tuple(map(tuple, r["clicks"])) for r in runs}) > 1       # repeats differ from each other
    assert "stochastic_runs" not in records[2]                          # the empty sample is skipped
    # the standard run is untouched by the repeats
    plain, _, _ = evaluate_dataset(fake_dataset, make_predictor(radius=3), progress=False, max_iou_thr=0.9,
                                   max_clicks=6)
    assert [x.tolist() for x in plain] == [x.tolist() for x in ious]
    # sigma 0: every repeat is the standard run
    _, _, zero = evaluate_dataset(fake_dataset, make_predictor(radius=3), progress=False, max_iou_thr=0.9,
                                  max_clicks=6, stochastic=StochasticSpec(sigma=0.0, repeats=2, seed=0))
    for record in zero[:2]:
        assert all(r["clicks"] == record["clicks"] and r["ious"] == record["ious"] for r in record["stochastic_runs"])


def test_resize_to_fit_shrinks_only_larger_samples():
    from isegm.inference.evaluation import resize_to_fit

    image = make_image((100, 60))
    gt = np.zeros((100, 60), np.int32)
    gt[20:80, 10:50] = 1
    gt[0:4] = -1
    small_image, small_gt, resized = resize_to_fit(image, gt, 30, 40)
    assert resized and small_image.shape == (40, 24, 3) and small_gt.shape == (40, 24)
    assert set(np.unique(small_gt)) == {-1, 0, 1} and small_gt.dtype == np.int32
    same_image, same_gt, resized = resize_to_fit(image, gt, 60, 100)
    assert not resized and same_image is image and same_gt is gt
    with pytest.raises(ValueError):
        resize_to_fit(image, gt, 0, 0)


def test_evaluate_dataset_records_resized_samples(fake_dataset):
    _, _, records = evaluate_dataset(fake_dataset, make_predictor(radius=3), progress=False, max_iou_thr=0.9,
                                     max_clicks=2, resize=(24, 40))
    assert records[0]["resized"] == {"from": [40, 48], "to": [20, 24]}
    assert len(records[0]["confusion"][0]) == 4 and sum(records[0]["confusion"][0]) == 20 * 24
    _, _, records = evaluate_dataset(fake_dataset, make_predictor(radius=3), progress=False, max_iou_thr=0.9,
                                     max_clicks=2, resize=(48, 40))
    assert not any("resized" in r for r in records)


def test_eval_settings_refuse_bad_issue11_options():
    from isegm.errors import UserError
    from isegm.inference.runner import EvalSettings

    for kwargs, text in (({"resize": (0, 0)}, "--resize 0 0"), ({"clicker": "human"}, "--clicker"),
                         ({"click_sigma": -1.0}, "--click-sigma"), ({"repeats": 0}, "--repeats"),
                         ({"seed": -2}, "--seed"), ({"metrics": (("dice", 0),)}, "metrics column")):
        with pytest.raises(UserError, match=text):
            EvalSettings(**kwargs)
    settings = EvalSettings(metrics=(("biou", 5),), clicker="stochastic", click_sigma=2, repeats=3, seed=9)
    assert settings.wants_boundary_iou() and settings.stochastic.sigma == 2.0 and settings.stochastic.seed == 9
    assert EvalSettings().stochastic is None and not EvalSettings().wants_boundary_iou()
