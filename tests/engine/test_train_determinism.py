"""Training that can be trusted: same seed -> same run for any --workers, kill + resume reaches the
uninterrupted run bit for bit, checkpoint writes are atomic, resume keeps the best checkpoint.

Tiny runs: HRNet18s on 8 generated 72x96 images, 64x64 crops, batch 2, 2 batches per epoch (CPU)."""
from pathlib import Path

import pytest
import torch

import train

EPOCHS = 2


@pytest.fixture
def tiny(tmp_path):
    from tests.engine.test_train import make_tiny_run
    script, cfg = make_tiny_run(tmp_path, 8, "batch_size=2, epochs=2, val_fraction=0.25, min_object_area=10, "
                                             "max_num_next_clicks=2")
    return tmp_path, script, cfg


def _train(tiny, *extra):
    tmp_path, script, cfg = tiny
    return train.main([str(script), "--cpu", "--config-path", str(cfg), "--max-batches", "2", "--seed", "3",
                       *extra])


def _state(exp):
    return torch.load(exp.checkpoints / "last_checkpoint.pth", weights_only=True)


def _assert_same_tensors(a, b, where=""):
    """Every tensor (nested dicts / lists) bit-identical."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same_tensors(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def test_same_seed_same_run_for_workers_0_and_2(tiny):
    """(c) Items are seeded from (seed, epoch, index) and the order from (seed, epoch): the worker count
    does not change losses or weights (bit-identical on CPU)."""
    a = _state(_train(tiny, "--workers", "0", "--exp-name", "w0"))
    b = _state(_train(tiny, "--workers", "2", "--exp-name", "w2"))
    assert a["meta"]["stats"]["train_loss"] == b["meta"]["stats"]["train_loss"]
    assert a["meta"]["stats"]["val_loss"] == b["meta"]["stats"]["val_loss"]
    _assert_same_tensors(a["state_dict"], b["state_dict"], "state_dict")
    _assert_same_tensors(a["training_state"]["optimizer"], b["training_state"]["optimizer"], "optimizer")


def test_killed_after_epoch_0_and_resumed_equals_uninterrupted(tiny, monkeypatch):
    """(a) A run killed in its second epoch and resumed with --resume-exp ends with exactly the
    weights, optimizer state, schedule and metrics of the uninterrupted run."""
    from isegm.engine.trainer import ISTrainer
    full = _state(_train(tiny, "--workers", "0", "--exp-name", "full"))
    real_epoch = ISTrainer.train_epoch
    calls = []

    def killed_in_epoch_1(self, epoch):
        if epoch == 1:
            calls.append(epoch)
            raise KeyboardInterrupt("killed in epoch 1")
        return real_epoch(self, epoch)

    monkeypatch.setattr(ISTrainer, "train_epoch", killed_in_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny, "--workers", "0", "--exp-name", "part")
    monkeypatch.undo()
    assert calls == [1]
    part = sorted((tiny[0] / "exps" / "tiny" / "tiny_itermask").glob("*_part"))[0]
    _train(tiny, "--workers", "0", "--resume-exp", part.name[:3])
    from isegm.utils.exp import ExpPaths
    resumed = _state(ExpPaths.at(part))
    assert resumed["meta"]["epoch"] == full["meta"]["epoch"] == EPOCHS - 1
    speed = "train_images_per_s"
    assert {k: v for k, v in resumed["meta"]["stats"].items() if k != speed} == \
        {k: v for k, v in full["meta"]["stats"].items() if k != speed}
    _assert_same_tensors(full["state_dict"], resumed["state_dict"], "state_dict")
    _assert_same_tensors(full["training_state"]["optimizer"], resumed["training_state"]["optimizer"], "optimizer")
    ls_full, ls_res = full["training_state"]["lr_scheduler"], resumed["training_state"]["lr_scheduler"]
    assert ls_full["last_epoch"] == ls_res["last_epoch"] and ls_full["_last_lr"] == ls_res["_last_lr"]
    assert full["training_state"]["best_value"] == resumed["training_state"]["best_value"]


def test_kill_during_checkpoint_write_keeps_previous_checkpoint(tiny, monkeypatch):
    """(b) A crash in the middle of writing last_checkpoint.pth leaves the previous one whole."""
    exp = _train(tiny, "--workers", "0", "--epochs", "1")
    before = (exp.checkpoints / "last_checkpoint.pth").read_bytes()
    # (a resume with a larger --epochs continues the run; it is not the same run as one of 2 epochs)
    import isegm.model.checkpoint as ckpt_mod
    real_save = torch.save

    def save_half_then_die(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        if "training_state" not in obj:
            return                      # 001.pth / best are written first; die on last_checkpoint.pth
        f.truncate(f.tell() // 2)
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(ckpt_mod.torch, "save", save_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny, "--workers", "0", "--resume-exp", exp.root.name[:3])
    monkeypatch.undo()
    assert (exp.checkpoints / "last_checkpoint.pth").read_bytes() == before
    assert not list(exp.checkpoints.glob(".*tmp")), "temporary file left behind"
    from isegm.model import load_is_model
    load_is_model(exp.checkpoints / "last_checkpoint.pth")
    # and the interrupted run can still be resumed
    _train(tiny, "--workers", "0", "--resume-exp", exp.root.name[:3])
    assert _state(exp)["meta"]["epoch"] == 1


def test_resume_does_not_replace_best_with_worse_epoch(tiny):
    """(d) The saved best_value is the one after the epoch's update, so a resumed run compares new
    epochs against the real best and leaves best_checkpoint.pth alone when they are worse."""
    exp = _train(tiny, "--workers", "0", "--epochs", "1")
    best = torch.load(exp.checkpoints / "best_checkpoint.pth", weights_only=True)
    last = _state(exp)
    assert last["training_state"]["best_value"] == best["meta"]["stats"]["val_iou"]
    # make the stored best unbeatable: a resumed epoch must not overwrite best_checkpoint.pth
    last["training_state"]["best_value"] = 2.0
    torch.save(last, exp.checkpoints / "last_checkpoint.pth")
    before = (exp.checkpoints / "best_checkpoint.pth").read_bytes()
    _train(tiny, "--workers", "0", "--resume-exp", exp.root.name[:3])
    assert (exp.checkpoints / "best_checkpoint.pth").read_bytes() == before
    assert _state(exp)["training_state"]["best_value"] == 2.0
