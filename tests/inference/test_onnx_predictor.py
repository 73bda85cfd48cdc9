"""Exported models behind the NoBRS predictor (isegm.inference.predictors.onnx): same probabilities and
clicks as the PyTorch predictor with zoom-in and flip averaging, refusals of foreign files, bf16
autocast, calibration inputs, and the two scripts (export_model.py, evaluate_model.py --backend)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="export tests need onnx (pip install -e '.[export]')")
pytest.importorskip("onnxruntime", reason="export tests need onnxruntime (pip install -e '.[export]')")

from inference_fakes import FakeDataset, FakeSample, disk_mask, make_image
from isegm.errors import UserError, run_cli
from isegm.inference.clicker import Clicker
from isegm.inference.evaluation import evaluate_sample
from isegm.inference.predictors import BasePredictor, BRSModelError, get_predictor
from isegm.inference.calibration import calibration_feeds
from isegm.inference.predictors.onnx import AutocastNet, OnnxNet, OnnxPredictor, TorchScriptNet, load_backend_net
from isegm.inference.transforms import ZoomIn
from isegm.model import export

REPO_ROOT = Path(__file__).resolve().parents[2]


def _script(name):
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _zoom():
    return ZoomIn(target_size=48, skip_clicks=1, expansion_ratio=1.4, min_crop_size=24)


def _samples():
    shape = (60, 72)
    return [(make_image(shape, 1), disk_mask(shape, (30, 36), 12).astype(np.int32)),
            (make_image(shape, 2), disk_mask(shape, (18, 50), 9).astype(np.int32))]


@pytest.fixture(scope="module")
def tiny_files(tiny_click_model, tmp_path_factory):
    model = tiny_click_model()
    folder = tmp_path_factory.mktemp("exported")
    onnx_path = export.write_export(export.onnx_bytes(model), folder / "tiny.onnx")
    ts_path = export.write_export(export.torchscript_bytes(model), folder / "tiny.pt")
    return model, onnx_path, ts_path


def _run_clicks(predictor, image, gt, n_clicks=4):
    """Probability maps of n_clicks simulated clicks (clicks placed from the predictor's own masks)."""
    clicker = Clicker(gt_mask=gt)
    predictor.set_input_image(image)
    pred, maps = np.zeros(gt.shape, bool), []
    for _ in range(n_clicks):
        clicker.make_next_click(pred)
        prob = predictor.get_prediction(clicker)
        maps.append(prob)
        pred = prob > 0.49
    return maps, [c.coords for c in clicker.get_clicks()]


def test_onnx_and_torchscript_predictors_match_pytorch_with_zoom_and_flip(tiny_files):
    model, onnx_path, ts_path = tiny_files
    for image, gt in _samples():
        ref_maps, ref_clicks = _run_clicks(BasePredictor(model, "cpu", with_flip=True, zoom_in=_zoom()), image, gt)
        for predictor in (OnnxPredictor(onnx_path, with_flip=True, zoom_in=_zoom()),
                          BasePredictor(TorchScriptNet(ts_path), "cpu", with_flip=True, zoom_in=_zoom())):
            maps, clicks = _run_clicks(predictor, image, gt)
            assert clicks == ref_clicks
            for a, b in zip(maps, ref_maps):
                assert a.dtype == np.float32 and a.shape == gt.shape
                assert np.abs(a - b).max() < 1e-4
        assert max(np.abs(m - ref_maps[0]).max() for m in ref_maps[1:]) > 1e-3  # the clicks change the output


def test_onnx_per_click_ious_match_pytorch(tiny_files):
    model, onnx_path, _ = tiny_files
    torch_pred = get_predictor(model, "NoBRS", "cpu", with_flip=True, zoom_in_params=None)
    onnx_pred = OnnxPredictor(onnx_path, with_flip=True)
    for image, gt in _samples():
        _, ious_t, _, _ = evaluate_sample(image, gt, torch_pred, max_iou_thr=2.0, max_clicks=4)
        _, ious_o, _, _ = evaluate_sample(image, gt, onnx_pred, max_iou_thr=2.0, max_clicks=4)
        assert np.abs(ious_t - ious_o).max() < 1e-3


def test_foreign_and_wrong_files_are_refused_in_one_line(tmp_path, tiny_files):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(foreign))
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    for path, pattern in ((foreign, "without isegm's 'isegm.format' tag"), (text, "not a loadable ONNX model")):
        with pytest.raises(UserError, match=pattern) as info:
            OnnxNet(path)
        assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        OnnxNet(tmp_path / "missing.onnx")
    scripted = tmp_path / "foreign.pt"
    torch.jit.save(torch.jit.script(torch.nn.ReLU()), str(scripted))
    with pytest.raises(UserError, match="TorchScript without isegm's"):
        TorchScriptNet(scripted)
    with pytest.raises(UserError, match="not a loadable TorchScript model"):
        TorchScriptNet(text)
    _, onnx_path, _ = tiny_files
    with pytest.raises(UserError, match="runs on the CPU"):
        load_backend_net(onnx_path, "cuda", "onnx")
    with pytest.raises(UserError, match="run it with --backend onnx"):
        load_backend_net(onnx_path, "cpu", "torch")
    with pytest.raises(UserError, match="needs --backend torch"):
        load_backend_net(onnx_path, "cpu", "onnx", "bf16")
    with pytest.raises(BRSModelError, match="use NoBRS"):
        get_predictor(OnnxNet(onnx_path), "f-BRS-B", "cpu")


