"""The Tk view in-process under Xvfb with a fake predictor: error messages, overwrite confirmation, autosave resume,
inference off the Tk thread. Skips where Xvfb or Tk cannot start."""
import gc
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from annotation_fakes import DiskPredictor, start_xvfb

from isegm.annotation import AnnotationController

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # interactive_demo/ is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO))

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


class SlowPredictor(DiskPredictor):
    """Records the thread of each prediction and can be held back with an event."""

    def __init__(self):
        super().__init__(radius=10)
        self.threads = []
        self.gate = threading.Event()
        self.gate.set()

    def get_prediction(self, clicker, prev_mask=None):
        self.threads.append(threading.current_thread())
        assert self.gate.wait(10)
        return super().get_prediction(clicker, prev_mask)


@pytest.fixture(scope="module")
def display():
    proc, display = start_xvfb()
    if proc is None:
        pytest.skip(display)
    yield display
    proc.kill()
    proc.wait()


@pytest.fixture
def app_env(display, tmp_path, monkeypatch):
    tk = pytest.importorskip("tkinter")
    monkeypatch.setenv("DISPLAY", display)
    from interactive_demo import app as app_module

    dialogs = []
    answers = {"askyesno": False}

    def record(kind):
        def show(title, message, **_kw):
            dialogs.append((kind, title, message))
            return answers.get(kind)
        return show

    for kind in ("showerror", "showwarning", "showinfo", "askyesno"):
        monkeypatch.setattr(app_module.messagebox, kind, record(kind))
    try:
        root = tk.Tk()
    except tk.TclError as exc:
        pytest.skip(f"Tk cannot open a window on {display}: {exc}")
    predictor = SlowPredictor()
    ctrl = AnnotationController(predictor, settings={"checkpoint": {"path": "fake.pth"}})
    app = app_module.AnnotationApp(root, ctrl, out_dir=tmp_path / "out", model_info={"with_prev_mask": True})
    image = np.full((60, 90, 3), 120, np.uint8)
    image_path = tmp_path / "img.png"
    cv2.imwrite(str(image_path), image)
    yield root, app, ctrl, predictor, dialogs, answers, image_path
    app.worker.stop()
    root.destroy()
    del app, root
    gc.collect()  # drop Tk objects here, on the Tk thread, not later inside some other thread


