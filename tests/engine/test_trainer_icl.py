"""Iterative click loss (ICL, CFR-ICL; ``ISTrainer._icl_forward``) and the ``icl_weights`` recipe field.

A fake model (with_prev_mask, three parameters) called directly through ``batch_forward`` checks what ICL
computes: the loss is the weighted sum over the passes, a click is added between passes, the previous
mask reaching a pass is detached (no gradient into earlier passes), validation keeps RITM's IT-M.
Tiny train.py runs check that ICL off trains what it trained before ICL existed (pinned weight hash),
and that an ICL run is deterministic for a seed.
"""
import hashlib

import numpy as np
import pytest
import torch
import torch.nn as nn

from isegm.engine.trainer import ISTrainer, TrainerSettings, check_icl_weights

H = W = 24


class _FakeModel(nn.Module):
    """logits = a * image mean + b * (2 prev - 1) + c * disk(clicks) - 1: every input matters, and the
    previous mask carries gradient to a, b, c unless it is detached."""
    with_prev_mask = True

    def __init__(self):
        super().__init__()
        self.abc = nn.Parameter(torch.tensor([1.5, 2.0, 3.0]))
        self.calls = []

    def forward(self, x, points):
        self.calls.append({"input": x.detach().clone(), "points": points.detach().clone(),
                           "prev_requires_grad": x.requires_grad, "training": self.training,
                           "grad_enabled": torch.is_grad_enabled()})
        image, prev = x[:, :3], x[:, 3:]
        yy, xx = torch.meshgrid(torch.arange(H, dtype=x.dtype), torch.arange(W, dtype=x.dtype), indexing="ij")
        disk = torch.zeros_like(prev)
        for b in range(points.shape[0]):
            for y, x0, order in points[b].tolist():
                if order >= 0:
                    disk[b, 0] = torch.maximum(disk[b, 0], (((yy - y) ** 2 + (xx - x0) ** 2) <= 9).to(x.dtype))
        a, b_, c = self.abc
        logits = a * image.mean(1, keepdim=True) + b_ * (2 * prev - 1) + c * disk - 1.0
        return {"instances": logits, "instances_aux": 0.5 * logits}


def _trainer(icl_weights, max_clicks=3, prev_mask_drop_prob=0.0):
    from isegm.engine.recipe import build_losses
    from models.base import COCOMVAL_CPU
    model = _FakeModel()
    data = [{"images": torch.zeros(3, H, W), "points": torch.full((4, 3), -1.0), "instances": torch.zeros(1, H, W)}
            for _ in range(4)]
    settings = TrainerSettings(batch_size=2, workers=0, max_num_next_clicks=max_clicks, icl_weights=icl_weights,
                               prev_mask_drop_prob=prev_mask_drop_prob)
    return ISTrainer(model, data, None, build_losses(COCOMVAL_CPU), settings, exp=None, device="cpu"), model


def _batch():
    gen = torch.Generator().manual_seed(0)
    gt = torch.zeros(2, 1, H, W)
    gt[0, 0, 4:16, 5:18] = 1
    gt[1, 0, 10:22, 2:12] = 1
    points = torch.full((2, 8, 3), -1.0)
    points[0, 0] = torch.tensor([9.0, 10.0, 0.0])
    points[1, 0] = torch.tensor([15.0, 6.0, 0.0])
    return {"images": torch.rand(2, 3, H, W, generator=gen), "instances": gt, "points": points}


def _rngs_with_passes(n, num_weights):
    """IT-M generators whose batch draw gives ``n`` ICL passes (the trainer draws integers(1, len + 1))."""
    for seed in range(100):
        if int(np.random.default_rng(seed).integers(1, num_weights + 1)) == n:
            return np.random.default_rng(seed), [np.random.default_rng([seed, j]) for j in range(2)]
    raise AssertionError(n)


def _reference_loss(trainer, model, calls, weights, gt):
    """The weighted ICL sum recomputed from the inputs each pass received, each pass on its own graph."""
    total = 0.0
    for k, call in enumerate(calls):
        out = _FakeModel.forward(model, call["input"], call["points"])
        for spec in trainer.losses:
            total = total + weights[k] * spec.weight * spec.loss(out[spec.output], gt).mean()
    return total


