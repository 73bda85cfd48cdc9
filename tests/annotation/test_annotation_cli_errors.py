"""Bad input to demo.py (flags and start-up, up to before the Tk window) and scripts/annotate.py: each gives
exit status 2, one line ``error: ...`` naming the offending value or file, and leaves no output file behind."""
import importlib.util
import json
import os
from pathlib import Path

import cv2
import pytest
from annotation_fakes import DiskPredictor, make_image

from isegm.annotation import AnnotationController

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo():
    return _load("demo_cli_under_test", REPO / "demo.py")


@pytest.fixture(scope="module")
def annotate():
    return _load("annotate_cli_under_test", REPO / "scripts" / "annotate.py")


@pytest.fixture
def files(tmp_path):
    """An image, a valid saved clicks json for it, a text file posing as a checkpoint and an empty output folder."""
    image = make_image(60, 90)
    image_path = tmp_path / "scene.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    ctrl = AnnotationController(DiskPredictor())
    ctrl.set_image(image, "scene.png")
    ctrl.add_click(20, 30, True)
    ctrl.finish_object()
    saved = ctrl.save(tmp_path / "recorded")
    fake_ckpt = tmp_path / "model.pth"
    fake_ckpt.write_text("this is not a checkpoint\n")
    out = tmp_path / "out"
    out.mkdir()
    return {"image": image_path, "clicks": saved["json"], "ckpt": fake_ckpt, "out": out, "tmp": tmp_path}


def _refused(main, argv, capsys, out_dir, *named):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for thing in named:
        assert str(thing) in lines[0], (thing, lines[0])
    assert not list(Path(out_dir).rglob("*")) if Path(out_dir).is_dir() else True
    return lines[0]


# ------------------------------------------------------------------ demo.py
def test_demo_missing_image(demo, files, capsys):
    missing = files["tmp"] / "nope.jpg"
    _refused(demo.main, [str(missing), "--checkpoint", str(files["ckpt"]), "--out", str(files["out"])], capsys,
             files["out"], missing)


def test_demo_folder_as_image(demo, files, capsys):
    msg = _refused(demo.main, [str(files["tmp"]), "--checkpoint", str(files["ckpt"]), "--out", str(files["out"])],
                   capsys, files["out"], files["tmp"])
    assert "folder" in msg


def test_demo_non_image_file(demo, files, capsys):
    text = files["tmp"] / "notes.png"
    text.write_text("hello")
    _refused(demo.main, [str(text), "--checkpoint", str(files["ckpt"]), "--out", str(files["out"])], capsys,
             files["out"], text)


@pytest.mark.parametrize("value", ["1.5", "0", "abc"])
def test_demo_threshold_outside_open_unit_interval(demo, files, capsys, value):
    _refused(demo.main, ["--threshold", value, "--checkpoint", str(files["ckpt"]), "--out", str(files["out"])],
             capsys, files["out"], "--threshold", value)


def test_demo_unknown_overlap(demo, files, capsys):
    _refused(demo.main, ["--overlap", "biggest_wins", "--checkpoint", str(files["ckpt"])], capsys, files["out"],
             "--overlap", "biggest_wins")


@pytest.mark.parametrize("classes, named", [(",", "names no class"), ("cat,,dog", "empty name"),
                                            ("cat,dog,cat", "'cat' twice")])
def test_demo_bad_classes(demo, files, capsys, classes, named):
    _refused(demo.main, ["--classes", classes, "--checkpoint", str(files["ckpt"]), "--out", str(files["out"])],
             capsys, files["out"], "--classes", named)


def test_demo_out_is_a_file(demo, files, capsys):
    _refused(demo.main, ["--out", str(files["ckpt"]), "--checkpoint", str(files["ckpt"])], capsys, files["out"],
             files["ckpt"], "is a file")


def test_demo_existing_outputs_without_overwrite(demo, files, capsys):
    recorded = files["clicks"].parent
    before = sorted(os.listdir(recorded))
    _refused(demo.main, [str(files["image"]), "--out", str(recorded), "--checkpoint", str(files["ckpt"])], capsys,
             files["out"], recorded, "scene", "--overwrite")
    assert sorted(os.listdir(recorded)) == before


