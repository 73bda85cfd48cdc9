"""Predictor families: specs, the family check of checkpoints, and evaluate_model.py --predictor."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eval_fixtures import make_grabcut, make_random_checkpoint
from isegm.errors import UserError, run_cli
from isegm.inference.predictors.families import ModelSpec, get_family_predictor, load_family_model, parse_model_spec
from isegm.inference.predictors.grabcut import GrabCutPredictor

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "evaluate_model.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("evaluate_model_families", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_specs():
    assert parse_model_spec("sam:vit_l:/x/sam.pth") == ModelSpec("sam", "/x/sam.pth", "vit_l")
    assert parse_model_spec("RITM:w/a.pth") == ModelSpec("ritm", "w/a.pth")
    assert parse_model_spec("grabcut").label == "grabcut" and parse_model_spec("unet:w/u.pth").label == "u"
    for text, match in (("sam:vit_q:/x.pth", "vit_q"), ("grabcut:x", "no checkpoint"), ("foo:x", "foo"),
                        ("ritm:", "needs a checkpoint")):
        with pytest.raises(UserError, match=match):
            parse_model_spec(text)
    assert isinstance(get_family_predictor(ModelSpec("grabcut"), "cpu", radius=3), GrabCutPredictor)


def test_checkpoint_family_is_checked(tmp_path):
    checkpoint = make_random_checkpoint(tmp_path / "h.pth")
    assert type(load_family_model("ritm", checkpoint, "cpu")).__name__ == "HRNetModel"
    with pytest.raises(UserError, match=r"h\.pth: holds a HRNetModel \(ritm family\), but the predictor is unet"):
        load_family_model("unet", checkpoint, "cpu")


def _argv(tmp_path, *extra):
    return ["--datasets", "GrabCut", "--grabcut-path", str(tmp_path / "gc"), "--logs-path", str(tmp_path / "logs"),
            "--cpu", "--no-progress", "--n-clicks", "3", *extra]


@pytest.mark.parametrize("extra, match", [
    (["--predictor", "magic"], "invalid choice: 'magic'"),
    (["--predictor", "sam"], "--predictor sam needs --sam-checkpoint"),
    (["--predictor", "sam", "--sam-checkpoint", "x.pth"], "--sam-variant"),
    (["--predictor", "grabcut", "--checkpoint", "x.pth"], "takes no --checkpoint"),
    (["--predictor", "grabcut", "--focus-refine"], "--focus-refine applies to the ritm and unet"),
    (["RGB-BRS", "--predictor", "grabcut"], "mode RGB-BRS applies"),
    (["--sam-variant", "vit_b", "--checkpoint", "x.pth"], "need --predictor sam"),
    ([], "give --checkpoint or --exp-path"),
])
def test_cli_errors(script, tmp_path, capsys, extra, match):
    make_grabcut(tmp_path / "gc")
    assert run_cli(script.main, _argv(tmp_path, *extra)) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_cli_wrong_sam_variant(script, tmp_path, capsys):
    make_grabcut(tmp_path / "gc")
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(1280, 3, 1, 1)}, tmp_path / "sam_h.pth")
    argv = _argv(tmp_path, "--predictor", "sam", "--sam-checkpoint", str(tmp_path / "sam_h.pth"), "--sam-variant", "vit_b")
    assert run_cli(script.main, argv) == 2
    err = capsys.readouterr().err
    assert "sam_h.pth is a vit_h checkpoint, but --sam-variant is vit_b" in err


def test_cli_grabcut_run_equals_the_library(script, tmp_path, capsys):
    from isegm.data.registry import get_eval_dataset
    from isegm.inference.evaluation import evaluate_dataset

    make_grabcut(tmp_path / "gc")
    assert run_cli(script.main, _argv(tmp_path, "--predictor", "grabcut")) == 0
    out = capsys.readouterr().out
    assert "|   grabcut   |  GrabCut  |" in out
    saved = json.loads((tmp_path / "logs" / "others" / "grabcut" / "cvpr_grabcut_3_results.json").read_text())
    samples = saved["datasets"]["GrabCut"]["grabcut"]["samples"]
    _, _, records = evaluate_dataset(get_eval_dataset("GrabCut", tmp_path / "gc"), GrabCutPredictor(), progress=False,
                                     max_iou_thr=0.9, max_clicks=3)
    assert [s["ious"] for s in samples] == [r["ious"] for r in records]


def test_cli_ritm_family_matches_default(script, tmp_path, capsys):
    make_grabcut(tmp_path / "gc", n=1, empty=False)
    checkpoint = make_random_checkpoint(tmp_path / "w" / "r.pth")
    assert run_cli(script.main, _argv(tmp_path, "--checkpoint", str(checkpoint), "--eval-mode", "fixed48")) == 0
    first = json.loads((tmp_path / "logs" / "others" / "r" / "fixed48_NoBRS_3_results.json").read_text())
    assert run_cli(script.main, _argv(tmp_path, "--predictor", "ritm", "--checkpoint", str(checkpoint),
                                      "--eval-mode", "fixed48")) == 0
    second = json.loads((tmp_path / "logs" / "others" / "r" / "fixed48_NoBRS_3_results.json").read_text())
    ious = [s["ious"] for s in first["datasets"]["GrabCut"]["r"]["samples"]]
    assert ious == [s["ious"] for s in second["datasets"]["GrabCut"]["r"]["samples"]] and np.isfinite(ious[0]).all()
    assert run_cli(script.main, _argv(tmp_path, "--predictor", "unet", "--checkpoint", str(checkpoint))) == 2
    assert "ritm family" in capsys.readouterr().err
