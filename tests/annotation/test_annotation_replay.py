"""Headless replay with the real model: scripts/annotate.py reproduces a session's masks bit for bit;
demo.py / annotate.py refuse bad input clearly."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from isegm.annotation import AnnotationController, export, runtime

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _load_script(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test here runs with :func:`tests.conftest.one_torch_thread`."""
    yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = pytest.importorskip("isegm.model")
    import torch

    torch.manual_seed(0)
    net = model.build_model("hrnet18s_itermask")
    path = tmp_path_factory.mktemp("ckpt") / "random_h18s.pth"
    model.save_is_model(net, path)
    return path


def _scene(h=120, w=160):
    rng = np.random.default_rng(3)
    image = (rng.normal(90, 20, size=(h, w, 3))).clip(0, 255).astype(np.uint8)
    cv2.circle(image, (50, 60), 28, (220, 60, 40), -1)
    cv2.rectangle(image, (95, 20), (150, 70), (40, 200, 90), -1)
    return image


def _scene_file(tmp_path):
    """(image, path): :func:`_scene` written to ``tmp_path/scene.png``."""
    image = _scene()
    image_path = tmp_path / "scene.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return image, image_path


def _cpu_predictor(checkpoint, params):
    """The exact-path CPU predictor of ``checkpoint`` with predictor ``params``."""
    import torch

    device = torch.device("cpu")
    return runtime.build_predictor(runtime.load_net(checkpoint, device), device, params)


def _threshold_at(ctrl, quantile, box=None):
    """Random weights give arbitrary probability levels: pick the threshold from the current map over the pixels
    the object may still claim (it is recorded per object, so the replay uses the same value)."""
    free = ctrl.instance_map() == 0
    if box is not None:
        inside = np.zeros_like(free)
        inside[box[0]:box[2], box[1]:box[3]] = True
        free &= inside
    ctrl.set_threshold(float(np.clip(np.quantile(ctrl.current_prob[free], quantile), 1e-6, 1 - 1e-6)))


def test_annotate_replays_saved_json_bit_for_bit(tmp_path, checkpoint):
    import torch

    image, image_path = _scene_file(tmp_path)
    device = torch.device("cpu")
    runtime.make_deterministic()
    params = runtime.default_predictor_params(limit_longest_size=160)
    ctrl = AnnotationController(_cpu_predictor(checkpoint, params),
                                settings=runtime.session_settings(checkpoint, device, params),
                                autosave_path=tmp_path / "live" / "scene.autosave.json")
    ctrl.set_image(image, image_path.name)

    ctrl.set_label("disc")
    ctrl.add_click(60, 50, True)
    ctrl.add_click(100, 140, False)
    ctrl.add_click(10, 10, False)
    assert ctrl.undo() == "action"  # undo in the middle of an object
    ctrl.add_click(45, 40, True)
    _threshold_at(ctrl, 0.7)
    ctrl.finish_object()

    ctrl.set_label("square")
    box = (15, 90, 75, 155)
    ctrl.set_box(box)
    ctrl.add_click(45, 120, True)
    _threshold_at(ctrl, 0.5, box)
    ctrl.finish_object()

    ext = np.zeros(image.shape[:2], bool)
    ext[80:115, 10:70] = True
    ctrl.set_label("patch")
    ctrl.set_external_mask(ext)
    ctrl.add_click(95, 40, True)
    _threshold_at(ctrl, 0.8)
    ctrl.finish_object()
    assert len(ctrl.objects) == 3

    live_dir = tmp_path / "live"
    live_paths = ctrl.save(live_dir)
    live_inst = cv2.imread(str(live_paths["instances"]), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(live_inst)) == {0, 1, 2, 3}

    annotate = _load_script("annotate_script", REPO / "scripts" / "annotate.py")
    replay_dir = tmp_path / "replay"
    args = ["--image", str(image_path), "--clicks", str(live_paths["json"]), "--checkpoint", str(checkpoint),
            "--out", str(replay_dir), "--cpu"]
    assert annotate.main(args) == 0
    replay_paths = export.output_paths(replay_dir, "scene")
    for kind in ("instances", "colors", "overlay", "semantic", "panoptic_png"):
        assert replay_paths[kind].read_bytes() == live_paths[kind].read_bytes(), kind
    live_json = json.loads(live_paths["json"].read_text())
    replay_json = json.loads(replay_paths["json"].read_text())
    for a, b in zip(live_json["annotations"], replay_json["annotations"]):
        assert a["rle"] == b["rle"] and a["clicks"] == b["clicks"] and a["threshold"] == b["threshold"]

    # the autosave replays to the same masks too
    auto_dir = tmp_path / "from_autosave"
    assert annotate.main(["--image", str(image_path), "--clicks", str(live_dir / "scene.autosave.json"),
                          "--checkpoint", str(checkpoint), "--out", str(auto_dir), "--cpu"]) == 0
    assert (auto_dir / "scene_instances.png").read_bytes() == live_paths["instances"].read_bytes()

    # existing outputs are not replaced without --overwrite
    before = replay_paths["json"].read_bytes()
    assert annotate.main(args) == 2
    assert replay_paths["json"].read_bytes() == before
    assert annotate.main(args + ["--overwrite"]) == 0


