"""scripts/evaluate_model.py: command line, outputs, and a small real run when the model code exists."""
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from inference_fakes import DiskNet, make_fake_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "evaluate_model.py"


@pytest.fixture
def script():
    spec = importlib.util.spec_from_file_location("evaluate_model_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("INTERACTIVE_MODELS_PATH: ./weights\nEXPS_PATH: ./exps\nGRABCUT_PATH: ./GrabCut\n")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "fake_model.pth").write_bytes(b"not used")
    return path


def fake_run(script, monkeypatch, config, tmp_path, extra=()):
    monkeypatch.setattr(script, "load_model", lambda path, device: DiskNet(radius=7))
    monkeypatch.setattr(script, "get_dataset", lambda name, cfg: make_fake_dataset())
    argv = ["NoBRS", "--checkpoint", "fake_model", "--datasets", "GrabCut,Berkeley", "--cpu",
            "--config-path", str(config), "--logs-path", str(tmp_path / "logs"), "--n-clicks", "5",
            "--no-progress", *extra]
    return script.main(argv)


def test_cli_writes_table_json_and_ious(script, monkeypatch, config, tmp_path, capsys):
    summary = fake_run(script, monkeypatch, config, tmp_path)
    out = capsys.readouterr().out
    assert "NoC@85%" in out and "NoF@90%" in out and "GrabCut" in out and "Berkeley" in out
    logs = tmp_path / "logs" / "others" / "fake_model"
    table = (logs / "cvpr_NoBRS_5.txt").read_text()
    assert table.count("Eval results for model") == 1 and sum(line.startswith("|") and "NoBRS" in line for line in table.splitlines()) == 2
    results = json.loads((logs / "cvpr_NoBRS_5_results.json").read_text())
    entry = results["datasets"]["GrabCut"]["fake_model"]
    assert entry["n_samples"] == 2 and entry["n_skipped"] == 1
    assert len(entry["samples"]) == 3 and entry["samples"][2]["skipped"]
    ious = np.load(logs / "ious" / "GrabCut_cvpr_NoBRS_5.npy", allow_pickle=False)
    assert ious.shape == (2, 5) and ious.dtype == np.float32
    np.testing.assert_allclose(ious[1, 0], 1.0)
    # NoC consistent with the per-sample IoUs: sample 2 needs 1 click
    expected_noc90 = np.mean([entry["samples"][0]["n_clicks"], 1])
    assert summary["fake_model"]["GrabCut"]["NoC@90"] == pytest.approx(expected_noc90)
    assert not list(logs.rglob("*.tmp"))


def test_cli_iou_analysis_and_vis(script, monkeypatch, config, tmp_path):
    fake_run(script, monkeypatch, config, tmp_path, extra=["--iou-analysis", "--vis-preds", "--eval-mode",
                                                            "fixed64", "--datasets", "GrabCut"])
    logs = tmp_path / "logs" / "others" / "fake_model"
    results = json.loads((logs / "fixed64_NoBRS_5_results.json").read_text())
    entry = results["datasets"]["GrabCut"]["fake_model"]
    assert results["target_iou"] == 1.01 and len(entry["miou_curve"]) == 5
    assert all(r["n_clicks"] == 5 for r in entry["samples"] if not r["skipped"])
    assert (logs / "plots" / "GrabCut_fixed64_NoBRS_5.png").stat().st_size > 1000
    assert len(list((logs / "predictions_vis" / "GrabCut").glob("*.jpg"))) == 10


def test_cli_refuses_brs_and_unknown_datasets(script, config, capsys):
    with pytest.raises(SystemExit):
        script.main(["f-BRS-B", "--checkpoint", "x", "--config-path", str(config)])
    assert "not implemented yet" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["NoBRS", "--checkpoint", "x", "--datasets", "GrabCut,Foo", "--config-path", str(config)])
    err = capsys.readouterr().err
    assert "Foo" in err and "GrabCut, Berkeley, DAVIS" in err
    with pytest.raises(SystemExit):
        script.main(["NoBRS", "--checkpoint", "x", "--eval-mode", "zoomy", "--config-path", str(config)])
    assert "fixed<N>" in capsys.readouterr().err


def test_cli_dataset_path_overrides(script, config, tmp_path):
    args, cfg = script.parse_args(["NoBRS", "--checkpoint", "x", "--cpu", "--config-path", str(config),
                                   "--berkeley-path", str(tmp_path / "B"), "--dataset-path", "DAVIS=/data/D",
                                   "--set", "SBD_PATH=/data/S"])
    assert Path(cfg["GRABCUT_PATH"]) == (tmp_path / "GrabCut").resolve()
    assert Path(cfg["BERKELEY_PATH"]) == tmp_path / "B"
    assert Path(cfg["DAVIS_PATH"]) == Path("/data/D") and Path(cfg["SBD_PATH"]) == Path("/data/S")


