"""Comparison of several predictors in one run: table, plot, json; values equal separate evaluations."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from eval_fixtures import make_random_checkpoint
from isegm import metrics as M
from isegm.data.registry import get_eval_dataset
from isegm.errors import UserError
from isegm.inference.compare import COLUMNS, compare_models, parse_model_args
from isegm.inference.evaluation import evaluate_dataset
from isegm.inference.runner import EvalSettings, run_evaluation
from isegm.inference.predictors.grabcut import GrabCutPredictor

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_models.py"


def make_images_dir(root: Path, n: int = 2, h: int = 48, w: int = 64) -> Path:
    """ImagesDir layout: images/<name>.png with a coloured disk on random patches, masks/<name>.png (255 object)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    for i in range(n):
        patches = rng.integers(0, 256, (h // 6 + 1, w // 6 + 1, 3)).astype(np.uint8)
        image = cv2.resize(patches, (w, h), interpolation=cv2.INTER_NEAREST)
        disk = (yy - 22 - i) ** 2 + (xx - 30 - 2 * i) ** 2 <= (12 + i) ** 2
        image[disk] = (40, 50, 210)
        assert cv2.imwrite(str(root / "images" / f"im{i}.png"), image)
        assert cv2.imwrite(str(root / "masks" / f"im{i}.png"), disk.astype(np.uint8) * 255)
    return root


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    data = make_images_dir(root / "data")
    checkpoint = make_random_checkpoint(root / "weights" / "rand_hrnet.pth")
    return root, data, checkpoint


def test_table_plot_and_json_match_separate_evaluations(setup, tmp_path):
    root, data, checkpoint = setup
    datasets = {"ImagesDir": get_eval_dataset("ImagesDir", data)}
    models = parse_model_args(["gc=grabcut", f"hr=ritm:{checkpoint}"])
    out = compare_models(models, datasets, torch.device("cpu"), tmp_path / "out", n_clicks=3, eval_mode="fixed64",
                         progress=False)
    table = (tmp_path / "out" / "compare.md").read_text().splitlines()
    assert table[0] == "| Model | Dataset | " + " | ".join(c.header for c in COLUMNS) + " |"
    assert [line.split("|")[1].strip() for line in table[2:]] == ["gc", "hr"]
    assert (tmp_path / "out" / "compare_miou.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "out" / "compare_results.json").read_text())
    assert [r["model"] for r in saved["runs"]] == ["gc", "hr"] and len(saved["runs"][0]["miou_curve"]) == 3
    assert not list((tmp_path / "out").glob("*.tmp"))

    def cells(name):
        row = next(line for line in table if line.split("|")[1].strip() == name)
        return dict(zip([c.header for c in COLUMNS], [c.strip() for c in row.split("|")[3:-1]]))

    # GrabCut on its own, all clicks
    gc_ious, _, _ = evaluate_dataset(datasets["ImagesDir"], GrabCutPredictor(), progress=False, max_iou_thr=1.01,
                                     max_clicks=3)
    noc, nof = M.noc_nof(gc_ious, [0.85, 0.90], max_clicks=3)
    assert cells("gc")["NoC@85"] == f"{noc[0]:.2f}" and cells("gc")["NoC@90"] == f"{noc[1]:.2f}"
    assert cells("gc")["NoF@90"] == str(nof[1])
    assert cells("gc")["mIoU@1"] == f"{np.mean([x[0] for x in gc_ious]):.4f}"
    assert cells("gc")["mIoU@5"] == "?"     # fewer clicks than 5

    # the RITM model through the evaluation library (early stop at 0.9): same NoC@85/90
    results = run_evaluation([checkpoint], datasets, EvalSettings(eval_mode="fixed64", n_clicks=3, progress=False),
                             torch.device("cpu"), tmp_path / "logs")
    entry = results["datasets"]["ImagesDir"][checkpoint.stem]
    assert cells("hr")["NoC@85"] == f"{entry['NoC@85']:.2f}" and cells("hr")["NoC@90"] == f"{entry['NoC@90']:.2f}"
    hr_run = out["runs"][1]
    for record, separate in zip(hr_run.records, entry["samples"]):
        n = separate["n_clicks"]
        assert record["ious"][:n] == separate["ious"]


def test_model_arguments_are_checked(setup, tmp_path):
    _, data, checkpoint = setup
    for items, match in ((["gc"], "NAME=SPEC"), (["a=grabcut", "a=grabcut"], "twice"), (["a=magic:x"], "magic"),
                         (["a=sam:x.pth"], "sam:VARIANT:PATH"), (["a=ritm"], "needs a checkpoint"), ([], "no model")):
        with pytest.raises(UserError, match=match):
            parse_model_args(items)
    with pytest.raises(UserError, match="ritm family.*unet"):
        compare_models(parse_model_args([f"u=unet:{checkpoint}"]), {"ImagesDir": get_eval_dataset("ImagesDir", data)},
                       torch.device("cpu"), tmp_path / "out", n_clicks=1, progress=False)
    assert not (tmp_path / "out" / "compare.md").exists()


def test_script_runs_grabcut(setup, tmp_path, capsys):
    _, data, _ = setup
    spec = importlib.util.spec_from_file_location("compare_models_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from isegm.errors import run_cli

    code = run_cli(module.main, ["--model", "gc=grabcut", "--datasets", "ImagesDir", "--dataset-path",
                                 f"ImagesDir={data}", "--out-dir", str(tmp_path / "o"), "--n-clicks", "2", "--cpu",
                                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "| gc | ImagesDir |" in out and (tmp_path / "o" / "compare_miou.png").exists()
    assert run_cli(module.main, ["--model", "x=bogus", "--out-dir", str(tmp_path / "p")]) == 2
    assert "bogus" in capsys.readouterr().err


def test_columns_from_per_sample_ious():
    from isegm.inference.compare import ModelRun, format_markdown_table
    from isegm.inference.predictors.families import ModelSpec

    run = ModelRun("m", ModelSpec("grabcut"), "D", 3, [np.array([0.5, 0.86, 0.95]), np.array([0.91, 0.92, 0.93])],
                   elapsed_time=1.2)
    row = format_markdown_table([run], header=False)
    assert row == "| m | D | 1.50 | 2.00 | 0 | 1 | 0.7050 | ? | ? | ? | 0.200 | 2 |"   # no scores recorded


def test_dice_boundary_iou_and_stochastic_noc_match_the_evaluator(setup, tmp_path):
    """Dice@5 / bIoU@5 are the per-click scores' means; the stochastic repeats (stopped at IoU 0.90, the table's
    highest threshold) give the same sNoC@85/90 as evaluate_model.py --clicker stochastic with the same seed."""
    from isegm.inference.compare import STOCHASTIC_COLUMNS
    from isegm.inference.evaluation import StochasticSpec

    _, data, _ = setup
    datasets = {"ImagesDir": get_eval_dataset("ImagesDir", data)}
    spec = StochasticSpec(sigma=3.0, repeats=3, seed=4)
    out = compare_models(parse_model_args(["gc=grabcut"]), datasets, torch.device("cpu"),
                         tmp_path / "out", n_clicks=6, progress=False, stochastic=spec)
    run = out["runs"][0]
    header = out["table"].splitlines()[0]
    assert header.endswith("| sNoC@85 | sNoC@90 |") and "| Dice@5 | bIoU@5 |" in header
    cells = dict(zip([c.header for c in COLUMNS + STOCHASTIC_COLUMNS],
                     [c.strip() for c in out["table"].splitlines()[2].split("|")[3:-1]]))
    assert cells["Dice@5"] == f"{np.mean([r['metrics']['dice'][4] for r in run.records]):.4f}"
    assert cells["bIoU@5"] == f"{np.mean([r['metrics']['biou'][4] for r in run.records]):.4f}"
    stopped = 0
    for record in run.records:   # every click of the standard run; the repeats stop at 0.90
        assert len(record["ious"]) == 6
        for r in record["stochastic_runs"]:
            assert all(x < 0.90 for x in r["ious"][:-1])
            stopped += len(r["ious"]) < 6
    assert stopped > 0, "the fixture should let GrabCut reach 0.90 (else the equality below is trivial)"

    settings = EvalSettings(mode="grabcut", n_clicks=6, progress=False, clicker="stochastic", click_sigma=3.0,
                            repeats=3, seed=4)
    results = run_evaluation(["grabcut"], datasets, settings, torch.device("cpu"), tmp_path / "logs",
                             predictor=GrabCutPredictor())
    entry = next(iter(results["datasets"]["ImagesDir"].values()))
    for pct in (85, 90):
        stats = entry["stochastic"][f"NoC@{pct}"]
        assert cells[f"sNoC@{pct}"] == f"{stats['mean']:.2f} ± {stats['std']:.2f}"
        assert run.stochastic[f"NoC@{pct}"]["per_repeat"] == stats["per_repeat"]
    saved = json.loads((tmp_path / "out" / "compare_results.json").read_text())
    assert saved["stochastic"] == {"sigma": 3.0, "repeats": 3, "seed": 4, "stop_iou": 0.9}
    assert saved["runs"][0]["stochastic"]["NoC@90"]["per_repeat"] == run.stochastic["NoC@90"]["per_repeat"]
