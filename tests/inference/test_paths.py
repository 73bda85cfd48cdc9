"""Inference paths (issue 13): what 'exact' and 'fastest' mean, how a path is recorded and read back, and that the
fast switches keep the model's probabilities (to float rounding; bf16 to its own precision)."""
import numpy as np
import pytest
import torch

from isegm.inference import paths
from isegm.inference.paths import InferencePath, fastest_path
from isegm.inference.predictors.onnx import AutocastNet, load_backend_net

from test_fast_paths import _probs


@pytest.fixture
def checkpoint(tiny_click_model, tmp_path):
    from isegm.model import save_is_model

    return save_is_model(tiny_click_model(seed=1), tmp_path / "tiny.pth")


def test_exact_is_ritms_numerics_and_the_default():
    assert InferencePath() == InferencePath.exact() and InferencePath.exact().is_exact
    assert InferencePath.exact().tags == ()
    assert InferencePath("bf16", True, True).tags == ("bf16", "bnfold", "cl")
    assert not InferencePath(fold_bn=True).is_exact


def test_fastest_path_depends_on_the_hardware(monkeypatch):
    monkeypatch.setattr(paths, "cpu_has_native_bf16", lambda: True)
    assert fastest_path("cpu") == InferencePath("bf16", fold_bn=True, channels_last=True)
    monkeypatch.setattr(paths, "cpu_has_native_bf16", lambda: False)  # AVX2: bf16 is emulated, slower than fp32
    assert fastest_path("cpu") == InferencePath("fp32", fold_bn=True, channels_last=True)
    assert fastest_path(torch.device("cuda", 0)) == InferencePath("fp32", fold_bn=True, channels_last=False)


def test_a_path_reads_back_from_its_record_and_bad_records_name_the_place():
    for path in (InferencePath.exact(), InferencePath("bf16", True, True), InferencePath("fp32", True, False)):
        assert InferencePath.from_json(path.to_json()) == path
    assert InferencePath.from_json(None) == InferencePath.exact()  # sessions from before paths existed
    for bad, needle in (({"precision": "fp16"}, "'fp16'"), ({"fold": True}, "expected"),
                        ({"fold_bn": "yes"}, "fold_bn 'yes'"), ([1], "expected")):
        with pytest.raises(ValueError, match=f"s.json: settings.inference.*{needle}"):
            InferencePath.from_json(bad, "s.json: settings.inference")


def test_fast_switches_keep_the_probabilities(checkpoint):
    exact = _probs(load_backend_net(checkpoint, "cpu"))
    fast = load_backend_net(checkpoint, "cpu", fold_bn=True, channels_last=True)
    assert next(p for p in fast.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(exact, _probs(fast)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    half = load_backend_net(checkpoint, "cpu", "torch", "bf16", fold_bn=True, channels_last=True)
    assert isinstance(half, AutocastNet)
    diffs = [np.abs(a - b).max() for a, b in zip(exact, _probs(half))]
    assert max(diffs) < 0.1 and max(diffs) > 0  # bf16 rounds differently, but stays close
