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


def lib_run(tmp_path, radius=7, datasets=None, **settings):
    """run_evaluation with the DiskNet fake model on the fake datasets (no files read)."""
    import torch

    from isegm.inference.runner import EvalSettings, run_evaluation

    datasets = datasets or {"GrabCut": make_fake_dataset(), "Berkeley": make_fake_dataset()}
    return run_evaluation([tmp_path / "fake_model.pth"], datasets,
                          EvalSettings(n_clicks=5, progress=False, **settings), torch.device("cpu"),
                          tmp_path / "logs" / "others" / "fake_model", load_model=lambda path, device: DiskNet(radius=radius),
                          echo=print)


def test_library_writes_table_json_and_ious(tmp_path, capsys):
    results = lib_run(tmp_path, save_ious=True)
    out = capsys.readouterr().out
    assert "NoC@85%" in out and "NoF@90%" in out and "GrabCut" in out and "Berkeley" in out
    assert "skipped empty: no object in the mask" in out           # the skipped input is named
    logs = tmp_path / "logs" / "others" / "fake_model"
    table = (logs / "cvpr_NoBRS_5.txt").read_text()
    assert table.count("Eval results for model") == 1 and sum(line.startswith("|") and "NoBRS" in line for line in table.splitlines()) == 2
    on_disk = json.loads((logs / "cvpr_NoBRS_5_results.json").read_text())
    entry = on_disk["datasets"]["GrabCut"]["fake_model"]
    assert entry["n_samples"] == 2 and entry["n_skipped"] == 1
    assert entry["skipped"] == [{"index": 2, "sample_id": "empty", "reason": "no object in the mask"}]
    assert "|    1    |" in entry["table_row"]                       # the Skipped column says 1
    assert len(entry["samples"]) == 3 and entry["samples"][2]["skipped"]
    ious = np.load(logs / "ious" / "GrabCut_cvpr_NoBRS_5.npy", allow_pickle=False)
    assert ious.shape == (2, 5) and ious.dtype == np.float32
    np.testing.assert_allclose(ious[1, 0], 1.0)
    expected_noc90 = np.mean([entry["samples"][0]["n_clicks"], 1])
    assert results["datasets"]["GrabCut"]["fake_model"]["NoC@90"] == pytest.approx(expected_noc90)
    assert not list(logs.rglob("*.tmp"))


def test_ious_are_saved_only_with_save_ious(tmp_path):
    results = lib_run(tmp_path)
    assert "ious_file" not in results["datasets"]["GrabCut"]["fake_model"]
    assert not (tmp_path / "logs" / "others" / "fake_model" / "ious").exists()


def test_library_iou_analysis_and_vis(tmp_path):
    import torch

    from isegm.inference.runner import EvalSettings, run_evaluation

    logs = tmp_path / "logs"
    run_evaluation([tmp_path / "fake_model.pth"], {"GrabCut": make_fake_dataset()},
                   EvalSettings(n_clicks=5, progress=False, iou_analysis=True, vis_preds=True, eval_mode="fixed64"),
                   torch.device("cpu"), logs, load_model=lambda path, device: DiskNet(radius=7))
    results = json.loads((logs / "fixed64_NoBRS_5_results.json").read_text())
    entry = results["datasets"]["GrabCut"]["fake_model"]
    assert results["target_iou"] == 1.01 and len(entry["miou_curve"]) == 5
    assert all(r["n_clicks"] == 5 for r in entry["samples"] if not r["skipped"])
    assert (logs / "plots" / "GrabCut_fixed64_NoBRS_5.png").stat().st_size > 1000
    assert len(list((logs / "predictions_vis" / "GrabCut").glob("*.jpg"))) == 10


