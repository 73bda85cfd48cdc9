"""Simulated corrections for mask refinement (issue 9, "Fusing Forces"): initial masks and strokes."""
import numpy as np
import pytest

from isegm.geometry import apply_strokes, valid_rows
from isegm.inference.correction import DEGRADATIONS, CorrectionSimulator, degrade_mask
from isegm.metrics import iou


def _object(shape=(120, 160)):
    gt = np.zeros(shape, bool)
    gt[30:90, 40:120] = True
    return gt


@pytest.mark.parametrize("kind", DEGRADATIONS)
def test_each_degradation_changes_the_mask_near_the_object(kind):
    gt = _object()
    ious = [iou(gt.astype(int), degrade_mask(gt, np.random.default_rng(s), kinds=[kind])) for s in range(8)]
    assert all(0.2 < v < 0.995 for v in ious), (kind, ious)


def test_an_object_filling_the_whole_crop_still_degrades():
    full = np.ones((40, 50), bool)
    for seed in range(6):
        assert degrade_mask(full, np.random.default_rng(seed)).shape == (40, 50)


def test_degrade_mask_is_a_function_of_the_generator_and_refuses_bad_input():
    gt = _object()
    a = degrade_mask(gt, np.random.default_rng(3))
    assert np.array_equal(a, degrade_mask(gt, np.random.default_rng(3)))
    with pytest.raises(ValueError, match="non-empty"):
        degrade_mask(np.zeros((4, 4), bool), np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade_mask(gt, np.random.default_rng(0), kinds=["blur"])


def test_simulated_strokes_correct_the_initial_mask_and_fill_the_points_array():
    gt = _object()
    sim = CorrectionSimulator(max_strokes=3, max_points=24)
    gains = []
    for seed in range(6):
        prev, points, strokes = sim(gt.astype(np.float32), np.random.default_rng(seed))
        assert prev.shape == (1, 120, 160) and prev.dtype == np.float32 and points.shape == (48, 3)
        assert 1 <= len(strokes) <= 3
        pos, neg = points[:24], points[24:]
        assert all(gt[int(y), int(x)] for y, x, _ in pos if y >= 0)       # add strokes lie on the object
        assert not any(gt[int(y), int(x)] for y, x, _ in neg if y >= 0)   # erase strokes off it
        assert valid_rows(points).sum() == sum(len(s.to_clicks(sim.spacing)) for s in strokes) or \
            valid_rows(points).sum() <= 48  # at most max_points per sign kept
        hand = apply_strokes(prev[0] > 0.5, strokes)
        gains.append(iou(gt.astype(int), hand) - iou(gt.astype(int), prev[0] > 0.5))
    assert min(gains) >= 0 and max(gains) > 0.02
    again = sim(gt.astype(np.float32), np.random.default_rng(4))
    first = sim(gt.astype(np.float32), np.random.default_rng(4))
    assert np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[1])
    with pytest.raises(ValueError):
        CorrectionSimulator(max_strokes=0)


class _CopyGT:
    """A "refiner" that returns the ground truth wherever a stroke touched it, else the initial mask."""

    def __init__(self, gt):
        self.gt = gt

    def set_input_image(self, image):
        self.shape = image.shape[:2]

    def get_prediction(self, clicker, prev_mask=None):
        out = np.asarray(prev_mask, np.float32).copy()
        if clicker.get_clicks():
            out = self.gt.astype(np.float32)
        return out


def test_correction_curves_hand_vs_model():
    from isegm.inference.correction import correction_curves

    gt = _object()
    image = np.zeros(gt.shape + (3,), np.uint8)
    initial = degrade_mask(gt, np.random.default_rng(1), kinds=["missing_part"])
    curves = correction_curves(image, gt.astype(np.int32), initial, {"oracle": _CopyGT(gt)}, n_corrections=3)
    assert set(curves) == {"hand", "oracle"} and set(curves["hand"]) == {"iou", "dice", "pfm"}
    hand, oracle = curves["hand"]["iou"], curves["oracle"]["iou"]
    assert len(hand) == 4 and hand[0] == oracle[0] == pytest.approx(iou(gt.astype(int), initial))
    assert all(b >= a for a, b in zip(hand, hand[1:])) and hand[-1] > hand[0]  # painting corrections helps
    assert oracle[1:] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="sizes differ"):
        correction_curves(image, gt.astype(np.int32), initial[:10], {})


