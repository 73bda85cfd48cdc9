"""The MFP ResNet-34 U-Net through the training stack: its recipe, a 2-batch CPU run on COCO_MVal whose
checkpoint loads and evaluates, ImageNet init through the recipe, and family mismatches on --weights."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train
from isegm.engine.recipe import build_losses, build_model, replace
from isegm.errors import UserError
from isegm.model import build_model as build_named, load_is_model, save_is_model
from isegm.model.losses import SigmoidBinaryCrossEntropyLoss
from isegm.model.unet import UNetModel

REPO = Path(__file__).resolve().parents[2]
UNET_SCRIPT = REPO / "models" / "cocomval" / "unet_resnet34_cocomval.py"
HRNET_SCRIPT = REPO / "models" / "cocomval" / "hrnet18s_cocomval_itermask.py"
COCO_MVAL = REPO.parent / "shared" / "datasets" / "COCO_MVal"
GRABCUT = REPO.parent / "shared" / "datasets" / "GrabCut"


def test_unet_recipe_is_the_designs():
    recipe = train.load_recipe(UNET_SCRIPT)
    assert recipe.model == "unet_resnet34" and recipe.train_dataset == "COCO_MVal"
    assert (recipe.optimizer, recipe.lr, recipe.lr_schedule, recipe.lr_step_size, recipe.lr_gamma) == \
        ("adam", 1e-3, "step", 5, 0.1)
    assert recipe.max_num_next_clicks == 0          # no previous mask input: no IT-M iterations
    assert recipe.num_max_points == 24              # our multi-point sampler
    (spec,) = build_losses(recipe)                  # no auxiliary output, no aux loss
    assert spec.output == "instances" and isinstance(spec.loss, SigmoidBinaryCrossEntropyLoss)
    assert spec.loss.pos_weight == 5.0
    model = build_model(recipe, cfg={})
    assert isinstance(model, UNetModel) and not model.with_prev_mask

    from isegm.engine.optimizer import get_lr_scheduler
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=recipe.lr)
    sched = get_lr_scheduler(opt, recipe.lr_schedule, recipe.epochs, gamma=recipe.lr_gamma,
                             step_size=recipe.lr_step_size)
    lrs = []
    for _ in range(11):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == [1e-3] * 5 and lrs[5:10] == pytest.approx([1e-4] * 5) and lrs[10] == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="lr_step_size"):
        replace(recipe, lr_step_size=None)


def test_imagenet_recipe_reads_the_local_file(tmp_path):
    import torchvision
    recipe = train.load_recipe(REPO / "models" / "cocomval" / "unet_resnet34_imagenet_cocomval.py")
    assert recipe.pretrained == "RESNET34" and recipe.model == "unet_resnet34"
    torch.manual_seed(3)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v
             for k, v in torchvision.models.resnet34(weights=None).state_dict().items()}
    torch.save(state, tmp_path / "r34.pth")
    model = build_model(recipe, cfg={"IMAGENET_PRETRAINED_MODELS": {"RESNET34": str(tmp_path / "r34.pth")}})
    assert torch.equal(model.feature_extractor.conv1.weight[:, :3], state["conv1.weight"])
    assert torch.equal(model.feature_extractor.layer3[5].bn2.weight, state["layer3.5.bn2.weight"])
    with pytest.raises(UserError, match=r"not found: .*absent\.pth"):
        build_model(recipe, cfg={"IMAGENET_PRETRAINED_MODELS": {"RESNET34": str(tmp_path / "absent.pth")}})


def test_family_mismatch_on_weights_is_one_line(tmp_path):
    torch.manual_seed(0)
    unet_ckpt = save_is_model(build_named("unet_resnet34"), tmp_path / "unet.pth")
    hrnet_ckpt = save_is_model(build_named("hrnet18s_itermask"), tmp_path / "hrnet.pth")
    cfg = tmp_path / "config.yml"
    cfg.write_text(f"EXPS_PATH: {tmp_path / 'exps'}\nCOCO_MVAL_PATH: {tmp_path / 'no_data'}\n")
    # the command line of the brief: a U-Net checkpoint given to a RITM recipe
    proc = subprocess.run([sys.executable, "train.py", str(HRNET_SCRIPT), "--cpu", "--workers", "0",
                           "--weights", str(unet_ckpt), "--config-path", str(cfg)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: --weights {unet_ckpt}: checkpoint of class UNetModel, but recipe model "
                      f"'hrnet18s_itermask' is class HRNetModel; fine-tune with a recipe of the same model family"]
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "exps").rglob("*.pth"))
    # and the other way round, in-process
    with pytest.raises(UserError, match="class HRNetModel, but recipe model 'unet_resnet34' is class UNetModel"):
        build_model(train.load_recipe(UNET_SCRIPT), cfg={}, weights=str(hrnet_ckpt))
    # same family, another variant: still one line, no state-dict traceback
    with pytest.raises(UserError, match=r"does not fit recipe model 'unet_resnet34'.*shape mismatches"):
        build_model(train.load_recipe(UNET_SCRIPT), cfg={},
                    weights=str(save_is_model(build_named("unet_resnet34_itermask"), tmp_path / "unet6.pth")))
    # the same model fine-tunes
    model = build_model(train.load_recipe(UNET_SCRIPT), cfg={}, weights=str(unet_ckpt))
    assert torch.equal(model.head.weight, load_is_model(unet_ckpt).head.weight)


@pytest.mark.skipif(not COCO_MVAL.is_dir(), reason=f"COCO_MVal not found at {COCO_MVAL}")
def test_two_batch_cocomval_run_loads_and_evaluates(tmp_path):
    script = tmp_path / "models" / "tiny" / "tiny_unet.py"
    script.parent.mkdir(parents=True)
    script.write_text("from models.cocomval.unet_resnet34_cocomval import RECIPE as _UNET\n"
                      "from models.base import replace\n"
                      "RECIPE = replace(_UNET, crop_size=(64, 64), batch_size=2)\n")
    exp = train.main([str(script), "--cpu", "--workers", "0", "--max-batches", "2", "--epochs", "1",
                      "--config-path", str(REPO / "config.yml"), "--set", f"EXPS_PATH={tmp_path / 'exps'}"])
    ckpt = exp.checkpoints / "last_checkpoint.pth"
    model = load_is_model(ckpt)
    assert isinstance(model, UNetModel)
    raw = torch.load(ckpt, weights_only=True)
    assert raw["config"]["class"] == "isegm.model.unet.UNetModel"
    assert raw["meta"]["recipe"]["model"] == "unet_resnet34"
    assert "2/2" in (exp.logs / "train_log.txt").read_text()      # the two batches ran

    if not GRABCUT.is_dir():
        pytest.skip(f"GrabCut not found at {GRABCUT}: evaluation step skipped")
    spec = importlib.util.spec_from_file_location("evaluate_model", REPO / "scripts" / "evaluate_model.py")
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)
    status = evaluate.main(["NoBRS", "--checkpoint", str(ckpt), "--datasets", "GrabCut", "--max-samples", "1",
                            "--n-clicks", "2", "--cpu", "--no-progress", "--config-path", str(REPO / "config.yml"),
                            "--logs-path", str(tmp_path / "eval")])
    assert not status
    (results,) = (tmp_path / "eval").rglob("*_results.json")
    import json
    (row,) = json.loads(results.read_text())["datasets"]["GrabCut"].values()
    assert row["n_samples"] == 1 and row["n_skipped"] == 0 and row["checkpoint"] == str(ckpt)
    (sample,) = row["samples"]
    assert sample["n_clicks"] == 2 and len(sample["ious"]) == 2 and all(0.0 <= v <= 1.0 for v in sample["ious"])
