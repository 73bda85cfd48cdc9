"""torchrun (DDP, gloo on the CPU): two ranks train, only rank 0 writes, one run folder results; a global
batch that does not split over the ranks is a one-line error and leaves no run folder.

Not asserted (not yet true, see README "Training"): equality with a one-process run of the same
global batch, since BatchNorm statistics are per rank as in RITM.
"""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup(tmp_path):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available in this torch build")
    from tests.engine.test_train import make_tiny_run
    script, cfg = make_tiny_run(tmp_path, 8, "batch_size=4, epochs=1, val_fraction=0.25, min_object_area=10, "
                                             "max_num_next_clicks=1")
    return script, cfg


def _torchrun(script, cfg, *extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(REPO_ROOT / "train.py"), str(script), "--cpu",
           "--config-path", str(cfg), "--max-batches", "2", "--workers", "0", "--seed", "0", "--exp-name", "ddp",
           *extra]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_global_batch_not_divisible_by_ranks_is_a_one_line_error(tmp_path):
    script, cfg = _setup(tmp_path)
    result = _torchrun(script, cfg, "--batch-size", "3")
    assert result.returncode != 0
    assert "error: batch size 3 is not divisible by the 2 processes" in result.stderr
    assert not any(p.name.endswith("_ddp") for p in (tmp_path / "exps").rglob("*"))


def test_two_rank_gloo_training_writes_one_run_folder(tmp_path):
    script, cfg = _setup(tmp_path)
    result = _torchrun(script, cfg)
    if result.returncode != 0 and "gloo" in result.stderr.lower() and "error" in result.stderr.lower() \
            and "Traceback" not in result.stderr:
        pytest.skip(f"gloo could not start here: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [p for p in (tmp_path / "exps").rglob("*") if p.is_dir() and p.name.endswith("_ddp")]
    assert len(runs) == 1, runs
    siblings = [p for p in runs[0].parent.iterdir() if p.is_dir()]
    assert siblings == runs                      # no empty folder from rank 1
    state = torch.load(runs[0] / "checkpoints" / "last_checkpoint.pth", weights_only=True)
    assert "val_iou" in state["meta"]["stats"] or "val_loss" in state["meta"]["stats"]
