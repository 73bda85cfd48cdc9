"""Screen-less parts behind the GUI fixes: status bar text, id text colours, default label, unsaved changes,
short refusal messages."""
import sys
from pathlib import Path

import numpy as np
import pytest
from annotation_fakes import DiskPredictor

from isegm.annotation import AnnotationController
from isegm.annotation.render import draw_overlay, id_text_colors, instance_color

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from interactive_demo.status import elide, status_line  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_status_line_puts_the_message_first_and_keeps_the_full_text():
    message = "refused: box (0, 0, 2, 2) is smaller than 4x4 px inside the 90x60 image"
    info = ["scene.png (90x60)", "objects: 3", "clicks: 2", "last prediction: 12 ms", "model: m.pth on cpu", "ready"]
    shown, full = status_line(message, info, 40)
    assert shown.startswith("refused: box") and len(shown) == 40 and shown.endswith("\u2026")
    assert full.startswith(message) and all(p in full for p in info)
    assert status_line("", info, 500)[0] == "  |  ".join(info)
    assert elide("two\nlines", 20) == "two lines"


def test_id_text_contrasts_with_its_colour():
    assert id_text_colors((255, 255, 0)) == ((0, 0, 0), (255, 255, 255))
    assert id_text_colors((0, 0, 160)) == ((255, 255, 255), (0, 0, 0))
    light = next(k for k in range(1, 60) if id_text_colors(instance_color(k))[0] == (0, 0, 0))
    dark = next(k for k in range(1, 60) if id_text_colors(instance_color(k))[0] == (255, 255, 255))
    for inst_id in (light, dark):
        image = np.zeros((40, 60, 3), np.uint8)
        instances = np.zeros((40, 60), np.uint16)
        instances[5:35, 5:55] = inst_id
        out = draw_overlay(image, instances, alpha=1.0, outline=0)
        patch = out[5:25, 5:30].reshape(-1, 3)
        text = id_text_colors(instance_color(inst_id))[0]
        assert (patch == text).all(axis=1).sum() >= 5, inst_id  # the id is written in the contrasting colour


def test_label_defaults_to_the_first_class(image):
    assert AnnotationController(DiskPredictor(), class_names=["cat", "dog"]).label == "cat"
    assert AnnotationController(DiskPredictor()).label == "object"


def test_unsaved_changes_only_for_finished_objects_since_the_last_save(controller, tmp_path):
    assert not controller.has_unsaved_changes()
    controller.add_click(20, 20, True)
    assert not controller.has_unsaved_changes()  # the unfinished object is never in the outputs
    controller.finish_object()
    assert controller.has_unsaved_changes()
    controller.save(tmp_path)
    assert not controller.has_unsaved_changes()
    controller.add_click(40, 60, True)
    assert not controller.has_unsaved_changes()
    controller.reset_object()
    assert controller.undo() == "action" and controller.undo() == "action"
    assert controller.undo() == "reopen" and controller.has_unsaved_changes()


def test_refusals_start_with_refused(controller):
    with pytest.raises(ValueError, match=r"^refused: box"):
        controller.set_box((0, 0, 2, 2))
    controller.set_box((0, 0, 20, 20))
    with pytest.raises(ValueError, match=r"^refused: click"):
        controller.add_click(30, 30, True)
