"""AnnotationController without a screen: clicks, undo, objects, box, external mask, overlap rule, autosave."""
import json

import numpy as np
import pytest
from annotation_fakes import DiskPredictor, make_image

from isegm.annotation import AnnotationController, load_session

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def disk(shape, y, x, r):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return np.hypot(yy - y, xx - x) <= r


def test_clicks_drive_predictions(controller):
    prob = controller.add_click(20, 30, positive=True)
    assert prob.shape == (64, 80) and prob.dtype == np.float32
    np.testing.assert_array_equal(controller.current_mask(), disk((64, 80), 20, 30, 9))
    assert controller.last_prediction_time is not None and controller.last_prediction_time >= 0
    controller.add_click(20, 38, positive=False)
    mask = controller.current_mask()
    assert not mask[disk((64, 80), 20, 38, 9)].any()
    assert mask[20, 24]
    assert [(c.y, c.x, c.is_positive) for c in controller.current_clicks] == [(20, 30, True), (20, 38, False)]


def test_click_outside_image_is_rejected_without_side_effects(controller):
    controller.add_click(10, 10, True)
    before = controller.current_prob.copy()
    with pytest.raises(ValueError, match="outside the 80x64 image"):
        controller.add_click(64, 5, True)
    np.testing.assert_array_equal(controller.current_prob, before)
    assert len(controller.current_clicks) == 1


def test_undo_restores_exact_state_and_predictor(image):
    live = AnnotationController(DiskPredictor())
    live.set_image(image, "a.png")
    live.add_click(20, 20, True)
    live.add_click(30, 50, True)
    assert live.undo() == "action"
    live.add_click(40, 20, True)

    fresh = AnnotationController(DiskPredictor())
    fresh.set_image(image, "a.png")
    fresh.add_click(20, 20, True)
    fresh.add_click(40, 20, True)
    np.testing.assert_array_equal(live.current_prob, fresh.current_prob)
    assert not live.current_mask()[30, 50]


def test_finish_objects_ids_labels_and_empty_refusal(controller):
    with pytest.raises(ValueError, match="nothing to finish"):
        controller.finish_object()
    controller.set_label("cat")
    controller.add_click(15, 15, True)
    assert controller.finish_object() == 1
    controller.set_label("dog")
    controller.add_click(45, 60, True)
    assert controller.finish_object() == 2
    inst = controller.instance_map()
    assert inst.dtype == np.uint16
    np.testing.assert_array_equal(inst == 1, disk(inst.shape, 15, 15, 9))
    np.testing.assert_array_equal(inst == 2, disk(inst.shape, 45, 60, 9))
    assert [c["name"] for c in controller.categories()] == ["cat", "dog"]
    assert controller.current_prob is None and not controller.has_current()
    # an object cleared by a negative click has no pixels: refused
    controller.add_click(5, 75, True)
    controller.add_click(5, 75, False)
    with pytest.raises(ValueError, match="no pixel above the threshold"):
        controller.finish_object()


def test_undo_after_finish_reopens_last_object(controller):
    controller.set_label("cat")
    controller.add_click(15, 15, True)
    controller.add_click(15, 22, True)
    controller.finish_object()
    first = controller.instance_map()
    controller.set_label("other")
    assert controller.undo() == "reopen"
    assert controller.label == "cat" and len(controller.objects) == 0
    assert [(c.y, c.x) for c in controller.current_clicks] == [(15, 15), (15, 22)]
    assert controller.undo() == "action"  # the reopened object's own clicks are undoable
    assert len(controller.current_clicks) == 1
    controller.add_click(15, 22, True)
    controller.finish_object()
    np.testing.assert_array_equal(controller.instance_map(), first)


def test_reset_object_is_undoable(controller):
    controller.add_click(30, 30, True)
    prob = controller.current_prob.copy()
    controller.reset_object()
    assert controller.current_prob is None and controller.current_clicks == []
    controller.undo()
    np.testing.assert_array_equal(controller.current_prob, prob)


def test_threshold_changes_current_mask(controller):
    controller.add_click(30, 30, True)
    assert controller.current_mask().sum() == disk((64, 80), 30, 30, 9).sum()
    controller.set_threshold(0.7)
    np.testing.assert_array_equal(controller.current_mask(), disk((64, 80), 30, 30, 6))
    with pytest.raises(ValueError, match="threshold"):
        controller.set_threshold(1.5)


