"""Strokes in the annotation session (issue 9): one prediction step, undo, json and bit-exact replay."""
import copy
import json

import numpy as np
import pytest
from annotation_fakes import make_image

from isegm.annotation import AnnotationController, load_session
from isegm.geometry import Stroke

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


class PaintAllPredictor:
    """Predictor-like fake: the previous prediction (or ``prev_mask``) with a disk of ``radius`` painted at every
    click (1 positive, 0 negative), plus a tiny per-call term so that the number of calls shows in the output."""

    def __init__(self, radius=3):
        self.radius = radius
        self.prev = None
        self.calls = 0

    def set_input_image(self, image):
        self.prev = np.zeros(image.shape[:2], np.float32)

    def get_prediction(self, clicker, prev_mask=None):
        self.calls += 1
        prob = (self.prev if prev_mask is None else np.asarray(prev_mask, np.float32)).copy()
        yy, xx = np.mgrid[:prob.shape[0], :prob.shape[1]]
        for c in clicker.get_clicks():
            prob[np.hypot(yy - c.coords[0], xx - c.coords[1]) <= self.radius] = 0.9 if c.is_positive else 0.05
        prob = np.clip(prob + np.float32(1e-3) * self.calls, 0, 1).astype(np.float32)
        self.prev = prob
        return prob.copy()

    def get_states(self):
        return {"prev": self.prev.copy(), "calls": self.calls}

    def set_states(self, states):
        self.prev, self.calls = states["prev"].copy(), states["calls"]


def _session():
    session = AnnotationController(PaintAllPredictor(), threshold=0.5, settings={"checkpoint": {"path": "fake.pth"}})
    session.set_image(make_image(), "scene.png")
    return session


def test_a_stroke_is_one_prediction_of_its_clicks_along_the_line():
    session = _session()
    prob = session.add_stroke([(20, 10), (20, 60)], width=4, positive=True, spacing=5)
    expected = Stroke([(20, 10), (20, 60)], 4, True).to_clicks(5)
    assert [(c.y, c.x, c.is_positive) for c in session.current_clicks] == [(c.y, c.x, True) for c in expected]
    assert [c.index for c in session.current_clicks] == list(range(len(expected)))
    assert session._predictor.predictor.calls == 1 and len(expected) == 11
    mask = prob > 0.5
    assert mask[20, 10:61].all() and not mask[30, 30]
    session.add_stroke([(20, 30), (20, 40)], width=2, positive=False, spacing=5)
    assert not (session.current_prob > 0.5)[20, 30:41].any() and (session.current_prob > 0.5)[20, 12]


def test_undo_takes_back_the_whole_stroke():
    session = _session()
    session.add_click(40, 40, True)
    before = session.current_prob.copy()
    session.add_stroke([(10, 10), (10, 50)], 3, True)
    assert session.undo() == "action"
    assert len(session.current_clicks) == 1
    np.testing.assert_array_equal(session.current_prob, before)
    assert session.to_session()["current"].get("strokes") is None


def test_strokes_are_saved_and_replayed_bit_for_bit(tmp_path):
    live = _session()
    live.add_click(40, 40, True)
    live.add_stroke([(10, 10), (10, 50), (30, 50)], 3, True, spacing=4)
    live.add_click(10, 30, False)
    live.finish_object()
    live.add_stroke([(50, 5), (50, 25)], 2, True)
    record = live.to_session()
    obj = record["objects"][0]
    assert [s["first_click"] for s in obj["strokes"]] == [2] and obj["strokes"][0]["spacing"] == 4
    assert len(obj["clicks"]) == 1 + obj["strokes"][0]["n_clicks"] + 1
    path = tmp_path / "s.json"
    path.write_text(json.dumps(record))

    fresh = _session()
    fresh.restore(load_session(path))
    np.testing.assert_array_equal(fresh.final_masks()[0], live.final_masks()[0])
    np.testing.assert_array_equal(fresh.current_prob, live.current_prob)  # same calls: one per click / stroke
    assert fresh.to_session()["objects"] == record["objects"]

    # reopening the finished object keeps its stroke
    result = fresh.undo()
    while result == "action":  # undo the unfinished object's steps, then reopen the finished one
        result = fresh.undo()
    assert result == "reopen"
    assert fresh.to_session()["current"]["strokes"] == obj["strokes"]


@pytest.mark.parametrize("points, width, message", [
    ([(5, 5)], 3, "at least 2"),
    ([(5, 5), (5, 9)], 0, "width"),
    ([(5, 5), (70, 9)], 3, "outside"),
])
def test_bad_strokes_are_refused_and_change_nothing(points, width, message):
    session = _session()
    session.add_click(30, 30, True)
    before = session.to_session()
    with pytest.raises(ValueError, match=message):
        session.add_stroke(points, width, True)
    assert session.to_session() == before


def test_a_stroke_outside_the_box_is_refused():
    session = _session()
    session.set_box((10, 10, 40, 40))
    with pytest.raises(ValueError, match="outside the box"):
        session.add_stroke([(20, 20), (20, 60)], 3, True)


def test_a_tampered_stroke_record_is_refused(tmp_path):
    live = _session()
    live.add_stroke([(10, 10), (10, 50)], 3, True)
    live.finish_object()
    record = live.to_session()
    bad = copy.deepcopy(record)
    bad["objects"][0]["strokes"][0]["spacing"] = 2.0  # other clicks than the recorded ones
    with pytest.raises(ValueError, match="stroke 1: its clicks from click 1"):
        _session().restore(bad)
    bad = copy.deepcopy(record)
    bad["objects"][0]["strokes"][0]["points"] = [[10, 10]]
    with pytest.raises(ValueError, match="stroke 1"):
        _session().restore(bad)