def test_script_and_library_give_identical_results(tmp_path, capsys):
    """The script is a thin shell: same per-click IoUs, clicks and NoC as the library call."""
    import torch

    from eval_fixtures import make_grabcut, make_random_checkpoint
    from isegm.inference.runner import EvalSettings, evaluate

    data = make_grabcut(tmp_path / "GrabCut", n=2)
    ckpt = make_random_checkpoint(tmp_path / "weights" / "rand.pth", seed=0)   # seed 0: IoUs > 0
    config = tmp_path / "config.yml"
    config.write_text("INTERACTIVE_MODELS_PATH: ./weights\nEXPS_PATH: ./exps\n")
    from isegm.errors import run_cli

    spec = importlib.util.spec_from_file_location("evaluate_model_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert run_cli(script.main, ["NoBRS", "--checkpoint", "rand", "--datasets", "grabcut", "--cpu", "--n-clicks", "3",
                                 "--print-ious", "--config-path", str(config), "--logs-path", str(tmp_path / "cli"),
                                 "--set", f"GRABCUT_PATH={data}", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "skipped z_empty" in out
    cli = json.loads((tmp_path / "cli" / "others" / "rand" / "cvpr_NoBRS_3_results.json").read_text())
    lib = evaluate(EvalSettings(n_clicks=3, print_ious=True, progress=False), {"GrabCut": data}, torch.device("cpu"),
                   checkpoint=str(ckpt), logs_root=tmp_path / "lib")
    a, b = cli["datasets"]["GrabCut"]["rand"], lib["datasets"]["GrabCut"]["rand"]
    assert [r["ious"] for r in a["samples"]] == [r["ious"] for r in b["samples"]]
    assert [r["clicks"] for r in a["samples"]] == [[list(c) for c in r["clicks"]] for r in b["samples"]]
    for key in ("NoC@80", "NoC@85", "NoC@90", "NoF@85", "NoF@90", "n_samples", "n_skipped", "miou_curve"):
        assert a[key] == b[key], key
    assert a["n_samples"] == 2 and a["n_skipped"] == 1 and len(a["samples"][0]["ious"]) == 3
    assert a["samples"][0]["ious"][0] > 0


def test_cli_refuses_brs_without_insertion_point_and_unknown_datasets(tmp_path, capsys):
    from eval_fixtures import make_grabcut, randomize_weights
    from isegm.errors import run_cli
    from isegm.model import HRNetModel, save_is_model

    spec = importlib.util.spec_from_file_location("evaluate_model_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    # An HRNet without OCR has no f-BRS-C insertion point (the OCR output): one line, nothing written.
    data = make_grabcut(tmp_path / "GrabCut", n=1, empty=False)
    (tmp_path / "weights").mkdir()
    model = randomize_weights(HRNetModel(width=18, ocr_width=0, small=True, use_rgb_conv=False, use_disks=True,
                                         norm_radius=5, with_prev_mask=True))
    save_is_model(model, tmp_path / "weights" / "noocr.pth")
    (tmp_path / "config.yml").write_text("INTERACTIVE_MODELS_PATH: ./weights\nEXPS_PATH: ./exps\n")
    assert run_cli(script.main, ["f-BRS-C", "--checkpoint", str(tmp_path / "weights" / "noocr.pth"), "--cpu",
                                 "--datasets", "GrabCut", "--set", f"GRABCUT_PATH={data}", "--config-path",
                                 str(tmp_path / "config.yml"), "--logs-path", str(tmp_path / "logs"),
                                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: f-BRS-C") and "HRNetModel" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists() or not any(p.is_file() for p in (tmp_path / "logs").rglob("*"))
    assert run_cli(script.main, ["NoBRS", "--checkpoint", "x", "--datasets", "GrabCut,Foo"]) == 2
    err = capsys.readouterr().err
    assert "Foo" in err and "GrabCut, Berkeley, DAVIS" in err
    assert run_cli(script.main, ["NoBRS", "--checkpoint", "x", "--eval-mode", "zoomy"]) == 2
    assert "fixed<N>" in capsys.readouterr().err


def test_cli_dataset_path_overrides(tmp_path):
    spec = importlib.util.spec_from_file_location("evaluate_model_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    config = tmp_path / "config.yml"
    config.write_text("GRABCUT_PATH: ./GrabCut\n")
    args, settings, cfg = script.parse_args(["NoBRS", "--checkpoint", "x", "--cpu", "--config-path", str(config),
                                             "--berkeley-path", str(tmp_path / "B"), "--dataset-path", "DAVIS=/data/D",
                                             "--dataset-path", "pascalvoc_train=/data/V", "--set", "SBD_PATH=/data/S"])
    assert Path(cfg["GRABCUT_PATH"]) == (tmp_path / "GrabCut").resolve()
    assert Path(cfg["BERKELEY_PATH"]) == tmp_path / "B"
    assert Path(cfg["DAVIS_PATH"]) == Path("/data/D") and Path(cfg["SBD_PATH"]) == Path("/data/S")
    assert Path(cfg["PASCALVOC_PATH"]) == Path("/data/V")


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
                 "--no-progress", "--save-ious"])
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


def test_script_runs_standalone_and_accepts_brs_modes():
    import subprocess

    result = subprocess.run([sys.executable, str(SCRIPT), "DistMap-BRS", "--checkpoint", "x"],
                            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT.parent)
    assert result.returncode == 2            # the mode is accepted; the missing checkpoint 'x' is the error
    assert result.stderr.startswith("error: ") and "DistMap-BRS" not in result.stderr
    help_text = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True,
                               timeout=120, cwd=REPO_ROOT.parent).stdout
    for mode in ("NoBRS", "RGB-BRS", "DistMap-BRS", "f-BRS-A", "f-BRS-B", "f-BRS-C"):
        assert mode in help_text
    assert "only NoBRS" not in help_text


def test_exp_path_lists_checkpoints(tmp_path):
    from isegm.inference.utils import find_experiment_checkpoints

    ckpts = tmp_path / "exps" / "iter_mask" / "000_h18" / "checkpoints"
    ckpts.mkdir(parents=True)
    for name in ("010.pth", "020.pth", "last_checkpoint.pth"):
        (ckpts / name).write_bytes(b"x")
    checkpoints, exp_path, prefix = find_experiment_checkpoints(tmp_path / "exps", "iter_mask/000")
    assert [c.name for c in checkpoints] == ["last_checkpoint.pth", "020.pth", "010.pth"]
    assert exp_path == tmp_path / "exps" / "iter_mask" / "000_h18" and prefix == "all_checkpoints"
    checkpoints, _, prefix = find_experiment_checkpoints(tmp_path / "exps", "iter_mask/000:last")
    assert [c.name for c in checkpoints] == ["last_checkpoint.pth"] and prefix == "last_checkpoint"


# ---------------------------------------------------------------------- issue 11: metrics, stochastic clicks, resize, triplets
def test_metric_columns_json_and_npy(tmp_path, capsys):
    from isegm.inference.reporting import parse_metric_columns

    columns = parse_metric_columns("dice,biou,iou@1", [5])
    assert columns == (("dice", 5), ("biou", 5), ("iou", 1))
    results = lib_run(tmp_path, save_ious=True, metrics=columns)
    out = capsys.readouterr().out
    assert "Dice@5" in out and "bIoU@5" in out and "IoU@1" in out
    entry = results["datasets"]["GrabCut"]["fake_model"]
    first = entry["samples"][0]
    assert set(first["metrics"]) == {"dice", "precision", "recall", "accuracy", "biou"}
    assert entry["metrics_at"]["IoU@1"] == pytest.approx(np.mean([s["ious"][0] for s in entry["samples"][:2]]))
    dice5 = np.mean([s["metrics"]["dice"][min(4, s["n_clicks"] - 1)] for s in entry["samples"][:2]])
    assert entry["metrics_at"]["Dice@5"] == pytest.approx(dice5)
    assert f"{dice5:.4f}" in entry["table_row"]
    dice = np.load(entry["metric_files"]["dice"], allow_pickle=False)
    cm = np.load(entry["metric_files"]["confusion"], allow_pickle=False)
    assert dice.shape == (2, 5) and cm.shape == (2, 5, 4) and cm[0, 0].sum() == 40 * 48
    np.testing.assert_allclose(dice[0, :first["n_clicks"]], first["metrics"]["dice"], rtol=1e-6)


def test_default_table_is_unchanged_and_biou_not_computed(tmp_path, capsys):
    results = lib_run(tmp_path)
    header = capsys.readouterr().out.splitlines()[2]
    assert header.rstrip().endswith("| Skipped |") and "Dice" not in header
    entry = results["datasets"]["GrabCut"]["fake_model"]
    assert "biou" not in entry["samples"][0]["metrics"] and "dice" in entry["samples"][0]["metrics"]
    assert "stochastic" not in entry and entry["n_resized"] == 0


def _big_disks():
    from inference_fakes import FakeDataset, FakeSample, disk_mask, make_image

    shape = (60, 64)
    return {"GrabCut": FakeDataset([FakeSample(make_image(shape, i), disk_mask(shape, (30, 20 + 12 * i), 10).astype(np.int32),
                                               f"d{i}") for i in range(3)])}


def test_stochastic_clicker_table_and_json(tmp_path, capsys):
    results = lib_run(tmp_path, radius=10, datasets=_big_disks(), clicker="stochastic", click_sigma=0.5, repeats=4,
                      seed=1)
    out = capsys.readouterr().out
    assert "sNoC@85" in out and "sNoC@90" in out and "stochastic clicks (sigma 0.5 px, 4 repeats, seed 1)" in out
    entry = results["datasets"]["GrabCut"]["fake_model"]
    stoch = entry["stochastic"]["NoC@90"]
    per_sample = [s["stochastic"]["NoC@90"]["per_repeat"] for s in entry["samples"]]
    np.testing.assert_allclose(stoch["per_repeat"], np.mean(per_sample, axis=0))
    assert stoch["mean"] == pytest.approx(np.mean(stoch["per_repeat"]))
    assert stoch["std"] == pytest.approx(np.std(stoch["per_repeat"]))
    assert stoch["p5"] <= stoch["mean"] <= stoch["p95"] and stoch["std"] > 0
    np.testing.assert_allclose([stoch["p5"], stoch["p95"]], np.percentile(stoch["per_repeat"], [5, 95]))
    assert f"{stoch['mean']:.2f}±{stoch['std']:.2f}" in entry["table_row"]
    assert len(entry["samples"][0]["stochastic_runs"]) == 4
    again = lib_run(tmp_path / "again", radius=10, datasets=_big_disks(), clicker="stochastic", click_sigma=0.5,
                    repeats=4, seed=1)
    assert again["datasets"]["GrabCut"]["fake_model"]["stochastic"] == entry["stochastic"]


def test_resize_summary_and_triplets(tmp_path, capsys):
    import cv2

    results = lib_run(tmp_path, resize=(24, 20), vis_triplets="")
    out = capsys.readouterr().out
    assert "resized 2 of 2 samples" in out
    entry = results["datasets"]["GrabCut"]["fake_model"]
    assert entry["n_resized"] == 2 and entry["resized"][0] == {"index": 0, "sample_id": "a", "from": [40, 48],
                                                               "to": [20, 24]}
    triplet = tmp_path / "logs" / "others" / "fake_model" / "triplets" / "GrabCut" / "a.png"
    image = cv2.imread(str(triplet))
    assert image.shape == (20, 72, 3)                                   # input | gt | prediction at 20 x 24
    assert entry["samples"][0]["triplet_file"] == str(triplet)
    from isegm.inference.evaluation import resize_to_fit

    sample = make_fake_dataset().get_sample(0)
    small_image, small_gt, _ = resize_to_fit(sample.image, sample.gt_mask, 24, 20)
    np.testing.assert_array_equal(image[:, :24, ::-1], small_image)              # input (PNG is BGR)
    np.testing.assert_array_equal(image[:, 24:48, 0], np.where(small_gt == 1, 255, 0))
    from inference_fakes import disk_mask

    clicks = entry["samples"][0]["clicks"]                                         # DiskNet(7)'s last prediction
    pos = np.any([disk_mask((20, 24), (y, x), 7) for p, y, x in clicks if p] or [np.zeros((20, 24), bool)], axis=0)
    neg = np.any([disk_mask((20, 24), (y, x), 7) for p, y, x in clicks if not p] or [np.zeros((20, 24), bool)], axis=0)
    np.testing.assert_array_equal(image[:, 48:, 0], np.where(pos & ~neg, 255, 0))
    assert not np.array_equal(image[:, 48:, 0], image[:, 24:48, 0])
    assert not (tmp_path / "logs" / "others" / "fake_model" / "triplets" / "GrabCut" / "empty.png").exists()


def test_cli_refuses_bad_resize_metrics_and_sigma(script, capsys):
    from isegm.errors import run_cli

    for argv, text in ((["--resize", "0", "0"], "--resize 0 0"), (["--metrics", "dice,bogus"], "'bogus'"),
                       (["--metric-clicks", "0"], "--metric-clicks"), (["--click-sigma", "-1"], "--click-sigma")):
        assert run_cli(script.main, ["NoBRS", "--checkpoint", "x", "--cpu"] + argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and text in err[0], err


def test_images_dir_dataset_end_to_end(tmp_path):
    """A user's own images/ + masks/ folder through the registry and evaluate() (the script's library call)."""
    import cv2
    import torch

    from isegm.inference.runner import EvalSettings, evaluate

    root = tmp_path / "avalanches"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
        mask = np.zeros((40, 60), np.uint8)
        mask[10 + i:20 + i, 15:30] = 255
        assert cv2.imwrite(str(root / "images" / f"slope{i}.jpg"), image)
        assert cv2.imwrite(str(root / "masks" / f"slope{i}.png"), mask)
    ckpt = tmp_path / "fake.pth"
    ckpt.write_bytes(b"unused: the fake loader ignores it")
    results = evaluate(EvalSettings(n_clicks=4, progress=False, metrics=(("dice", 1),), resize=(30, 30)),
                       {"imagesdir": root}, torch.device("cpu"), checkpoint=str(ckpt), logs_root=tmp_path / "logs",
                       load_model=lambda path, device: DiskNet(radius=6))
    entry = results["datasets"]["ImagesDir"]["fake"]
    assert entry["n_samples"] == 2 and entry["n_skipped"] == 0 and entry["n_resized"] == 2
    print([s["sample_id"] for s in entry["samples"]])
    assert [s["sample_id"] for s in entry["samples"]] == ["slope0", "slope1"]
    assert entry["samples"][0]["resized"] == {"from": [40, 60], "to": [20, 30]}
    assert entry["samples"][0]["ious"][0] > 0.3 and entry["metrics_at"]["Dice@1"] > 0.4


def test_last_checkpoints_of_two_experiments_get_their_own_results(tmp_path):
    """Two runs' ``checkpoints/last_checkpoint.pth`` no longer overwrite each other's tables (RITM keyed by stem)."""
    import torch

    from eval_fixtures import make_grabcut, make_random_checkpoint
    from isegm.inference.runner import EvalSettings, evaluate

    data = make_grabcut(tmp_path / "GrabCut", n=1)
    exps = tmp_path / "exps"
    first = make_random_checkpoint(exps / "cocomval" / "000_a" / "checkpoints" / "last_checkpoint.pth", seed=0)
    second = make_random_checkpoint(exps / "cocomval" / "001_b" / "checkpoints" / "last_checkpoint.pth", seed=1)
    outside = make_random_checkpoint(tmp_path / "elsewhere" / "002_c" / "checkpoints" / "last_checkpoint.pth", seed=2)
    settings = EvalSettings(n_clicks=2, progress=False)
    for ckpt in (first, second, outside):
        evaluate(settings, {"GrabCut": data}, torch.device("cpu"), checkpoint=str(ckpt),
                 exps_dir=exps, logs_root=tmp_path / "logs")
    logs = tmp_path / "logs"
    a = logs / "cocomval" / "000_a" / "last_checkpoint_cvpr_NoBRS_2_results.json"
    b = logs / "cocomval" / "001_b" / "last_checkpoint_cvpr_NoBRS_2_results.json"
    c = logs / "others" / "002_c" / "last_checkpoint_cvpr_NoBRS_2_results.json"
    assert a.is_file() and b.is_file() and c.is_file()
    ious = [json.loads(p.read_text())["datasets"]["GrabCut"]["last_checkpoint"]["samples"][0]["ious"] for p in (a, b, c)]
    assert ious[0] != ious[1]        # different weights, different files
    assert not (logs / "others" / "last_checkpoint").exists()


def test_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    """--resume: a run stopped after the first sample of each dataset continues from the kept samples and ends
    with the uninterrupted run's records, NoC and table row (all but the SPC and time cells)."""
    import torch

    from isegm.errors import UserError
    from isegm.inference.runner import EvalSettings, run_evaluation
    from isegm.inference.sharding import Shard

    stochastic = dict(clicker="stochastic", click_sigma=0.5, repeats=2, seed=1)

    def run(logs, datasets=("GrabCut", "Berkeley"), **kwargs):
        return run_evaluation([tmp_path / "fake_model.pth"], {name: make_fake_dataset() for name in datasets},
                              EvalSettings(**dict(dict(n_clicks=5, progress=False, **stochastic), **kwargs)),
                              torch.device("cpu"), logs, load_model=lambda path, device: DiskNet(radius=7),
                              resume=True)

    def strip(results):
        out = {}
        for name, entries in results["datasets"].items():
            entry = entries["fake_model"]
            cells = entry["table_row"].split("|")
            out[name] = ({k: v for k, v in entry.items() if k not in ("elapsed_time", "wall_time", "spc", "SPC", "checkpoint",
                                                                     "table_row", "samples")},
                         [{k: v for k, v in r.items() if k != "times"} for r in entry["samples"]],
                         cells[:8] + cells[10:])
        return out

    whole = lib_run(tmp_path / "whole", **stochastic)
    first = run(tmp_path / "logs", max_samples=1)      # stopped after one sample of each dataset
    runs = sorted(p.name for p in (tmp_path / "logs" / "runs").iterdir())
    assert runs == ["Berkeley_cvpr_NoBRS_5.jsonl", "GrabCut_cvpr_NoBRS_5.jsonl"]
    assert first["datasets"]["GrabCut"]["fake_model"]["n_samples"] == 1
    from isegm.inference import evaluation

    evaluated, real = [], evaluation.evaluate_dataset
    monkeypatch.setattr(evaluation, "evaluate_dataset", lambda *a, **k: evaluated.append(k["shard"].indices(3))
                        or real(*a, **k))
    resumed = run(tmp_path / "logs")
    assert evaluated == [[1], [2], [1], [2]], "only the samples not kept ran (2 datasets)"
    a, b = (json.loads(json.dumps(strip(r))) for r in (whole, resumed))   # as the results json holds them
    assert a == b
    assert a["GrabCut"][0]["n_samples"] == 2 and len(a["GrabCut"][1]) == 3
    assert a["GrabCut"][2][3].strip() == "3.00" and a["GrabCut"][2][-2].strip() == "3.00±0.00"
    with pytest.raises(UserError, match=r"GrabCut_cvpr_NoBRS_5.jsonl was written with other settings \(thresh: "):
        run(tmp_path / "logs", datasets=("GrabCut",), thresh=0.6)
    with pytest.raises(UserError, match="--resume runs in one process; this run has 2 ranks"):
        run_evaluation([tmp_path / "fake_model.pth"], {"GrabCut": make_fake_dataset()}, EvalSettings(n_clicks=5),
                       torch.device("cpu"), tmp_path / "logs", load_model=lambda path, device: DiskNet(radius=7),
                       resume=True, shard=Shard(0, 2))


def test_cli_resume_keeps_samples_only_when_asked(script, tmp_path, capsys):
    from isegm.errors import run_cli
    from test_compare import make_images_dir

    data = make_images_dir(tmp_path / "data", n=2)
    args = ["--predictor", "grabcut", "--datasets", "ImagesDir", "--dataset-path", f"ImagesDir={data}", "--n-clicks",
            "2", "--cpu", "--no-progress"]
    assert run_cli(script.main, args + ["--logs-path", str(tmp_path / "plain")]) == 0
    assert not list((tmp_path / "plain").rglob("*.jsonl"))           # RITM's behaviour: nothing kept
    assert run_cli(script.main, args + ["--logs-path", str(tmp_path / "kept"), "--resume"]) == 0
    kept = list((tmp_path / "kept").rglob("runs/*.jsonl"))
    assert [p.name for p in kept] == ["ImagesDir_cvpr_grabcut_2.jsonl"] and len(kept[0].read_text().splitlines()) == 3
    assert run_cli(script.main, args + ["--logs-path", str(tmp_path / "kept"), "--resume", "--thresh", "0.6"]) == 2
    assert "written with other settings (thresh: stored 0.49, now 0.6)" in capsys.readouterr().err