def test_bf16_autocast_runs_and_returns_float32(tiny_click_model):
    model = tiny_click_model()
    net = AutocastNet(model)
    image, prev, points = export.example_inputs(True, 40, 48, 2)
    x = torch.cat((image, prev), 1)
    with torch.inference_mode():
        ref = model(x, points)["instances"]
        out = net(x, points)["instances"]
    assert out.dtype == torch.float32 and out.shape == ref.shape
    err = (out - ref).abs().max().item()
    assert 0 < err < 0.05 * ref.abs().max().item() + 1e-2  # bf16 rounding: close, not identical
    image, gt = _samples()[0]
    predictor = get_predictor(net, "NoBRS", "cpu", with_flip=True, zoom_in_params=None)
    predictor.set_input_image(image)
    clicker = Clicker(gt_mask=gt)
    clicker.make_next_click(np.zeros(gt.shape, bool))
    assert predictor.get_prediction(clicker).dtype == np.float32


def test_calibration_feeds_are_the_predictors_network_inputs(tiny_click_model):
    data = FakeDataset([FakeSample(image, gt) for image, gt in _samples()]
                       + [FakeSample(make_image((30, 30), 5), np.zeros((30, 30), np.int32))])
    feeds = calibration_feeds(tiny_click_model(), data, n_images=5, n_clicks=2,
                              predictor_params={"with_flip": True, "zoom_in_params": None})
    assert len(feeds) == 2 * 2 * 2  # 2 usable images x 2 clicks x flip pair
    for feed in feeds:
        assert feed["image"].shape[:2] == (1, 3) and feed["prev_mask"].shape[:2] == (1, 1)
        assert feed["points"].shape[0] == 1 and feed["points"].dtype == np.float32
    with pytest.raises(UserError, match="--calib-images 0"):
        calibration_feeds(tiny_click_model(), data, n_images=0)


@pytest.fixture
def cli_env(tiny_click_model, tmp_path):
    from eval_fixtures import make_grabcut
    from isegm.model import save_is_model

    data = make_grabcut(tmp_path / "GrabCut", n=2, empty=False, height=56, width=64)
    (tmp_path / "weights").mkdir()
    ckpt = save_is_model(tiny_click_model(), tmp_path / "weights" / "tiny.pth")
    config = tmp_path / "config.yml"
    config.write_text(f"INTERACTIVE_MODELS_PATH: ./weights\nEXPS_PATH: ./exps\nGRABCUT_PATH: {data}\n")
    return tmp_path, ckpt, config


def _error_line(capsys, status):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), captured
    return lines[0]


