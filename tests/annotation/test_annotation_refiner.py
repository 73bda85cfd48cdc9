"""The refiner on/off switch of the annotation session ("Fusing Forces", issue 9): with it on, an object started
from an external mask is predicted by the refiner, with it off by the click model; other objects always by the
click model; switching re-predicts the current object; undo; the CLI flag."""
import numpy as np
import pytest
from annotation_fakes import DiskPredictor, make_image

from isegm.annotation import AnnotationController


def external_mask(shape=(64, 80)):
    mask = np.zeros(shape, bool)
    mask[10:40, 10:50] = True
    return mask


def session(refiner=True):
    click_model, refiner_model = DiskPredictor(radius=4), (DiskPredictor(radius=11) if refiner else None)
    ctrl = AnnotationController(click_model, threshold=0.5, refiner=refiner_model)
    ctrl.set_image(make_image(), "scene.png")
    return ctrl, click_model, refiner_model


def alone(radius, mask=None, clicks=(), stroke=None, after=()):
    """The probabilities a session with only DiskPredictor(radius) gives for the same actions (clicks, then the
    stroke, then the clicks ``after``)."""
    ctrl = AnnotationController(DiskPredictor(radius=radius), threshold=0.5)
    ctrl.set_image(make_image(), "scene.png")
    if mask is not None:
        ctrl.set_external_mask(mask)
    for y, x, positive in clicks:
        ctrl.add_click(y, x, positive)
    if stroke is not None:
        ctrl.add_stroke(*stroke)
    for y, x, positive in after:
        ctrl.add_click(y, x, positive)
    return ctrl.current_prob


CLICKS = [(25, 60, True), (20, 20, False)]
STROKE = ([(50, 10), (50, 40)], 3.0, True)


def test_on_an_external_mask_goes_to_the_refiner_off_to_the_click_model():
    ctrl, click_model, refiner = session()
    assert ctrl.refiner_enabled and not ctrl.refining
    ctrl.set_external_mask(external_mask())
    assert ctrl.refining and ctrl.predictor is refiner
    for y, x, positive in CLICKS:
        ctrl.add_click(y, x, positive)
    ctrl.add_stroke(*STROKE)
    assert click_model.calls == 0 and refiner.calls == 3
    np.testing.assert_array_equal(ctrl.current_prob, alone(11, external_mask(), CLICKS, STROKE))

    assert ctrl.set_refiner_enabled(False) is True          # the object is predicted again by the click model
    assert not ctrl.refining and ctrl.predictor is click_model and click_model.calls == 3
    np.testing.assert_array_equal(ctrl.current_prob, alone(4, external_mask(), CLICKS, STROKE))
    ctrl.add_click(55, 70, True)
    assert click_model.calls == 4 and refiner.calls == 3
    np.testing.assert_array_equal(ctrl.current_prob, alone(4, external_mask(), CLICKS, STROKE, [(55, 70, True)]))

    assert ctrl.set_refiner_enabled(True) is True
    np.testing.assert_array_equal(ctrl.current_prob, alone(11, external_mask(), CLICKS, STROKE, [(55, 70, True)]))
    assert not np.array_equal(alone(11, external_mask(), CLICKS), alone(4, external_mask(), CLICKS))


def test_objects_without_an_external_mask_always_use_the_click_model():
    ctrl, click_model, refiner = session()
    for y, x, positive in CLICKS:
        ctrl.add_click(y, x, positive)
    assert click_model.calls == 2 and refiner.calls == 0 and not ctrl.refining
    np.testing.assert_array_equal(ctrl.current_prob, alone(4, None, CLICKS))
    assert ctrl.set_refiner_enabled(False) is False           # nothing to re-predict
    assert click_model.calls == 2
    ctrl.finish_object()
    ctrl.set_refiner_enabled(True)
    ctrl.set_external_mask(external_mask())                   # the next object with a mask: the refiner again
    ctrl.add_click(*CLICKS[0])
    assert refiner.calls == 1 and click_model.calls == 2


