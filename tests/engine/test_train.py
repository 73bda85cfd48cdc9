"""A real (tiny) training run through train.py on CPU: two epochs of HRNet18s IT-M on a generated
COCO_MVal-layout dataset, then resume, and the checkpoints load through the one loader."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import train
from isegm.model import load_is_model

REPO = Path(__file__).resolve().parents[2]


def make_tiny_run(tmp_path: Path, n_images: int, recipe_overrides: str):
    """A generated COCO_MVal-layout dataset, a config.yml pointing at it, and a tiny recipe script
    ``replace(COCOMVAL_CPU, crop_size=(64, 64), <recipe_overrides>)``. Returns (script, cfg)."""
    _make_dataset(tmp_path / "data", n=n_images)
    cfg = tmp_path / "config.yml"
    cfg.write_text(f"EXPS_PATH: {tmp_path / 'exps'}\nCOCO_MVAL_PATH: {tmp_path / 'data'}\n")
    script = tmp_path / "models" / "tiny" / "tiny_itermask.py"
    script.parent.mkdir(parents=True)
    script.write_text("from models.base import COCOMVAL_CPU, replace\n"
                      f"RECIPE = replace(COCOMVAL_CPU, crop_size=(64, 64), {recipe_overrides})\n")
    return script, cfg


def _make_dataset(root: Path, n: int = 6, size=(72, 96)):
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    (root / "gt").mkdir()
    for i in range(n):
        img = rng.integers(0, 80, (*size, 3), dtype=np.uint8)
        mask = np.zeros(size, np.uint8)
        y, x = rng.integers(5, 30), rng.integers(5, 40)
        mask[y:y + 30, x:x + 40] = 255
        img[mask > 0] = (200, (60 + 20 * i) % 256, 40)
        cv2.imwrite(str(root / "img" / f"obj{i:02d}.jpg"), img)
        cv2.imwrite(str(root / "gt" / f"obj{i:02d}.png"), mask)


@pytest.fixture
def tiny_setup(tmp_path):
    _make_dataset(tmp_path / "data")
    (tmp_path / "config.yml").write_text(f"EXPS_PATH: {tmp_path / 'exps'}\nCOCO_MVAL_PATH: {tmp_path / 'data'}\n")
    script = tmp_path / "models" / "tiny" / "tiny_itermask.py"
    script.parent.mkdir(parents=True)
    script.write_text(
        "from models.base import COCOMVAL_CPU, replace\n"
        "RECIPE = replace(COCOMVAL_CPU, crop_size=(64, 64), batch_size=2, epochs=2, val_fraction=0.34,\n"
        "                 min_object_area=10, max_num_next_clicks=2)\n")
    return tmp_path, script


def test_two_epoch_cpu_training_and_resume(tiny_setup):
    tmp_path, script = tiny_setup
    common = [str(script), "--cpu", "--workers", "0", "--config-path", str(tmp_path / "config.yml")]
    exp = train.main(common + ["--exp-name", "smoke"])
    ckpts = exp.checkpoints
    assert exp.root.name == "000_smoke"
    assert (exp.root / "tiny_itermask.py").is_file()
    for name in ("last_checkpoint.pth", "000.pth", "001.pth", "best_checkpoint.pth"):
        assert (ckpts / name).is_file(), name
    assert list(exp.logs.glob("events.out.tfevents.*")), "no TensorBoard log"
    log_text = (exp.logs / "train_log.txt").read_text()
    assert "epoch 1:" in log_text and "val_iou" in log_text

    model = load_is_model(ckpts / "001.pth")
    x = torch.rand(1, 4, 64, 64)
    points = torch.tensor([[[30.0, 30.0, 0.0], [-1, -1, -1]]])
    with torch.inference_mode():
        out = model(x, points)["instances"]
    assert out.shape == (1, 1, 64, 64) and torch.isfinite(out).all()

    last = torch.load(ckpts / "last_checkpoint.pth", weights_only=True)
    assert last["meta"]["epoch"] == 1 and "optimizer" in last["training_state"]

    # Resume continues at epoch 2 in the same run folder, with the optimizer state restored.
    exp2 = train.main(common + ["--resume-exp", "000", "--epochs", "3"])
    assert exp2.root == exp.root
    assert (ckpts / "002.pth").is_file()
    assert torch.load(ckpts / "last_checkpoint.pth", weights_only=True)["meta"]["epoch"] == 2


def test_script_without_recipe_is_refused(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    from isegm.errors import UserError
    with pytest.raises(UserError, match="defines no RECIPE"):
        train.load_recipe(bad)
    with pytest.raises(UserError, match="missing.py"):
        train.load_recipe(tmp_path / "missing.py")


def test_all_experiment_scripts_define_recipes():
    from isegm.engine.recipe import Recipe
    from isegm.model.builders import MODEL_BUILDERS
    scripts = sorted((REPO / "models").rglob("*.py"))
    scripts = [s for s in scripts if not s.name.startswith("_") and s.name != "base.py"]
    assert len(scripts) >= 7
    for s in scripts:
        recipe = train.load_recipe(s)
        assert isinstance(recipe, Recipe), s
        assert recipe.model in MODEL_BUILDERS, (s, recipe.model)


def test_export_and_select_checkpoint_scripts(tiny_setup):
    """Release export (fp16) keeps the model's outputs; selection scores checkpoints on the held-out split."""
    import importlib.util

    tmp_path, script = tiny_setup
    cfg = str(tmp_path / "config.yml")
    exp = train.main([str(script), "--cpu", "--workers", "0", "--config-path", cfg, "--epochs", "1"])
    source = exp.checkpoints / "000.pth"

    def load_script(name):
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    dest = tmp_path / "release.pth"
    load_script("export_checkpoint").main([str(source), str(dest), "--half"])
    raw = torch.load(dest, weights_only=True)
    assert "training_state" not in raw and raw["meta"]["exported_from"] == str(source)
    assert all(v.dtype == torch.float16 for v in raw["state_dict"].values() if v.is_floating_point())
    # Every exported weight is exactly the source weight rounded to fp16, and loads back as float32.
    source_sd = load_is_model(source, eval_mode=False).state_dict()
    for key, value in load_is_model(dest, eval_mode=False).state_dict().items():
        expected = source_sd[key].half().float() if source_sd[key].is_floating_point() else source_sd[key]
        assert value.dtype == source_sd[key].dtype and torch.equal(value, expected), key
    with pytest.raises(SystemExit, match="exists"):
        load_script("export_checkpoint").main([str(source), str(dest)])

    rows = load_script("select_checkpoint").main(
        [str(source), str(dest), "--cpu", "--n-clicks", "2", "--val-fraction", "0.34", "--config-path", cfg])
    assert [len(r["mIoU@k"]) for r in rows] == [2, 2]
    assert all(r["samples"] == 2 and 0.0 <= r["score"] <= 1.0 for r in rows)


def test_click_gain_probe_script(tiny_setup):
    """The probe behind the README's click-gain figures runs a recipe and reports per-step statistics."""
    import importlib.util

    tmp_path, script = tiny_setup
    spec = importlib.util.spec_from_file_location("click_gain_probe", REPO / "scripts" / "click_gain_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    rows = probe.main(["--recipe", str(script), "--gain", "5", "--steps", "2", "--crop", "64", "--batch-size", "2",
                       "--amp", "none", "--config-path", str(tmp_path / "config.yml")])
    assert len(rows) == 2 and all(np.isfinite(r[0]) and 0.0 <= r[4] <= 1.0 for r in rows)