def test_box_restricts_prediction_and_clicks(controller, predictor):
    controller.set_box((10, 20, 30, 40))
    assert predictor.input_shapes[-1] == (46, 52)  # box grown by 16 px of context, clipped at y=0
    controller.add_click(28, 38, True)
    mask = controller.current_mask()
    assert mask.any()
    outside = np.ones_like(mask)
    outside[10:30, 20:40] = False
    assert not mask[outside].any()
    expected = disk(mask.shape, 28, 38, 9)
    expected[outside] = False
    np.testing.assert_array_equal(mask, expected)
    with pytest.raises(ValueError, match="outside the box"):
        controller.add_click(50, 50, True)
    with pytest.raises(ValueError, match="outside the box"):
        controller.set_box((0, 0, 20, 20))  # would exclude the click at (28, 38)
    # undoing the box brings back the unrestricted object and a full-image predictor input
    controller.undo()
    controller.undo()
    assert controller.current_box is None
    assert predictor.input_shapes[-1] == (64, 80)


def test_box_drawn_after_clicks_replays_them(controller):
    controller.add_click(20, 20, True)
    controller.set_box((5, 5, 40, 26))
    mask = controller.current_mask()
    assert mask[20, 20] and not mask[20, 27]
    assert mask.sum() == (disk(mask.shape, 20, 20, 9)[5:40, 5:26]).sum()


def test_external_mask_then_correct_with_clicks(controller):
    ext = np.zeros((64, 80), np.uint8)
    ext[10:40, 10:50] = 255
    controller.set_external_mask(ext)
    np.testing.assert_array_equal(controller.current_mask(), ext > 0)
    controller.add_click(25, 30, False)  # carve a hole
    mask = controller.current_mask()
    assert not mask[disk(mask.shape, 25, 30, 9)].any()
    assert mask[12, 12] and mask[38, 48]
    controller.finish_object()
    assert controller.objects[0].init_mask is not None


def test_external_mask_size_mismatch_names_both_sizes(controller):
    with pytest.raises(ValueError, match=r"external mask is 90x50 \(WxH\) but the image is 80x64"):
        controller.set_external_mask(np.ones((50, 90), np.uint8))
    with pytest.raises(ValueError, match="no foreground"):
        controller.set_external_mask(np.zeros((64, 80), np.uint8))


def test_overlap_keep_earlier(controller):
    controller.add_click(30, 30, True)
    controller.finish_object()
    controller.add_click(30, 40, True)
    cur = controller.current_mask()
    assert not cur[30, 34]  # overlap not claimed by the current object
    controller.finish_object()
    inst = controller.instance_map()
    a, b = disk(inst.shape, 30, 30, 9), disk(inst.shape, 30, 40, 9)
    np.testing.assert_array_equal(inst == 1, a)
    np.testing.assert_array_equal(inst == 2, b & ~a)
    # an object entirely inside earlier ones is refused
    controller.add_click(30, 35, True)
    controller.set_threshold(0.8)
    with pytest.raises(ValueError, match="already belongs to earlier objects"):
        controller.finish_object()


def test_overlap_later_wins(image):
    ctrl = AnnotationController(DiskPredictor(), overlap_rule="later_wins")
    ctrl.set_image(image, "x.png")
    ctrl.add_click(30, 30, True)
    ctrl.finish_object()
    ctrl.add_click(30, 40, True)
    ctrl.finish_object()
    inst = ctrl.instance_map()
    a, b = disk(inst.shape, 30, 30, 9), disk(inst.shape, 30, 40, 9)
    np.testing.assert_array_equal(inst == 2, b)
    np.testing.assert_array_equal(inst == 1, a & ~b)
    ctrl.set_threshold(0.55)
    ctrl.add_click(30, 30, True)
    ctrl.add_click(30, 40, True)
    ctrl.add_click(30, 20, True)
    with pytest.raises(ValueError, match="completely"):
        ctrl.finish_object()
    with pytest.raises(ValueError, match="overlap_rule"):
        AnnotationController(DiskPredictor(), overlap_rule="whatever")