def test_demo_text_file_as_checkpoint(demo, files, capsys):
    _refused(demo.main, [str(files["image"]), "--checkpoint", str(files["ckpt"]), "--cpu", "--out", str(files["out"])],
             capsys, files["out"], files["ckpt"])


def test_demo_prepare_checks_without_a_screen(files):
    from isegm.annotation.cli import prepare_demo

    setup = prepare_demo([str(files["image"]), "--checkpoint", str(files["ckpt"]), "--out", str(files["out"]),
                          "--overwrite"], load_model=False)
    assert setup.image_path == files["image"] and setup.overwrite and setup.out_dir == files["out"]


# ------------------------------------------------------------------ scripts/annotate.py
def _annotate_args(files, clicks=None, ckpt=None, out=None):
    return ["--image", str(files["image"]), "--clicks", str(clicks or files["clicks"]),
            "--checkpoint", str(ckpt or files["ckpt"]), "--out", str(out or files["out"]), "--cpu"]


def _edited_clicks(files, edit):
    data = json.loads(files["clicks"].read_text())
    edit(data["annotations"][0]["clicks"][0])
    path = files["tmp"] / "edited.json"
    path.write_text(json.dumps(data))
    return path


def test_annotate_clicks_not_json(annotate, files, capsys):
    bad = files["tmp"] / "clicks.json"
    bad.write_text("{not json")
    _refused(annotate.main, _annotate_args(files, clicks=bad), capsys, files["out"], bad, "not valid JSON")


def test_annotate_click_outside_image(annotate, files, capsys):
    path = _edited_clicks(files, lambda c: c.update(y=60))
    _refused(annotate.main, _annotate_args(files, clicks=path), capsys, files["out"], path, "y=60",
             "outside the 90x60 image")


def test_annotate_click_missing_key(annotate, files, capsys):
    path = _edited_clicks(files, lambda c: c.pop("positive"))
    _refused(annotate.main, _annotate_args(files, clicks=path), capsys, files["out"], path, "'positive'")


def test_annotate_text_checkpoint(annotate, files, capsys):
    _refused(annotate.main, _annotate_args(files), capsys, files["out"], files["ckpt"], "cannot load model")


def test_annotate_truncated_checkpoint(annotate, files, capsys):
    import torch

    full = files["tmp"] / "full.pth"
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "config": {}}, full)
    cut = files["tmp"] / "cut.pth"
    cut.write_bytes(full.read_bytes()[:300])
    _refused(annotate.main, _annotate_args(files, ckpt=cut), capsys, files["out"], cut)


def test_annotate_missing_image(annotate, files, capsys):
    args = _annotate_args(files)
    missing = files["tmp"] / "gone.png"
    args[1] = str(missing)
    _refused(annotate.main, args, capsys, files["out"], missing, "no such file")


def test_annotate_existing_outputs_without_overwrite(annotate, files, capsys):
    recorded = files["clicks"].parent
    before = {p.name: p.read_bytes() for p in recorded.iterdir()}
    _refused(annotate.main, _annotate_args(files, out=recorded), capsys, files["out"], recorded, "--overwrite")
    assert {p.name: p.read_bytes() for p in recorded.iterdir()} == before


def test_annotate_out_is_a_file(annotate, files, capsys):
    _refused(annotate.main, _annotate_args(files, out=files["image"]), capsys, files["out"], files["image"],
             "is a file")


def test_annotate_recorded_predictor_params_that_build_no_predictor(annotate, files, capsys, monkeypatch):
    # the recorded settings come from the user's file: an unknown predictor parameter is bad input, not a bug
    from isegm.annotation import runtime

    data = json.loads(files["clicks"].read_text())
    data["isegm"]["settings"] = {"predictor": dict(runtime.default_predictor_params(), bogus_flag=1)}
    path = files["tmp"] / "bogus_params.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(runtime, "load_net", lambda checkpoint, device, inference=None: object())  # a loadable checkpoint
    _refused(annotate.main, _annotate_args(files, clicks=path), capsys, files["out"], files["ckpt"],
             "cannot build a predictor", "bogus_flag")
