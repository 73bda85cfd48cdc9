"""Saving / loading our checkpoints (RITM format) and the loader's error handling."""
import dataclasses

import pytest
import torch

from isegm.model import HRNetConfig, HRNetModel, build_model, load_is_model, save_is_model
from isegm.model.checkpoint import model_to_config
from tests.inference.eval_fixtures import randomize_weights as _randomize


def _inputs(with_prev_mask: bool, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 4 if with_prev_mask else 3, 48, 64, generator=gen)
    points = torch.tensor([[[10, 20, 0], [30, 40, 2], [20, 50, 1], [-1, -1, -1]]], dtype=torch.float32)
    return image, points


def _forward(model, image, points):
    with torch.inference_mode():
        return model(image, points)


@pytest.fixture(scope="module")
def small_model():
    return _randomize(build_model("hrnet18s_itermask"))


def test_round_trip_gives_identical_outputs(small_model, tmp_path):
    path = save_is_model(small_model, tmp_path / "model.pth", meta={"epoch": 3, "exp": "unit", "stats": [0.5, 1]})
    assert path.exists() and not list(tmp_path.glob(".*tmp*"))
    loaded = load_is_model(path)
    assert type(loaded) is HRNetModel and not loaded.training
    assert all(not p.requires_grad for p in loaded.parameters())
    assert loaded.config == small_model.config
    saved, restored = small_model.state_dict(), loaded.state_dict()
    assert list(saved) == list(restored)
    assert all(torch.equal(saved[k], restored[k]) for k in saved)
    image, points = _inputs(True)
    ref, got = _forward(small_model, image, points), _forward(loaded, image, points)
    assert set(got) == {"instances", "instances_aux"}
    for key in ref:   # the loaded CPU model runs channels-last: same numbers up to float rounding
        torch.testing.assert_close(got[key], ref[key], rtol=0, atol=1e-5)


def test_checkpoint_is_plain_data(small_model, tmp_path):
    path = save_is_model(small_model, tmp_path / "model.pth", meta={"epoch": 1})
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"config", "state_dict", "meta"}
    assert raw["meta"] == {"epoch": 1}
    assert raw["config"]["class"] == "isegm.model.is_hrnet_model.HRNetModel"
    params = raw["config"]["params"]
    assert params["norm_layer"] == {"type": "class", "value": "torch.nn.modules.batchnorm.BatchNorm2d",
                                    "specified": False}
    assert params["width"] == {"type": "builtin", "value": 18, "specified": True}

    def plain(value):
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return value is None or isinstance(value, (bool, int, float, str))
    assert plain(raw["config"])
    # the dataclass config rebuilds from its plain dict
    config = small_model.config
    assert HRNetConfig(**config.to_dict()) == config
    assert HRNetModel.from_config(config.to_dict()).config == config


def test_fp16_checkpoint_loads_as_float32(small_model, tmp_path):
    full = save_is_model(small_model, tmp_path / "full.pth")
    half = save_is_model(small_model, tmp_path / "half.pth", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    raw = torch.load(half, weights_only=True)
    assert raw["state_dict"]["feature_extractor.conv1.weight"].dtype == torch.float16
    assert raw["state_dict"]["feature_extractor.bn1.num_batches_tracked"].dtype == torch.int64

    loaded = load_is_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.state_dict().values() if p.is_floating_point())
    # identical to the original model with its weights rounded to fp16
    rounded = _randomize(build_model("hrnet18s_itermask"))
    rounded.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                             for k, v in small_model.state_dict().items()})
    image, points = _inputs(True)
    ref, got = _forward(rounded, image, points), _forward(loaded, image, points)
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], rtol=0, atol=1e-5)
    assert torch.allclose(got["instances"], _forward(small_model, image, points)["instances"], atol=5e-2)


def test_save_extra_entries_and_reserved_keys(small_model, tmp_path):
    path = save_is_model(small_model, tmp_path / "last.pth", extra={"training_state": {"epoch": 2, "t": torch.ones(2)}})
    assert torch.load(path, weights_only=True)["training_state"]["epoch"] == 2
    load_is_model(path)  # extra entries do not disturb loading
    with pytest.raises(ValueError, match="reserved"):
        save_is_model(small_model, tmp_path / "x.pth", extra={"config": {}})
    with pytest.raises(TypeError, match="meta"):
        save_is_model(small_model, tmp_path / "x.pth", meta={"value": object()})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_is_model(small_model, tmp_path / "missing" / "x.pth")


def test_eval_mode_false_gives_trainable_model(small_model, tmp_path):
    path = save_is_model(small_model, tmp_path / "model.pth")
    model = load_is_model(path, eval_mode=False)
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_overrides_replace_config_values(small_model, tmp_path):
    path = save_is_model(small_model, tmp_path / "model.pth")
    assert load_is_model(path, cpu_dist_maps=True).config.cpu_dist_maps is True