def test_undo_after_a_switch_goes_back_click_by_click_then_across_the_external_mask():
    ctrl, click_model, refiner = session()
    ctrl.add_click(5, 5, True)                                # a click before the mask, by the click model
    before_mask = ctrl.current_prob.copy()
    ctrl.set_external_mask(external_mask())
    for y, x, positive in CLICKS:
        ctrl.add_click(y, x, positive)
    ctrl.set_refiner_enabled(False)
    assert ctrl.undo() == "action"
    np.testing.assert_array_equal(ctrl.current_prob, alone(4, external_mask(), CLICKS[:1]))
    assert ctrl.undo() == "action"
    assert ctrl.current_clicks == [] and ctrl.current_prob is not None
    np.testing.assert_array_equal(ctrl.current_prob > 0.5, external_mask())
    assert ctrl.undo() == "action"                            # back to before the mask: the first click
    np.testing.assert_array_equal(ctrl.current_prob, before_mask)
    ctrl.add_click(40, 40, True)                              # the click model continues from its own state
    np.testing.assert_array_equal(ctrl.current_prob, alone(4, None, [(5, 5, True), (40, 40, True)]))


def test_switching_on_without_a_refiner_is_refused():
    ctrl, _click_model, _ = session(refiner=False)
    assert not ctrl.refiner_enabled
    with pytest.raises(ValueError, match="no refiner loaded"):
        ctrl.set_refiner_enabled(True)
    assert ctrl.set_refiner_enabled(False) is False


# ------------------------------------------------------------------ the json records which model made an object
def _annotate_three_objects(ctrl):
    """Object 1: external mask + clicks by the refiner; object 2: external mask + clicks by the click model (switch
    off); object 3: clicks only; then an unfinished object on an external mask, by the refiner again."""
    other = np.zeros((64, 80), bool)
    other[45:60, 55:78] = True
    ctrl.set_external_mask(external_mask())
    for y, x, positive in CLICKS:
        ctrl.add_click(y, x, positive)
    ctrl.finish_object()
    ctrl.set_refiner_enabled(False)
    ctrl.set_external_mask(other)
    ctrl.add_click(50, 60, True)
    ctrl.finish_object()
    ctrl.add_click(5, 70, True)
    ctrl.finish_object()
    ctrl.set_refiner_enabled(True)
    ctrl.set_external_mask(other)
    ctrl.add_stroke([(58, 60), (58, 75)], 3.0, False)