def pump(root, app, timeout=10.0):
    """Run the Tk loop until the worker is idle."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        root.update()
        if not app.worker.busy:
            root.update()
            return
        time.sleep(0.01)
    raise AssertionError("worker did not finish")


def test_bad_files_give_messages_not_crashes(app_env, tmp_path):
    root, app, ctrl, _pred, dialogs, _answers, image_path = app_env
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\x00garbage")
    app.load_image(broken)
    assert dialogs[-1][0] == "showerror" and str(broken) in dialogs[-1][2]
    app.load_image(image_path)
    pump(root, app)
    assert ctrl.image is not None and app.view.image.shape == (60, 90, 3)

    app.load_mask(broken)
    assert dialogs[-1][0] == "showerror" and "cannot read mask" in dialogs[-1][2] and str(broken) in dialogs[-1][2]
    wrong = tmp_path / "wrong.png"
    cv2.imwrite(str(wrong), np.full((40, 50), 255, np.uint8))
    app.load_mask(wrong)
    pump(root, app)
    kind, _title, message = dialogs[-1]
    assert kind == "showerror" and "50x40" in message and "90x60" in message
    good = tmp_path / "good.png"
    mask = np.zeros((60, 90), np.uint8)
    mask[10:30, 10:40] = 255
    cv2.imwrite(str(good), mask)
    app.load_mask(good)
    pump(root, app)
    np.testing.assert_array_equal(app.view.current_mask, mask > 0)


def test_inference_runs_off_the_tk_thread(app_env):
    root, app, ctrl, pred, _dialogs, _answers, image_path = app_env
    app.load_image(image_path)
    pump(root, app)
    pred.gate.clear()
    app.add_click(30, 45, True)
    for _ in range(20):  # the Tk loop keeps running while the prediction is held
        root.update()
        time.sleep(0.01)
    assert app.worker.busy and "predicting" in app.status.get()
    pred.gate.set()
    pump(root, app)
    assert pred.threads and all(t is not threading.main_thread() for t in pred.threads)
    assert "last prediction:" in app.status.get() and app.view.current_mask[30, 45]


def test_save_asks_before_overwriting(app_env):
    root, app, ctrl, _pred, dialogs, answers, image_path = app_env
    app.load_image(image_path)
    pump(root, app)
    app.save()
    assert dialogs[-1][0] == "showinfo"  # nothing finished yet
    app.add_click(30, 45, True)
    pump(root, app)
    app.finish_object()
    pump(root, app)
    app.save()
    pump(root, app)
    json_path = app.out_dir / "img.json"
    first = json_path.read_bytes()
    app.add_click(10, 10, True)
    pump(root, app)
    app.finish_object()
    pump(root, app)
    answers["askyesno"] = False
    app.save()
    pump(root, app)
    assert dialogs[-1][0] == "askyesno" and str(json_path) in dialogs[-1][2]
    assert json_path.read_bytes() == first
    answers["askyesno"] = True
    app.save()
    pump(root, app)
    assert json_path.read_bytes() != first and app.last_saved


def test_autosave_is_offered_and_resumed(app_env):
    root, app, ctrl, _pred, dialogs, answers, image_path = app_env
    app.load_image(image_path)
    pump(root, app)
    app.add_click(30, 45, True)
    pump(root, app)
    app.finish_object()
    pump(root, app)
    app.add_click(10, 80, True)
    pump(root, app)
    autosave = app.out_dir / "img.autosave.json"
    assert autosave.is_file()
    expected = ctrl.instance_map()
    ctrl.set_image(np.zeros((5, 5, 3), np.uint8), "other.png")  # simulate a crash: state lost
    answers["askyesno"] = True
    app.view = None
    app.load_image(image_path)
    pump(root, app)
    assert dialogs[-1][0] == "askyesno" and "Resume" in dialogs[-1][1]
    np.testing.assert_array_equal(ctrl.instance_map(), expected)
    assert len(ctrl.current_clicks) == 1 and app.view.clicks


def test_label_field_ctrl_a_selects_all_and_quit_asks_only_with_unsaved_objects(app_env):
    root, app, ctrl, _pred, dialogs, answers, image_path = app_env
    app.label_var.set("a long label")
    app.label_entry.focus_force()
    app.label_entry.icursor(3)
    root.update()
    app.label_entry.event_generate("<Control-a>")
    root.update()
    assert app.label_entry.selection_present()
    assert app.label_entry.index("sel.first") == 0 and app.label_entry.index("sel.last") == len("a long label")

    app.load_image(image_path)
    pump(root, app)
    ctrl.add_click(30, 45, True)
    ctrl.finish_object()
    answers["askyesno"] = False
    app.quit_app()  # a finished object not saved: asks; "no" keeps the window
    assert dialogs[-1][0] == "askyesno" and root.winfo_exists()
    ctrl.save(app.out_dir)
    asked = len(dialogs)
    app.worker.stop = lambda: None  # the fixture stops the worker itself
    app.master.destroy = lambda: None
    app.quit_app()  # saved since: no question
    assert len(dialogs) == asked


def test_u_toggles_the_uncertainty_and_suggestion_overlay(app_env):
    from isegm.annotation.render import draw_suggestion_overlay

    root, app, ctrl, _pred, _dialogs, _answers, image_path = app_env
    app.load_image(image_path)
    pump(root, app)
    app.add_click(30, 45, True)
    pump(root, app)
    plain = app._composite()
    app.toggle_suggestion()
    assert app.suggest_var.get()
    shown = app._composite()
    expected, click = draw_suggestion_overlay(plain, app.view.prob)
    assert click is not None and not np.array_equal(shown, plain)
    np.testing.assert_array_equal(shown, expected)
    app.toggle_suggestion()
    np.testing.assert_array_equal(app._composite(), plain)


def test_r_switches_the_refiner_of_the_session(app_env, tmp_path):
    root, app, ctrl, pred, dialogs, _answers, image_path = app_env
    app.toggle_refiner()                                      # no refiner loaded: a message, no switch
    assert "no refiner loaded" in app.message and not app.refiner_var.get()
    refiner = SlowPredictor()
    ctrl._predictor.refiner = refiner                         # as prepare_demo(--refiner-checkpoint) builds it
    ctrl._predictor.use_refiner = False
    app.load_image(image_path)
    pump(root, app)
    mask = np.zeros((60, 90), np.uint8)
    mask[10:30, 10:40] = 255
    mask_path = tmp_path / "mask.png"
    cv2.imwrite(str(mask_path), mask)
    app.load_mask(mask_path)
    pump(root, app)
    app.add_click(20, 20, True)
    pump(root, app)
    assert not ctrl.refining and not refiner.threads
    app.toggle_refiner()
    pump(root, app)
    assert app.refiner_var.get() and ctrl.refiner_enabled and ctrl.refining
    assert refiner.threads and "refiner on" in app.message
    ctrl.set_threshold(0.3)
    app.finish_object()
    pump(root, app)
    app.toggle_refiner()
    pump(root, app)
    assert not app.refiner_var.get() and not ctrl.refiner_enabled
    app.undo()                                                # reopens the refined object: the switch follows it
    pump(root, app)
    assert ctrl.refining and app.refiner_var.get()