def test_annotate_reports_bad_input(tmp_path, checkpoint, capsys):
    annotate = _load_script("annotate_script", REPO / "scripts" / "annotate.py")
    bad_image = tmp_path / "broken.png"
    bad_image.write_bytes(b"not a png")
    clicks = tmp_path / "c.json"
    clicks.write_text("{}")
    assert annotate.main(["--image", str(bad_image), "--clicks", str(clicks), "--checkpoint", str(checkpoint),
                          "--out", str(tmp_path / "o")]) == 2
    assert "cannot read image" in capsys.readouterr().err
    good_image = tmp_path / "ok.png"
    cv2.imwrite(str(good_image), _scene())
    assert annotate.main(["--image", str(good_image), "--clicks", str(clicks), "--checkpoint", str(checkpoint),
                          "--out", str(tmp_path / "o")]) == 2
    assert "not an isegm annotation json" in capsys.readouterr().err


def test_demo_refuses_missing_checkpoint(tmp_path, capsys, monkeypatch):
    demo = _load_script("demo_script", REPO / "demo.py")
    missing = tmp_path / "nope.pth"
    assert demo.main(["--checkpoint", str(missing), "--cpu"]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "--checkpoint" in err
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runtime, "REPO_ROOT", tmp_path)
    assert demo.main(["--cpu"]) == 2
    err = capsys.readouterr().err
    assert "hrnet18s_cocomval_superpixel.pth" in err and "--checkpoint" in err


def test_a_session_on_a_fast_inference_path_replays_on_that_path(tmp_path, checkpoint):
    import torch

    from isegm.inference.paths import InferencePath

    image, image_path = _scene_file(tmp_path)
    device, path = torch.device("cpu"), InferencePath("bf16", fold_bn=True, channels_last=True)
    runtime.make_deterministic()
    params = runtime.default_predictor_params(limit_longest_size=160)
    predictor = runtime.build_predictor(runtime.load_net(checkpoint, device, path), device, params)
    settings = runtime.session_settings(checkpoint, device, params, inference=path)
    assert settings["inference"] == {"precision": "bf16", "fold_bn": True, "channels_last": True}
    assert "inference" not in runtime.session_settings(checkpoint, device, params, inference=InferencePath())
    ctrl = AnnotationController(predictor, settings=settings)
    ctrl.set_image(image, image_path.name)
    ctrl.add_click(60, 50, True)
    ctrl.add_click(100, 140, False)
    _threshold_at(ctrl, 0.6)
    fast_prob = ctrl.current_prob.copy()
    ctrl.finish_object()
    live_paths = ctrl.save(tmp_path / "live")

    exact = AnnotationController(_cpu_predictor(checkpoint, params))
    exact.set_image(image, image_path.name)
    exact.add_click(60, 50, True)
    exact.add_click(100, 140, False)
    assert not np.array_equal(exact.current_prob, fast_prob)  # the paths differ: a replay must pick the recorded one

    annotate = _load_script("annotate_script", REPO / "scripts" / "annotate.py")
    out = tmp_path / "replay"
    args = ["--image", str(image_path), "--clicks", str(live_paths["json"]), "--checkpoint", str(checkpoint),
            "--cpu", "--out", str(out)]
    assert annotate.main(args) == 0
    assert (out / "scene_instances.png").read_bytes() == live_paths["instances"].read_bytes()
    assert json.loads((out / "scene.json").read_text())["isegm"]["settings"]["inference"] == settings["inference"]

    record = json.loads(live_paths["json"].read_text())
    record["isegm"]["settings"]["inference"] = {"precision": "int4"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(record))
    assert annotate.main(["--image", str(image_path), "--clicks", str(bad), "--checkpoint", str(checkpoint),
                          "--cpu", "--out", str(tmp_path / "bad_out")]) == 2
    assert not (tmp_path / "bad_out" / "scene.json").exists()