def test_the_session_json_says_which_objects_the_refiner_made_and_a_restore_replays_them_by_it():
    ctrl, _click_model, _refiner = session()
    _annotate_three_objects(ctrl)
    record = ctrl.to_session()
    assert [o.get("refiner", False) for o in record["objects"]] == [True, False, False]
    assert record["current"]["refiner"] is True
    assert "refiner" not in record["objects"][1]                # the click model: the key is left out (old files)

    replayed, click_model, refiner = session()
    replayed.set_refiner_enabled(False)                       # the switch is set back as the unfinished object was
    assert replayed.restore(record) == []
    assert replayed.refiner_enabled and replayed.refining
    for a, b in zip(replayed.final_masks(), ctrl.final_masks()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(replayed.current_prob, ctrl.current_prob)
    assert refiner.calls == 3 and click_model.calls == 2      # object 1's 2 clicks + the stroke / objects 2 and 3
    assert [o.refined for o in replayed.objects] == [True, False, False]
    assert replayed.to_session() == record


def test_a_restore_without_the_refiner_uses_the_click_model_and_says_so():
    ctrl, _click_model, _refiner = session()
    _annotate_three_objects(ctrl)
    record = ctrl.to_session()
    record["settings"] = {"refiner": {"name": "my_refiner.pth", "sha256": "ab" * 32}}
    replayed, _click_model, _ = session(refiner=False)
    notes = replayed.restore(record)
    assert len(notes) == 1 and "object(s) 1, unfinished were refined by my_refiner.pth" in notes[0]
    assert "no refiner is loaded" in notes[0]
    by_click_model = alone(4, external_mask(), CLICKS) > 0.5
    np.testing.assert_array_equal(replayed.objects[0].raw_mask, by_click_model)
    assert not np.array_equal(ctrl.objects[0].raw_mask, by_click_model)
    assert not replayed.objects[0].refined                     # what now made the mask is recorded on a save


def test_a_restore_with_another_refiner_says_so():
    ctrl, _click_model, _refiner = session()
    _annotate_three_objects(ctrl)
    record = ctrl.to_session()
    record["settings"] = {"refiner": {"name": "old.pth", "sha256": "ab" * 32}}
    replayed, _, _ = session()
    replayed.settings = {"refiner": {"name": "new.pth", "sha256": "cd" * 32}}
    notes = replayed.restore(record)
    assert len(notes) == 1 and "recorded with refiner old.pth" in notes[0] and "new.pth" in notes[0]


@pytest.mark.parametrize("change,match", [({"refiner": "yes"}, "'refiner' must be true or false"),
                                          ({"refiner": True, "init_mask": None}, "'refiner' is true but the object "
                                                                                 "has no init_mask")])
def test_a_bad_refiner_flag_is_refused_naming_the_object(change, match):
    ctrl, _click_model, _refiner = session()
    _annotate_three_objects(ctrl)
    record = ctrl.to_session()
    record["objects"][0].update(change)
    replayed, _, _ = session()
    with pytest.raises(ValueError, match=f"object 1 .*{match}"):
        replayed.restore(record)
    assert replayed.refiner_enabled                           # the switch is left as it was


def test_reopening_a_finished_object_replays_it_by_the_model_that_made_it():
    ctrl, _click_model, _refiner = session()
    ctrl.set_external_mask(external_mask())
    for y, x, positive in CLICKS:
        ctrl.add_click(y, x, positive)
    refined = ctrl.current_prob.copy()
    ctrl.finish_object()
    ctrl.set_refiner_enabled(False)
    assert ctrl.undo() == "reopen"
    assert ctrl.refiner_enabled and ctrl.refining
    np.testing.assert_array_equal(ctrl.current_prob, refined)


# ------------------------------------------------------------------ demo.py --refiner-checkpoint
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_demo_refuses_a_missing_or_unreadable_refiner_checkpoint(tmp_path):
    from isegm.annotation.cli import prepare_demo
    from isegm.errors import UserError

    click_ckpt = REPO / "weights" / "hrnet18s_cocomval_itermask.pth"
    if not click_ckpt.exists():
        pytest.skip(f"shipped checkpoint not found at {click_ckpt}")
    missing = tmp_path / "absent.pth"
    with pytest.raises(FileNotFoundError, match=f"--refiner-checkpoint {missing}: no such checkpoint file"):
        prepare_demo(["--checkpoint", str(click_ckpt), "--refiner-checkpoint", str(missing), "--cpu",
                      "--out", str(tmp_path / "out")], load_model=False)
    text = tmp_path / "text.pth"
    text.write_text("not a checkpoint\n")
    with pytest.raises(UserError, match=f"cannot load model from --refiner-checkpoint {text}"):
        prepare_demo(["--checkpoint", str(click_ckpt), "--refiner-checkpoint", str(text), "--cpu",
                      "--out", str(tmp_path / "out")])


def test_demo_loads_the_refiner_and_records_it(tmp_path):
    from isegm.annotation.cli import prepare_demo

    click_ckpt = REPO / "weights" / "hrnet18s_cocomval_itermask.pth"
    refiner_ckpt = REPO / "weights" / "hrnet18s_cocomval_refiner.pth"
    if not (click_ckpt.exists() and refiner_ckpt.exists()):
        pytest.skip("shipped click model / refiner checkpoints not found in weights/")
    setup = prepare_demo(["--checkpoint", str(click_ckpt), "--refiner-checkpoint", str(refiner_ckpt), "--cpu",
                          "--out", str(tmp_path / "out")])
    ctrl = setup.controller
    assert ctrl.refiner is not None and ctrl.refiner is not ctrl.predictor and ctrl.refiner_enabled
    assert ctrl.settings["refiner"]["name"] == refiner_ckpt.name and setup.model_info["refiner"] == refiner_ckpt.name
    setup = prepare_demo(["--checkpoint", str(click_ckpt), "--cpu", "--out", str(tmp_path / "out")])
    assert setup.controller.refiner is None and "refiner" not in setup.controller.settings
