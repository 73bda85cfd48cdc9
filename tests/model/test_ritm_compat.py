"""Checkpoint compatibility with the original RITM release (../shared/reference).

For the five reference architectures: our state_dict layout equals RITM's key by key, the config
we write equals RITM's, and a seeded random RITM checkpoint reproduces the original code's logits.
"""
import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from isegm.model import build_model, load_is_model
from isegm.model.checkpoint import model_to_config

ARCHS = ["hrnet18_itermask", "hrnet18s_itermask", "hrnet32_itermask", "hrnet18_baseline", "r34_dh128_baseline"]


@functools.lru_cache(maxsize=None)
def _load_reference(folder: Path):
    specs = json.loads((folder / "ritm_checkpoint_format.json").read_text())
    outputs = np.load(folder / "ritm_forward_outputs.npz")
    spec = importlib.util.spec_from_file_location("make_random_ritm_checkpoint",
                                                  folder / "make_random_ritm_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {key.split(" ")[0]: value for key, value in specs.items()}, outputs, module.random_state_dict


@pytest.fixture
def reference_specs(reference_path):
    return _load_reference(reference_path)[0]


@pytest.fixture
def reference_outputs(reference_path):
    return _load_reference(reference_path)[1]


@pytest.fixture
def random_state_dict(reference_path):
    return _load_reference(reference_path)[2]


def test_reference_lists_the_five_architectures(reference_specs):
    assert sorted(reference_specs) == sorted(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_layout_matches_ritm(arch, reference_specs):
    model = build_model(arch)
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    theirs = reference_specs[arch]["state_dict"]
    assert sorted(set(theirs) - set(ours)) == []        # missing
    assert sorted(set(ours) - set(theirs)) == []        # unexpected
    assert ours == theirs
    assert list(ours) == list(theirs)                   # same order, too


@pytest.mark.parametrize("arch", ARCHS)
def test_written_config_matches_ritm(arch, reference_specs):
    ritm = reference_specs[arch]["config"]
    ours = model_to_config(build_model(arch))
    assert ours["class"] == ritm["class"]
    assert {k: p["value"] for k, p in ours["params"].items()} == {k: p["value"] for k, p in ritm["params"].items()}
    assert {k: p["type"] for k, p in ours["params"].items()} == {k: p["type"] for k, p in ritm["params"].items()}


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_reproduces_original_logits(arch, reference_specs, reference_outputs, random_state_dict, tmp_path):
    spec = reference_specs[arch]
    path = tmp_path / f"{arch}.pth"
    torch.save({"config": spec["config"], "state_dict": random_state_dict(spec["state_dict"], seed=0, gain=0.5)}, path)
    model = load_is_model(path)
    assert not model.training

    image = torch.from_numpy(reference_outputs["image"])
    if model.with_prev_mask:
        image = torch.cat([image, torch.from_numpy(reference_outputs["prev_mask"])], dim=1)
    points = torch.from_numpy(reference_outputs["points"])
    with torch.inference_mode():
        outputs = model(image, points)

    expected_keys = {"instances", "instances_aux"} if f"{arch}/instances_aux" in reference_outputs.files \
        else {"instances"}
    assert set(outputs) == expected_keys
    for key in expected_keys:
        ref = reference_outputs[f"{arch}/{key}"]
        got = outputs[key].numpy()
        assert got.shape == ref.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4, err_msg=f"{arch}/{key}")