def test_icl_loss_is_the_weighted_sum_over_passes_with_clicks_between_them():
    weights = (1.0, 2.0, 3.0)
    trainer, model = _trainer(weights)
    batch = _batch()
    loss, parts, out_batch, outputs = trainer.batch_forward(batch, rngs=_rngs_with_passes(3, 3))
    calls = list(model.calls)
    assert len(calls) == 3 and all(c["training"] and c["grad_enabled"] for c in calls)
    # a click per sample between passes (the fake model errs everywhere), none after the last pass
    n_clicks = [int((c["points"][..., 2] >= 0).sum()) for c in calls]
    assert n_clicks == [2, 4, 6], n_clicks
    assert torch.equal(out_batch["points"], calls[-1]["points"])
    # the first pass sees no previous mask; later ones see the previous pass's probabilities
    assert torch.equal(calls[0]["input"][:, 3:], torch.zeros(2, 1, H, W))
    with torch.no_grad():
        prev1 = torch.sigmoid(_FakeModel.forward(model, calls[0]["input"], calls[0]["points"])["instances"])
    assert torch.allclose(calls[1]["input"][:, 3:], prev1)
    model.calls.clear()
    ref = _reference_loss(trainer, model, calls, weights, batch["instances"])
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    # the weights matter: the same passes with (1, 1, 1) give another sum
    assert ref.item() != pytest.approx(_reference_loss(trainer, model, calls, (1, 1, 1), batch["instances"]).item(),
                                       rel=1e-3)
    assert set(parts) >= {"instances_loss", "instances_aux_loss", "instances_loss_it0", "instances_loss_it2"}
    assert parts["instances_loss"] == parts["instances_loss_it2"]
    assert torch.equal(outputs["instances"].detach(),
                       _FakeModel.forward(model, calls[2]["input"], calls[2]["points"])["instances"].detach())


def test_previous_mask_is_detached_no_gradient_flows_into_earlier_passes():
    """The gradient of the ICL loss equals the sum of each pass's gradient with its inputs held fixed;
    without the detach, b * prev would carry gradient back through the earlier passes."""
    weights = (1.0, 2.0, 3.0)
    trainer, model = _trainer(weights)
    batch = _batch()
    loss, *_ = trainer.batch_forward(batch, rngs=_rngs_with_passes(3, 3))
    calls = list(model.calls)
    (grad,) = torch.autograd.grad(loss, model.abc)
    model.calls.clear()
    (ref,) = torch.autograd.grad(_reference_loss(trainer, model, calls, weights, batch["instances"]), model.abc)
    assert torch.allclose(grad, ref, rtol=1e-5, atol=1e-7), (grad, ref)


def test_number_of_passes_is_drawn_in_1_to_len_and_the_first_pass_has_weight_1():
    trainer, model = _trainer((1.0, 0.0, 5.0))
    seen = set()
    for seed in range(30):
        model.calls.clear()
        rngs = (np.random.default_rng(seed), [np.random.default_rng([seed, j]) for j in range(2)])
        trainer.batch_forward(_batch(), rngs=rngs)
        seen.add(len(model.calls))
        assert len(model.calls) == int(np.random.default_rng(seed).integers(1, 4))
    assert seen == {1, 2, 3}
    # one pass: the loss is the first weight times RITM's single-forward loss
    trainer1, model1 = _trainer((1.0, 0.0, 5.0))
    loss, *_ = trainer1.batch_forward(_batch(), rngs=_rngs_with_passes(1, 3))
    ritm, model_ritm = _trainer(None)
    model_ritm.abc.data.copy_(model1.abc.data)
    batch = _batch()
    ref = _reference_loss(ritm, model_ritm, model1.calls, (1.0,), batch["instances"])
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)


def test_validation_keeps_ritm_itm_whatever_icl_weights():
    """Held-out figures compare across runs with and without ICL: validation uses RITM's IT-M."""
    icl, model_icl = _trainer((1.0, 2.0, 3.0))
    ritm, model_ritm = _trainer(None)
    rng = lambda: (np.random.default_rng(7), [np.random.default_rng([7, j]) for j in range(2)])  # noqa: E731
    with torch.no_grad():
        a = icl.batch_forward(_batch(), validation=True, rngs=rng())
        b = ritm.batch_forward(_batch(), validation=True, rngs=rng())
    assert a[0].item() == b[0].item() and torch.equal(a[2]["points"], b[2]["points"])
    assert len(model_icl.calls) == len(model_ritm.calls) == int(np.random.default_rng(7).integers(0, 4)) + 1


