"""Sharded evaluation: the ranks' parts merge into the one-process result, and `torchrun` with 2 gloo
processes prints and writes the table and json one process writes (timing aside)."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inference_fakes import DiskNet, make_fake_dataset
from isegm.inference.evaluation import evaluate_dataset
from isegm.inference.predictors import get_predictor
from isegm.inference.sharding import Shard, current_shard, gather_dataset_results, merge_shard_results

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMING_KEYS = ("times",)


def _untimed(records):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


def _run(dataset, shard=None):
    predictor = get_predictor(DiskNet(radius=7), "NoBRS", "cpu", zoom_in_params=None)
    return evaluate_dataset(dataset, predictor, progress=False, max_iou_thr=0.9, max_clicks=5, shard=shard)


def test_shard_indices_cover_every_sample_once():
    parts = [list(Shard(r, 3).indices(10)) for r in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert Shard().indices(4) == range(4) and Shard().is_main and not Shard(1, 2).is_main
    for bad in ((2, 2), (-1, 2), (0, 0)):
        with pytest.raises(ValueError, match="shard rank"):
            Shard(*bad)


def test_without_a_process_group_there_is_one_shard():
    assert current_shard() == Shard(0, 1)


def test_merged_shards_equal_the_one_process_run():
    dataset = make_fake_dataset()                      # 3 samples, the last one skipped (empty mask)
    one_ious, one_time, one_records = _run(dataset)
    parts = [_run(dataset, Shard(r, 2)) for r in range(2)]
    assert [r["index"] for r in parts[0][2]] == [0, 2] and [r["index"] for r in parts[1][2]] == [1]
    ious, elapsed, records, wall = merge_shard_results(parts)
    assert _untimed(records) == _untimed(one_records)
    assert len(ious) == len(one_ious) and all(np.array_equal(a, b) for a, b in zip(ious, one_ious))
    assert all(a.dtype == np.float32 for a in ious)
    assert elapsed == pytest.approx(parts[0][1] + parts[1][1]) and wall == max(parts[0][1], parts[1][1])
    # one shard: returned as it is
    same = gather_dataset_results(one_ious, one_time, one_records, Shard())
    assert same[2] == one_records and same[1] == same[3] == one_time


def test_merge_refuses_overlapping_or_inconsistent_parts():
    dataset = make_fake_dataset()
    part = _run(dataset, Shard(0, 2))
    with pytest.raises(ValueError, match="two ranks"):
        merge_shard_results([part, part])
    with pytest.raises(ValueError, match="IoU arrays"):
        merge_shard_results([([], part[1], part[2])])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _evaluate(tmp_path, logs, nproc):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    launcher = [sys.executable]
    if nproc > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1",
                     "--master_port", str(_free_port())]
    cmd = [*launcher, str(REPO_ROOT / "scripts" / "evaluate_model.py"), "NoBRS", "--checkpoint", "rand",
           "--datasets", "GrabCut", "--cpu", "--n-clicks", "4", "--print-ious", "--save-ious", "--config-path",
           str(tmp_path / "config.yml"), "--logs-path", str(logs), "--set", f"GRABCUT_PATH={tmp_path / 'GrabCut'}",
           "--no-progress"]
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    if nproc > 1 and result.returncode != 0 and "gloo" in result.stderr.lower() and "Traceback" not in result.stderr:
        pytest.skip(f"gloo could not start here: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _row_without_timing(row):
    from isegm.inference.reporting import TABLE_COLUMNS

    cells = [c.strip() for c in row.split("|")][1:]      # RITM's columns, then the mIoU suffix
    names = [name for name, _ in TABLE_COLUMNS]
    assert len(cells) > len(names)
    return [c for i, c in enumerate(cells) if i >= len(names) or names[i] not in ("SPC,s", "Time")]


def test_torchrun_two_gloo_ranks_write_the_one_process_table(tmp_path):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available in this torch build")
    from eval_fixtures import make_grabcut, make_random_checkpoint

    make_grabcut(tmp_path / "GrabCut", n=3)             # 3 objects and an empty mask: both ranks skip or score
    make_random_checkpoint(tmp_path / "weights" / "rand.pth", seed=0)
    (tmp_path / "config.yml").write_text("INTERACTIVE_MODELS_PATH: ./weights\nEXPS_PATH: ./exps\n")
    one_out = _evaluate(tmp_path, tmp_path / "one", 1)
    two_out = _evaluate(tmp_path, tmp_path / "two", 2)

    assert two_out.count("Eval results for model") == 1 and two_out.count("results written to") == 1
    assert "sharded over 2 ranks" in two_out and "sharded" not in one_out
    one_json = json.loads((tmp_path / "one" / "others" / "rand" / "cvpr_NoBRS_4_results.json").read_text())
    two_json = json.loads((tmp_path / "two" / "others" / "rand" / "cvpr_NoBRS_4_results.json").read_text())
    a, b = one_json["datasets"]["GrabCut"]["rand"], two_json["datasets"]["GrabCut"]["rand"]
    assert one_json["shards"] == 1 and two_json["shards"] == 2
    assert _untimed(a["samples"]) == _untimed(b["samples"]) and len(a["samples"]) == 4
    for key in ("NoC@80", "NoC@85", "NoC@90", "NoF@85", "NoF@90", "n_samples", "n_skipped", "miou", "miou_curve",
                "metric_curves", "n_total_clicks"):
        assert a[key] == b[key], key
    assert b["elapsed_time"] >= b["wall_time"] > 0
    assert _row_without_timing(a["table_row"]) == _row_without_timing(b["table_row"])
    one_ious = np.load(tmp_path / "one" / "others" / "rand" / "ious" / "GrabCut_cvpr_NoBRS_4.npy")
    two_ious = np.load(tmp_path / "two" / "others" / "rand" / "ious" / "GrabCut_cvpr_NoBRS_4.npy")
    np.testing.assert_array_equal(one_ious, two_ious)
    table = (tmp_path / "two" / "others" / "rand" / "cvpr_NoBRS_4.txt").read_text()
    assert table.count("Eval results for model") == 1 and "sharded over 2 ranks" in table
