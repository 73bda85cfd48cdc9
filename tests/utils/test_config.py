from pathlib import Path

import pytest

from isegm.config import KNOWN_KEYS, dataset_path, load_config, parse_overrides
from isegm.errors import UserError
from isegm.inference.utils import find_checkpoint
from isegm.utils.exp import init_experiment, script_family

REPO = Path(__file__).resolve().parents[2]


def test_repo_config_keeps_ritm_keys_and_resolves_paths():
    cfg = load_config(REPO / "config.yml")
    for key in ("GRABCUT_PATH", "BERKELEY_PATH", "DAVIS_PATH", "COCO_MVAL_PATH", "SBD_PATH", "PASCALVOC_PATH",
                "COCO_PATH", "LVIS_PATH", "EXPS_PATH", "INTERACTIVE_MODELS_PATH", "IMAGENET_PRETRAINED_MODELS"):
        assert key in cfg, key
    assert cfg.GRABCUT_PATH == (REPO.parent / "shared" / "datasets" / "GrabCut").resolve()
    assert cfg.IMAGENET_PRETRAINED_MODELS["HRNETV2_W18"].is_absolute()


def test_overrides_replace_paths_and_nested_keys(tmp_path):
    cfg_file = tmp_path / "c.yml"
    cfg_file.write_text("GRABCUT_PATH: data/g\nIMAGENET_PRETRAINED_MODELS:\n  HRNETV2_W18: w.pth\n")
    cfg = load_config(cfg_file, parse_overrides(["GRABCUT_PATH=/abs/GrabCut", "IMAGENET_PRETRAINED_MODELS.HRNETV2_W18=/w/h.pth",
                                                 "PASCALVOC_PATH=/v"]))
    assert cfg.GRABCUT_PATH == Path("/abs/GrabCut")
    assert cfg.IMAGENET_PRETRAINED_MODELS["HRNETV2_W18"] == Path("/w/h.pth")
    assert cfg.PASCALVOC_PATH == Path("/v")
    assert dataset_path(cfg, "grabcut") == Path("/abs/GrabCut")


def test_bad_config_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yml"):
        load_config(tmp_path / "nope.yml")
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_overrides(["GRABCUT_PATH"])
    with pytest.raises(UserError, match="known datasets"):
        dataset_path({}, "ImageNet")


def test_unknown_keys_and_wrong_types_are_refused(tmp_path):
    cfg_file = tmp_path / "c.yml"
    cfg_file.write_text("GRABCUT_PATH: data/g\n")
    with pytest.raises(UserError, match="unknown config key 'UNKNOWN_KEY'"):
        load_config(cfg_file, {"UNKNOWN_KEY": "1"})
    with pytest.raises(UserError, match="'COCO_MVAL_PTH'; did you mean COCO_MVAL_PATH"):
        load_config(cfg_file, {"COCO_MVAL_PTH": "x"})
    with pytest.raises(UserError, match="IMAGENET_PRETRAINED_MODELS is a mapping"):
        load_config(cfg_file, {"IMAGENET_PRETRAINED_MODELS": "x"})
    cfg_file.write_text("GRABCUT_PTH: data/g\n")
    with pytest.raises(UserError, match="c.yml: unknown config key 'GRABCUT_PTH'; did you mean GRABCUT_PATH"):
        load_config(cfg_file)
    cfg_file.write_text("GRABCUT_PATH: [1, 2]\n")
    with pytest.raises(UserError, match="GRABCUT_PATH must be a path"):
        load_config(cfg_file)
    cfg_file.write_text("IMAGENET_PRETRAINED_MODELS: 3\n")
    with pytest.raises(UserError, match="must be a mapping"):
        load_config(cfg_file)
    assert "PASCALVOC_PATH" in KNOWN_KEYS and "IMAGES_DIR_PATH" in KNOWN_KEYS


def test_experiment_folders_are_numbered_and_resumable(tmp_path):
    script = tmp_path / "models" / "iter_mask" / "my_exp.py"
    script.parent.mkdir(parents=True)
    script.write_text("RECIPE = None\n")
    assert script_family(script) == Path("iter_mask/my_exp")
    first = init_experiment(tmp_path / "exps", script, "try")
    second = init_experiment(tmp_path / "exps", script)
    assert first.root.name == "000_try" and second.root.name == "001"
    assert (first.root / "my_exp.py").is_file() and first.checkpoints.is_dir() and first.logs.is_dir()
    assert init_experiment(tmp_path / "exps", script, resume_exp="000").root == first.root
    with pytest.raises(FileNotFoundError, match="exactly one run"):
        init_experiment(tmp_path / "exps", script, resume_exp="00")
    (first.checkpoints / "last_checkpoint.pth").write_bytes(b"x")
    assert find_checkpoint(first.checkpoints, "last").name == "last_checkpoint.pth"
    with pytest.raises(FileNotFoundError, match="there: last_checkpoint.pth"):
        find_checkpoint(first.checkpoints, "best")