# ---------------------------------------------------------------------- real data + real model
def _make_grabcut_subset(src: Path, dst: Path, stems):
    for sub in ("data_GT", "boundary_GT"):
        (dst / sub).mkdir(parents=True)
    for stem in stems:
        for f in (src / "data_GT").glob(stem + ".*"):
            shutil.copy(f, dst / "data_GT" / f.name)
        shutil.copy(src / "boundary_GT" / f"{stem}.png", dst / "boundary_GT" / f"{stem}.png")


def test_real_grabcut_with_random_hrnet18s(script, tmp_path, grabcut_path, reference_path, capsys):
    model_mod = pytest.importorskip("isegm.model")
    datasets_mod = pytest.importorskip("isegm.data.datasets")
    if not hasattr(model_mod, "load_is_model") or not hasattr(datasets_mod, "get_dataset"):
        pytest.skip("isegm.model.load_is_model / isegm.data.datasets.get_dataset not available yet")

    sys.path.insert(0, str(reference_path))
    try:
        import make_random_ritm_checkpoint as mk
    finally:
        sys.path.remove(str(reference_path))
    import torch

    spec = next(v for k, v in json.loads((reference_path / "ritm_checkpoint_format.json").read_text()).items()
                if k.split(" ")[0] == "hrnet18s_itermask")
    weights = tmp_path / "weights"
    weights.mkdir()
    torch.save({"config": spec["config"], "state_dict": mk.random_state_dict(spec["state_dict"], seed=0)},
               weights / "random_h18s.pth")

    stems = sorted(p.stem for p in (grabcut_path / "boundary_GT").glob("*.png"))[:2]
    _make_grabcut_subset(grabcut_path, tmp_path / "GrabCut", stems)
    config = tmp_path / "config.yml"
    config.write_text(f"INTERACTIVE_MODELS_PATH: ./weights\nEXPS_PATH: ./exps\nGRABCUT_PATH: ./GrabCut\n")

    script.main(["NoBRS", "--checkpoint", "random_h18s", "--datasets", "GrabCut", "--cpu", "--n-clicks", "3",
                 "--max-size", "64", "--config-path", str(config), "--logs-path", str(tmp_path / "logs"),
                 "--no-progress"])
    out = capsys.readouterr().out
    assert "GrabCut" in out and "NoC@90%" in out
    logs = tmp_path / "logs" / "others" / "random_h18s"
    entry = json.loads((logs / "cvpr_NoBRS_3_results.json").read_text())["datasets"]["GrabCut"]["random_h18s"]
    assert entry["n_samples"] == 2 and entry["n_skipped"] == 0
    ious = np.load(logs / "ious" / "GrabCut_cvpr_NoBRS_3.npy")
    assert ious.shape == (2, 3)
    for record, row in zip(entry["samples"], ious):
        n = record["n_clicks"]
        assert 1 <= n <= 3 and np.all(np.isfinite(row[:n])) and np.all((row[:n] >= 0) & (row[:n] <= 1))
        assert record["clicks"][0][0] is True        # the first click is always positive
    assert (logs / "cvpr_NoBRS_3.txt").exists()


def test_script_runs_standalone_and_refuses_brs():
    import subprocess

    result = subprocess.run([sys.executable, str(SCRIPT), "DistMap-BRS", "--checkpoint", "x"],
                            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT.parent)
    assert result.returncode == 2
    assert "not implemented yet; use 'NoBRS'" in result.stderr


def test_exp_path_lists_checkpoints(script, tmp_path):
    ckpts = tmp_path / "exps" / "iter_mask" / "000_h18" / "checkpoints"
    ckpts.mkdir(parents=True)
    for name in ("010.pth", "020.pth", "last_checkpoint.pth"):
        (ckpts / name).write_bytes(b"x")
    config = tmp_path / "config.yml"
    config.write_text("EXPS_PATH: ./exps\n")
    args, cfg = script.parse_args(["NoBRS", "--exp-path", "iter_mask/000", "--cpu", "--config-path", str(config)])
    checkpoints, logs_path, prefix = script.get_checkpoints_list_and_logs_path(args, cfg)
    assert [c.name for c in checkpoints] == ["last_checkpoint.pth", "020.pth", "010.pth"]
    assert logs_path == (tmp_path / "exps").resolve() / "evaluation_logs" / "iter_mask" / "000_h18"
    assert prefix == "all_checkpoints"
    args, cfg = script.parse_args(["NoBRS", "--exp-path", "iter_mask/000:last", "--cpu", "--config-path", str(config)])
    checkpoints, _, prefix = script.get_checkpoints_list_and_logs_path(args, cfg)
    assert [c.name for c in checkpoints] == ["last_checkpoint.pth"] and prefix == "last_checkpoint"