def test_annotate_replays_refined_objects_with_the_refiner_checkpoint(tmp_path, checkpoint, caplog):
    """An object the refiner corrected is recorded as such; ``--refiner-checkpoint`` replays it bit for bit, and
    without it the replay warns that the click model re-predicted it."""
    import torch

    model = pytest.importorskip("isegm.model")
    torch.manual_seed(1)
    refiner_path = tmp_path / "random_refiner.pth"
    model.save_is_model(model.build_model("hrnet18s_itermask"), refiner_path)

    image, image_path = _scene_file(tmp_path)
    device = torch.device("cpu")
    runtime.make_deterministic()
    params = runtime.default_predictor_params(limit_longest_size=160)
    settings = runtime.session_settings(checkpoint, device, params)
    settings["refiner"] = runtime.session_settings(refiner_path, device, params)["checkpoint"]
    ctrl = AnnotationController(_cpu_predictor(checkpoint, params), settings=settings,
                                refiner=_cpu_predictor(refiner_path, params))
    ctrl.set_image(image, image_path.name)
    ext = np.zeros(image.shape[:2], bool)
    ext[30:95, 20:85] = True
    ctrl.set_external_mask(ext)
    assert ctrl.refining
    ctrl.add_click(60, 50, True)
    ctrl.add_stroke([(100, 30), (100, 70)], 3.0, False)
    by_click_model = AnnotationController(_cpu_predictor(checkpoint, params))
    by_click_model.set_image(image, image_path.name)
    by_click_model.set_external_mask(ext)
    by_click_model.add_click(60, 50, True)
    by_click_model.add_stroke([(100, 30), (100, 70)], 3.0, False)
    # random weights: a threshold under which both models' maps keep pixels (the replay without the refiner finishes)
    ctrl.set_threshold(min(np.quantile(p, 0.6) for p in (ctrl.current_prob, by_click_model.current_prob)))
    ctrl.finish_object()
    live_paths = ctrl.save(tmp_path / "live")
    assert json.loads(live_paths["json"].read_text())["annotations"][0]["refiner"] is True

    annotate = _load_script("annotate_script", REPO / "scripts" / "annotate.py")
    base = ["--image", str(image_path), "--clicks", str(live_paths["json"]), "--checkpoint", str(checkpoint), "--cpu"]
    assert annotate.main(base + ["--out", str(tmp_path / "with"), "--refiner-checkpoint", str(refiner_path)]) == 0
    assert (tmp_path / "with" / "scene_instances.png").read_bytes() == live_paths["instances"].read_bytes()
    assert json.loads((tmp_path / "with" / "scene.json").read_text())["annotations"][0]["refiner"] is True

    caplog.clear()
    with caplog.at_level("WARNING"):
        assert annotate.main(base + ["--out", str(tmp_path / "without")]) == 0
    assert any("object(s) 1 were refined by random_refiner.pth" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "without" / "scene_instances.png").read_bytes() != live_paths["instances"].read_bytes()
    assert "refiner" not in json.loads((tmp_path / "without" / "scene.json").read_text())["annotations"][0]