def test_autosave_resume(tmp_path, image):
    autosave = tmp_path / "scene.autosave.json"
    ctrl = AnnotationController(DiskPredictor(), autosave_path=autosave)
    ctrl.set_image(image, "scene.png")
    ctrl.set_label("cat")
    ctrl.add_click(15, 15, True)
    ctrl.finish_object()
    ctrl.set_label("tree", isthing=False)
    ext = np.zeros((64, 80), bool)
    ext[40:60, 40:70] = True
    ctrl.set_external_mask(ext)
    ctrl.add_click(50, 50, False)
    ctrl.finish_object()
    ctrl.set_label("cat")
    ctrl.set_box((0, 50, 30, 80))
    ctrl.add_click(10, 60, True)  # unfinished object
    saved = json.loads(autosave.read_text())
    assert saved["format"] == "isegm-annotation-session"
    assert len(saved["objects"]) == 2 and saved["current"]["clicks"][0] == {"y": 10, "x": 60, "positive": True,
                                                                            "order": 1}

    resumed = AnnotationController(DiskPredictor())
    resumed.set_image(image, "scene.png")
    resumed.restore(load_session(autosave))
    np.testing.assert_array_equal(resumed.instance_map(), ctrl.instance_map())
    np.testing.assert_array_equal(resumed.current_prob, ctrl.current_prob)
    assert resumed.current_box.to() == (0, 50, 30, 80)
    assert resumed.categories() == ctrl.categories()
    assert resumed.categories()[1] == {"id": 2, "name": "tree", "isthing": False}
    # resumed session keeps working: undo the current object's click
    assert resumed.undo() == "action"

    other = AnnotationController(DiskPredictor())
    other.set_image(make_image(seed=1), "scene.png")
    with pytest.raises(ValueError, match="different pixels"):
        other.restore(load_session(autosave))
    small = AnnotationController(DiskPredictor())
    small.set_image(make_image(32, 32), "scene.png")
    with pytest.raises(ValueError, match="80x64"):
        small.restore(load_session(autosave))


def test_resume_on_another_model_or_inference_path_says_so(tmp_path, image):
    """An autosave recorded on the fast path (or another checkpoint) is re-predicted on the current one: the
    restore returns a note naming both, shown by the GUIs; the same model restores silently."""
    from isegm.inference.paths import InferencePath

    fast = InferencePath("bf16", True, True).to_json()
    recorded = {"checkpoint": {"name": "a.pth", "sha256": "1" * 64}, "inference": fast}
    autosave = tmp_path / "scene.autosave.json"
    ctrl = AnnotationController(DiskPredictor(), autosave_path=autosave, settings=recorded)
    ctrl.set_image(image, "scene.png")
    ctrl.add_click(15, 15, True)
    ctrl.finish_object()

    same = AnnotationController(DiskPredictor(), settings=recorded)
    same.set_image(image, "scene.png")
    assert same.restore(autosave) == []

    exact = AnnotationController(DiskPredictor(), settings={"checkpoint": {"name": "a.pth", "sha256": "1" * 64}})
    exact.set_image(image, "scene.png")
    notes = exact.restore(autosave)
    assert len(notes) == 1 and "scene.autosave.json" in notes[0]
    assert "bf16+bnfold+cl" in notes[0] and "re-predicting on exact" in notes[0]
    np.testing.assert_array_equal(exact.instance_map(), ctrl.instance_map())   # still restored

    other = AnnotationController(DiskPredictor(), settings={"checkpoint": {"name": "b.pth", "sha256": "2" * 64},
                                                            "inference": fast})
    other.set_image(image, "scene.png")
    notes = other.restore(autosave)
    assert len(notes) == 1 and "a.pth" in notes[0] and "b.pth" in notes[0]


def test_load_session_rejects_foreign_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not an isegm annotation json"):
        load_session(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_session(path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_session(tmp_path / "missing.json")


def test_resumes_a_version_1_autosave_written_by_the_pre_split_controller(image):
    """The file was written by the controller of commit 805e62e (two objects, one with an external mask, and
    an unfinished boxed object); today's code resumes it and writes the identical session back."""
    from pathlib import Path

    path = Path(__file__).parent / "data" / "autosave_v1_written_before_split.json"
    resumed = AnnotationController(DiskPredictor())
    resumed.set_image(image, "scene.png")
    resumed.restore(load_session(path))
    assert json.loads(json.dumps(resumed.to_session())) == json.loads(path.read_text())
    assert resumed.current_box.to() == (0, 50, 30, 80) and len(resumed.current_clicks) == 1
    assert [c["name"] for c in resumed.categories()] == ["cat", "tree"]
