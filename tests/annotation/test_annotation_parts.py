"""The parts of the annotation session used on their own: box clipping and the crop for a box
(isegm.annotation.predict), the checks of a loaded session record (isegm.annotation.persist) and the session
data (isegm.annotation.state). The session's behaviour as a whole is tested in test_annotation_controller.py."""
import numpy as np
import pytest
from annotation_fakes import DiskPredictor, make_image

from isegm.annotation import persist
from isegm.annotation.history import ObjectState
from isegm.annotation.predict import ObjectPredictor, check_box_exact, clip_box
from isegm.annotation.state import SessionState
from isegm.geometry import Box


def test_clip_box_orders_rounds_and_clips():
    assert clip_box((30.4, 50, 10, -5), (64, 80)).to() == (10, 0, 30, 50)
    assert clip_box(Box((60, 70, 90, 99)), (64, 80)).to() == (60, 70, 64, 80)
    with pytest.raises(ValueError, match=r"smaller than 4x4 px inside the 80x64 image"):
        clip_box((61, 10, 70, 40), (64, 80))  # 3 px high once clipped
    check_box_exact(Box((0, 0, 64, 80)), (64, 80), "here")
    with pytest.raises(ValueError, match=r"^f.json: box \[0, 0, 65, 80\] is not a valid"):
        check_box_exact(Box((0, 0, 65, 80)), (64, 80), "f.json")


def test_crop_for_a_box_adds_the_margin_clipped_to_the_image():
    state = SessionState()
    state.load_image(make_image(200, 300), "a.png")
    runner = ObjectPredictor(DiskPredictor(), state, box_margin=0.25)
    assert runner.crop_for(None) == (0, 0, 200, 300)
    assert runner.crop_for(Box((50, 100, 150, 260))) == (10, 60, 190, 300)  # margin 0.25 * 160 = 40
    assert runner.crop_for(Box((90, 90, 100, 100))) == (74, 74, 116, 116)  # at least 16 px
    runner.reset(Box((50, 100, 150, 260)))
    assert runner.predictor.input_shapes[-1] == (180, 240) and runner.crop == (10, 60, 190, 300)


def _record(**image):
    return {"where": "s.json", "image": dict({"height": 64, "width": 80, "sha256": "ab" * 32}, **image),
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "sky", "isthing": False}]}


def test_read_header_checks_the_image_and_takes_the_categories():
    header = persist.read_header(_record(), (64, 80), "ab" * 32, box_margin=0.2)
    assert (header.where, header.overlap_rule, header.box_margin) == ("s.json", "keep_earlier", 0.2)
    assert header.class_names == ["cat", "sky"] and header.stuff_labels == {"sky"}
    with pytest.raises(ValueError, match=r"^s.json: session is for a 80x64 image .* loaded image is 81x64"):
        persist.read_header(_record(), (64, 81), "ab" * 32, 0.2)
    with pytest.raises(ValueError, match=r"^s.json: session was recorded on different pixels"):
        persist.read_header(_record(), (64, 80), "cd" * 32, 0.2)
    persist.read_header(_record(), (64, 80), "cd" * 32, 0.2, check_image=False)
    with pytest.raises(ValueError, match=r"unknown overlap_rule 'biggest'"):
        persist.read_header(dict(_record(), overlap_rule="biggest"), (64, 80), "ab" * 32, 0.2)


def test_object_from_record_names_the_click_outside_its_box():
    rec = {"restrict_box": [10, 10, 30, 30], "clicks": [{"y": 20, "x": 20, "positive": True},
                                                        {"y": 40, "x": 20, "positive": False}]}
    with pytest.raises(ValueError, match=r"^object 3 click 2: refused: click \(y=40, x=20\) is outside the box"):
        persist.object_from_record(rec, "object 3", (64, 80))
    box, init_mask, init_rle, clicks, strokes = persist.object_from_record(dict(rec, clicks=rec["clicks"][:1]), "o", (64, 80))
    assert box.to() == (10, 10, 30, 30) and init_mask is None and init_rle is None
    assert [(c.y, c.x, c.is_positive, c.index) for c in clicks] == [(20, 20, True, 0)]


def test_state_finishes_objects_under_the_overlap_rule():
    state = SessionState(overlap_rule="keep_earlier", class_names=["a"])
    state.load_image(make_image(), "a.png")
    with pytest.raises(ValueError, match="nothing to finish"):
        state.finish_current()
    first = np.zeros((64, 80), np.float32)
    first[10:20, 10:20] = 0.9
    state.cur = ObjectState(prob=first)
    assert state.finish_current() == 1 and state.cur.prob is None
    second = np.zeros((64, 80), np.float32)
    second[15:25, 15:25] = 0.9
    state.cur = ObjectState(prob=second)
    assert state.current_mask().sum() == 100 - 25  # the overlap stays with the earlier object
    assert state.finish_current() == 2
    assert [int(m.sum()) for m in state.final_masks()] == [100, 75]
    assert state.instance_map()[17, 17] == 1 and state.has_unsaved_changes() and state.can_undo()
    state.mark_saved()
    assert not state.has_unsaved_changes() and not state.dirty
    assert state.categories() == [{"id": 1, "name": "a", "isthing": True}]