# ---------------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def checkpoint_dict(small_model):
    return {"config": model_to_config(small_model), "state_dict": dict(small_model.state_dict())}


def _save(obj, path):
    torch.save(obj, path)
    return path


def test_unknown_model_class(checkpoint_dict, tmp_path):
    bad = dict(checkpoint_dict, config=dict(checkpoint_dict["config"], **{"class": "evil.module.Model"}))
    path = _save(bad, tmp_path / "bad_class.pth")
    with pytest.raises(ValueError, match=r"bad_class\.pth.*unknown model class 'evil\.module\.Model'.*HRNetModel"):
        load_is_model(path)


def test_class_typed_parameter_not_whitelisted(checkpoint_dict, tmp_path):
    params = dict(checkpoint_dict["config"]["params"])
    params["norm_layer"] = {"type": "class", "value": "os.system", "specified": True}
    bad = dict(checkpoint_dict, config=dict(checkpoint_dict["config"], params=params))
    with pytest.raises(ValueError, match=r"norm_layer.*'os\.system'.*not allowed"):
        load_is_model(_save(bad, tmp_path / "bad_norm.pth"))


def test_unknown_specified_parameter(checkpoint_dict):
    params = dict(checkpoint_dict["config"]["params"])
    params["frobnicate"] = {"type": "builtin", "value": 1, "specified": True}
    with pytest.raises(ValueError, match="no parameter 'frobnicate'"):
        load_is_model(dict(checkpoint_dict, config=dict(checkpoint_dict["config"], params=params)))
    params["frobnicate"]["specified"] = False   # unspecified defaults of other versions are ignored (RITM)
    load_is_model(dict(checkpoint_dict, config=dict(checkpoint_dict["config"], params=params)))


def test_missing_keys_listed(checkpoint_dict, tmp_path):
    state = dict(checkpoint_dict["state_dict"])
    del state["feature_extractor.cls_head.weight"]
    del state["maps_transform.3.scale"]
    path = _save(dict(checkpoint_dict, state_dict=state), tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"missing\.pth.*2 missing keys: .*maps_transform\.3\.scale") as err:
        load_is_model(path)
    assert "feature_extractor.cls_head.weight" in str(err.value)


def test_unexpected_and_mismatched_keys_listed(checkpoint_dict, tmp_path):
    state = dict(checkpoint_dict["state_dict"])
    state["extra_head.weight"] = torch.zeros(3)
    state["feature_extractor.cls_head.bias"] = torch.zeros(2)
    path = _save(dict(checkpoint_dict, state_dict=state), tmp_path / "unexpected.pth")
    with pytest.raises(ValueError, match=r"1 unexpected keys: extra_head\.weight.*1 shape mismatches: "
                                         r"feature_extractor\.cls_head\.bias: \(2,\) vs model \(1,\)"):
        load_is_model(path)


def test_module_prefix_rejected_with_hint(checkpoint_dict):
    state = {f"module.{k}": v for k, v in checkpoint_dict["state_dict"].items()}
    with pytest.raises(ValueError, match="DataParallel"):
        load_is_model(dict(checkpoint_dict, state_dict=state))


def test_not_a_checkpoint(small_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_is_model(tmp_path / "nope.pth")
    bare = _save(small_model.state_dict(), tmp_path / "bare.pth")
    with pytest.raises(ValueError, match=r"bare\.pth.*bare state_dict"):
        load_is_model(bare)
    with pytest.raises(ValueError, match="ensemble"):
        load_is_model([{}, {}])


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_code_in_pickle_is_refused(checkpoint_dict, tmp_path):
    path = tmp_path / "evil.pth"
    torch.save(dict(checkpoint_dict, meta=_Payload()), path)
    with pytest.raises(ValueError, match=r"evil\.pth.*refused to unpickle"):
        load_is_model(path)


def test_config_dataclass_fields_are_primitives(small_model):
    for field in dataclasses.fields(small_model.config):
        value = getattr(small_model.config, field.name)
        assert value is None or isinstance(value, (bool, int, float, str, tuple)), field.name


@pytest.mark.parametrize("name", ["hrnet18s_itermask", "r34_dh128_baseline"])
def test_optimize_for_inference_keeps_outputs(name, tmp_path):
    from isegm.model import optimize_for_inference
    model = _randomize(build_model(name))
    fast = optimize_for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())   # original untouched
    image, points = _inputs(model.with_prev_mask)
    ref, got = _forward(model, image, points), _forward(fast, image, points)
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="optimize_for_inference"):
        save_is_model(fast, tmp_path / "fast.pth")