def test_export_then_evaluate_with_the_onnx_backend(cli_env, capsys):
    tmp_path, ckpt, config = cli_env
    out = tmp_path / "tiny.onnx"
    assert run_cli(_script("export_model").main, ["--checkpoint", str(ckpt), "--format", "onnx",
                                                  "--output", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and OnnxNet(out).with_prev_mask
    evaluate = _script("evaluate_model").main
    common = ["NoBRS", "--datasets", "GrabCut", "--cpu", "--n-clicks", "3", "--print-ious", "--no-progress",
              "--eval-mode", "fixed48",
              "--config-path", str(config)]
    assert run_cli(evaluate, common + ["--checkpoint", str(ckpt), "--logs-path", str(tmp_path / "t")]) == 0
    assert run_cli(evaluate, common + ["--checkpoint", str(out), "--backend", "onnx",
                                       "--logs-path", str(tmp_path / "o")]) == 0
    assert run_cli(evaluate, common + ["--checkpoint", str(ckpt), "--precision", "bf16",
                                       "--logs-path", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    ref = json.loads((tmp_path / "t" / "others" / "tiny" / "fixed48_NoBRS_3_results.json").read_text())
    got = json.loads((tmp_path / "o" / "others" / "tiny" / "fixed48_NoBRS_onnx_3_results.json").read_text())
    bf16 = json.loads((tmp_path / "b" / "others" / "tiny" / "fixed48_NoBRS_bf16_3_results.json").read_text())
    assert (ref["backend"], ref["precision"]) == ("torch", "fp32")
    assert (got["backend"], got["precision"]) == ("onnx", "fp32")
    assert (bf16["backend"], bf16["precision"]) == ("torch", "bf16")
    a, b = ref["datasets"]["GrabCut"]["tiny"]["samples"], got["datasets"]["GrabCut"]["tiny"]["samples"]
    assert [r["clicks"] for r in a] == [r["clicks"] for r in b]
    assert np.abs(np.array([r["ious"] for r in a]) - np.array([r["ious"] for r in b])).max() < 1e-3


def test_scripts_refuse_bad_input_in_one_line(cli_env, capsys):
    tmp_path, ckpt, config = cli_env
    export_main = _script("export_model").main
    notes = tmp_path / "notes.pth"
    notes.write_text("not a checkpoint\n")
    line = _error_line(capsys, run_cli(export_main, ["--checkpoint", str(ckpt), "--format", "tflite",
                                                     "--output", str(tmp_path / "x")]))
    assert "tflite" in line
    line = _error_line(capsys, run_cli(export_main, ["--checkpoint", str(notes), "--format", "onnx",
                                                     "--output", str(tmp_path / "x.onnx")]))
    assert "notes.pth" in line and not (tmp_path / "x.onnx").exists()
    _error_line(capsys, run_cli(export_main, ["--checkpoint", str(ckpt), "--format", "torchscript", "--int8",
                                              "--output", str(tmp_path / "x.pt")]))
    evaluate = _script("evaluate_model").main
    common = ["NoBRS", "--datasets", "GrabCut", "--cpu", "--no-progress", "--config-path", str(config),
              "--logs-path", str(tmp_path / "logs")]
    line = _error_line(capsys, run_cli(evaluate, common + ["--checkpoint", str(ckpt), "--backend", "onnx"]))
    assert "tiny.pth" in line and "ONNX" in line
    line = _error_line(capsys, run_cli(evaluate, common + ["--checkpoint", str(ckpt), "--backend", "onnx",
                                                           "--precision", "bf16"]))
    assert "bf16" in line
    assert not (tmp_path / "logs").exists()


def test_shipped_checkpoint_onnx_noc_on_real_grabcut(grabcut_path, tmp_path):
    """The shipped HRNet18s exported to ONNX: per-click IoUs within 1e-3 of PyTorch on 2 GrabCut images
    (RITM cvpr zoom-in + flip, 3 clicks each; slower test, ~30 s)."""
    from isegm.data.datasets import get_dataset
    from isegm.inference.predictors import cvpr_predictor_params
    from isegm.model import load_is_model

    weights = REPO_ROOT / "weights" / "hrnet18s_cocomval_itermask.pth"
    if not weights.is_file():
        pytest.skip(f"shipped checkpoint not found at {weights}")
    model = load_is_model(str(weights), device="cpu", eval_mode=True)
    path = export.write_export(export.onnx_bytes(model), tmp_path / "h18s.onnx")
    params = cvpr_predictor_params(dataset_name="GrabCut")
    torch_pred = get_predictor(model, "NoBRS", "cpu", **params)
    onnx_pred = get_predictor(OnnxNet(path), "NoBRS", "cpu", **params)
    dataset = get_dataset("GrabCut", grabcut_path)
    for index in range(2):
        sample = dataset.get_sample(index)
        clicks_t, ious_t, _, _ = evaluate_sample(sample.image, sample.gt_mask, torch_pred, max_iou_thr=2.0,
                                                 max_clicks=3)
        clicks_o, ious_o, _, _ = evaluate_sample(sample.image, sample.gt_mask, onnx_pred, max_iou_thr=2.0,
                                                 max_clicks=3)
        assert [c.coords for c in clicks_t] == [c.coords for c in clicks_o]
        assert np.abs(ious_t - ious_o).max() < 1e-3


def test_annotation_session_runs_an_onnx_file(tiny_files):
    """The annotation session's loader takes an exported .onnx; its predictor gives the PyTorch probabilities."""
    from isegm.annotation import runtime
    from isegm.annotation.controller import AnnotationController

    model, onnx_path, _ = tiny_files
    params = runtime.default_predictor_params(limit_longest_size=64)
    image, _ = _samples()[0]
    probs = []
    for net in (runtime.load_net(onnx_path, torch.device("cpu")), model):
        ctrl = AnnotationController(runtime.build_predictor(net, torch.device("cpu"), params))
        ctrl.set_image(image, "scene.png")
        ctrl.add_click(30, 36, True)
        ctrl.add_click(5, 5, False)
        probs.append(ctrl.current_prob)
    assert isinstance(runtime.load_net(onnx_path, torch.device("cpu")), OnnxNet)
    assert np.abs(probs[0] - probs[1]).max() < 1e-4