class _Samples:
    """Two samples with one rectangular object each (the dataset interface evaluate_corrections reads)."""

    def __init__(self):
        from types import SimpleNamespace

        self.items = []
        for k in range(2):
            gt = np.zeros((120, 160), np.int32)
            gt[30 + 10 * k:90, 40:120 - 10 * k] = 1
            self.items.append(SimpleNamespace(image=np.zeros((120, 160, 3), np.uint8), gt_mask=gt, sample_id=k))

    def __len__(self):
        return len(self.items)

    def get_sample(self, index):
        return self.items[index]


def test_evaluate_corrections_starts_from_the_given_initial_masks():
    from isegm.inference.correction import evaluate_corrections

    seen = []

    def top_half(image, gt, ignore, rng):
        seen.append(int(rng.integers(1 << 30)))
        mask = gt.copy()
        mask[60:] = False
        return mask

    data = _Samples()
    result = evaluate_corrections(data, {"oracle": _CopyGT(np.zeros((120, 160), bool))}, n_corrections=2,
                                  seed=7, initial_masks=top_half)
    for sample, record in zip(data.items, result["samples"]):
        gt = sample.gt_mask == 1
        expected = iou(sample.gt_mask, top_half(None, gt, None, np.random.default_rng(0)))
        assert expected < 1.0 and record["curves"]["hand"]["iou"][0] == pytest.approx(expected)
    # sample i's generator is default_rng([seed, i]), as for the degraded masks
    assert seen[:2] == [int(np.random.default_rng([7, i]).integers(1 << 30)) for i in range(2)]
    degraded = evaluate_corrections(data, {}, n_corrections=1, seed=7)
    assert degraded["samples"][0]["curves"]["hand"]["iou"][0] != result["samples"][0]["curves"]["hand"]["iou"][0]


def test_evaluate_corrections_script_refuses_bad_models(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    run = [sys.executable, str(repo / "scripts" / "evaluate_corrections.py"), "--cpu", "--out", str(tmp_path)]
    proc = subprocess.run(run + ["--model", "nonsense"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "expected NAME=CHECKPOINT" in proc.stderr
    proc = subprocess.run(run + ["--model", f"m={tmp_path / 'absent.pth'}"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "absent.pth" in proc.stderr
    proc = subprocess.run(run + ["--initial-clicks", "2"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--initial-clicks 2 needs --initial-model" in proc.stderr
    proc = subprocess.run(run + ["--initial-model", str(tmp_path / "nope.pth")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "nope.pth" in proc.stderr
    assert not (tmp_path / "corrections.json").exists()


def test_corrections_table_and_report_files(tmp_path):
    """The table has a row per (method, metric) and a column per k; the report writes it, the json with the run's
    settings and one plot per metric."""
    import json

    from isegm.inference.correction import (CORRECTION_METRICS, evaluate_corrections, format_corrections_table,
                                            write_corrections_report)

    result = evaluate_corrections(_Samples(), {"oracle": _CopyGT(np.zeros((120, 160), bool))}, n_corrections=2, seed=3)
    table = format_corrections_table(result, "Toy", "degraded ground truth", 3)
    lines = table.splitlines()
    assert lines[0] == "Toy: 2 samples, initial masks: degraded ground truth (seed 3); mean after k corrections"
    assert lines[2] == "| method | metric | k=0 | k=1 | k=2 |"
    hand_iou = result["mean"]["hand"]["iou"]
    assert f"| hand | iou | {hand_iou[0]:.3f} | {hand_iou[1]:.3f} | {hand_iou[2]:.3f} |" in lines
    assert sum(line.startswith("| oracle |") for line in lines) == len(CORRECTION_METRICS)
    out = write_corrections_report(tmp_path / "out", result, table, "Toy", {"seed": 3, "models": {"oracle": "x"}})
    assert (out / "corrections.md").read_text() == table + "\n"
    saved = json.loads((out / "corrections.json").read_text())
    assert saved["dataset"] == "Toy" and saved["seed"] == 3 and saved["mean"]["hand"]["iou"] == pytest.approx(hand_iou)
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"corrections_{m}.png" for m in CORRECTION_METRICS)