def test_icl_weights_validation_names_the_field():
    from models.base import COCOMVAL_CPU, replace
    assert check_icl_weights(None, 3) is None and check_icl_weights((), 3) is None
    assert check_icl_weights([1, 2, 3], 3) == (1.0, 2.0, 3.0)
    for bad, match in [((1, 2), "has 2 weights but max_num_next_clicks is 3"),
                       ((1, -2, 3), "finite numbers >= 0"), ((1, float("inf"), 3), "finite numbers >= 0"),
                       ((0, 0, 0), "all 0"), ("123", "sequence of weights"), (3, "sequence of weights"),
                       ((1, "2", 3), "finite numbers >= 0")]:
        with pytest.raises(ValueError, match="recipe icl_weights") as err:
            replace(COCOMVAL_CPU, icl_weights=bad)
        assert match in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="icl_weights"):
        _trainer((1.0, 2.0), max_clicks=3)


# ----------------------------------------------------------------------------------------- tiny train.py runs
# Weights after the tiny run below with the trainer as it was before ICL (commit 77a6297), one thread, per CPU
# capability (torch.backends.cpu.get_cpu_capability()). Float round-off depends on the torch build and the CPU's
# kernels, so a pin is checked only where one was made (AVX2 and AVX512 from that commit, both with this torch).
RITM_PIN = {"torch": "2.14.1+cu130",
            "sha256": {"AVX2": "554a35cf01629193790bc996bcf921b61ba0c4d7bc8a0134c9e3fd43655c149f",
                       "AVX512": "a2d12ccd4b8bd64e7603f553f8bb6f6a28fb7a556c9612f617206e98dfd1c27c"}}
TINY = ("batch_size=2, epochs=2, val_fraction=0.25, min_object_area=10, max_num_next_clicks=2, "
        "prev_mask_drop_prob=0.3")


def _tiny_run(tmp_path, overrides, seed=3, name="run"):
    import train
    from tests.engine.test_train import make_tiny_run
    root = tmp_path / name
    root.mkdir()
    script, cfg = make_tiny_run(root, 8, overrides)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        exp = train.main([str(script), "--cpu", "--config-path", str(cfg), "--max-batches", "2", "--seed", str(seed),
                          "--workers", "0"])
    finally:
        torch.set_num_threads(threads)
    return torch.load(exp.checkpoints / "last_checkpoint.pth", weights_only=True)


def _hash(state_dict):
    h = hashlib.sha256()
    for k, v in sorted(state_dict.items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_icl_off_trains_todays_weights_bit_for_bit(tmp_path):
    off = _tiny_run(tmp_path, TINY, name="none")
    empty = _tiny_run(tmp_path, TINY + ", icl_weights=()", name="empty")
    assert _hash(off["state_dict"]) == _hash(empty["state_dict"])
    cpu = torch.backends.cpu.get_cpu_capability()
    if torch.__version__ != RITM_PIN["torch"] or cpu not in RITM_PIN["sha256"]:
        pytest.skip(f"pinned weights were made with {RITM_PIN['torch']} on {', '.join(RITM_PIN['sha256'])}, "
                    f"this is {torch.__version__} on {cpu}")
    assert _hash(off["state_dict"]) == RITM_PIN["sha256"][cpu]


def test_icl_run_is_deterministic_for_a_seed_and_differs_from_itm(tmp_path):
    a = _tiny_run(tmp_path, TINY + ", icl_weights=(1, 2)", name="a")
    b = _tiny_run(tmp_path, TINY + ", icl_weights=(1, 2)", name="b")
    assert a["meta"]["stats"]["train_loss"] == b["meta"]["stats"]["train_loss"]
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert a["meta"]["recipe"]["icl_weights"] == [1, 2]
    itm = _tiny_run(tmp_path, TINY, name="itm")
    assert _hash(itm["state_dict"]) != _hash(a["state_dict"])
