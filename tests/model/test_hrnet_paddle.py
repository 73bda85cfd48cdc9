"""PaddleClas HRNet_W18_C (.pdparams) -> our HRNetV2-W18 backbone, on a generated file.

The generator below walks PaddleClas's module tree (ppcls/arch/backbone/legendary_models/hrnet.py:
ConvBNLayer, BottleneckBlock, BasicBlock, Stage, HighResolutionModule, FuseLayers, LastClsOut and the
classification head) to produce its parameter names and shapes, independently of the converter's table.
"""
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from isegm.model.builders import build_model
from isegm.model.modeling.hrnet_ocr import HighResolutionNet
from isegm.model.modeling.hrnet_paddle import convert_paddle_hrnet, convert_pdparams_file, read_pdparams

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADS = ("aux_head", "cls_head", "conv3x3_ocr", "ocr_gather_head", "ocr_distri_head")


def _conv_bn(out: dict, name: str, cin: int, cout: int, k: int) -> None:
    out[f"{name}.conv.weight"] = (cout, cin, k, k)
    for p in ("weight", "bias", "_mean", "_variance"):
        out[f"{name}.bn.{p}"] = (cout,)


def _bottleneck(out, name, cin, filters, downsample):
    _conv_bn(out, f"{name}.conv1", cin, filters, 1)
    _conv_bn(out, f"{name}.conv2", filters, filters, 3)
    _conv_bn(out, f"{name}.conv3", filters, filters * 4, 1)
    if downsample:
        _conv_bn(out, f"{name}.conv_down", cin, filters * 4, 1)


def _fuse(out, name, channels):
    idx = 0
    for i in range(len(channels)):
        for j in range(len(channels)):
            if j > i:
                _conv_bn(out, f"{name}.residual_func_list.{idx}", channels[j], channels[i], 1)
                idx += 1
            elif j < i:
                pre = channels[j]
                for k in range(i - j):
                    cout = channels[i] if k == i - j - 1 else channels[j]
                    _conv_bn(out, f"{name}.residual_func_list.{idx}", pre, cout, 3)
                    pre = cout
                    idx += 1


def paddleclas_hrnet_c_shapes(width: int = 18) -> dict:
    """{name: shape} of PaddleClas HRNet(width) (HRNet_W18_C for width 18), classification head included."""
    out: dict = {}
    _conv_bn(out, "conv_layer1_1", 3, 64, 3)
    _conv_bn(out, "conv_layer1_2", 64, 64, 3)
    for i in range(4):
        _bottleneck(out, f"layer1.{i}", 64 if i == 0 else 256, 64, i == 0)
    _conv_bn(out, "conv_tr1_1", 256, width, 3)
    _conv_bn(out, "conv_tr1_2", 256, width * 2, 3)
    _conv_bn(out, "conv_tr2", width * 2, width * 4, 3)
    _conv_bn(out, "conv_tr3", width * 4, width * 8, 3)
    for stage, modules in ((2, 1), (3, 4), (4, 3)):
        channels = [width * 2 ** b for b in range(stage)]
        for m in range(modules):
            base = f"st{stage}.stage_func_list.{m}"
            for b, ch in enumerate(channels):
                for blk in range(4):
                    _conv_bn(out, f"{base}.basic_block_list.{b}.{blk}.conv1", ch, ch, 3)
                    _conv_bn(out, f"{base}.basic_block_list.{b}.{blk}.conv2", ch, ch, 3)
            _fuse(out, f"{base}.fuse_func", channels)
    filters = [32, 64, 128, 256]
    for i in range(4):
        _bottleneck(out, f"last_cls.func_list.{i}", width * 2 ** i, filters[i], True)
    for i, cout in enumerate((256, 512, 1024)):
        _conv_bn(out, f"cls_head_conv_list.{i}", filters[i] * 4, cout, 3)
    _conv_bn(out, "conv_last", 1024, 2048, 1)
    out["fc.weight"] = (2048, 1000)
    out["fc.bias"] = (1000,)
    return out


def _random_params(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}


def _write_pdparams(path, params, extra_meta=True):
    obj = dict(params)
    if extra_meta:   # paddle.save adds this table of internal parameter names
        obj["StructuredToParameterName@@"] = {k: f"param_{i}" for i, k in enumerate(params)}
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


@pytest.fixture(scope="module")
def paddle_params():
    return _random_params(paddleclas_hrnet_c_shapes(18))


def test_converted_file_loads_strictly_into_our_backbone(tmp_path, paddle_params):
    src = _write_pdparams(tmp_path / "HRNet_W18_C_ssld_pretrained.pdparams", paddle_params)
    dst = tmp_path / "hrnet_w18_c_ssld.pth"
    convert_pdparams_file(src, dst)
    state = torch.load(dst, map_location="cpu", weights_only=True)
    backbone = HighResolutionNet(width=18, num_classes=1, ocr_width=64)
    result = backbone.load_state_dict(state, strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all(k.startswith(HEADS) for k in result.missing_keys)
    # tensors landed in the right place (hand-derived from PaddleClas's module order)
    sd = backbone.state_dict()
    checks = {
        "conv_layer1_1.conv.weight": "conv1.weight",
        "conv_layer1_2.bn._mean": "bn2.running_mean",
        "layer1.0.conv_down.bn._variance": "layer1.0.downsample.1.running_var",
        "layer1.3.conv3.conv.weight": "layer1.3.conv3.weight",
        "conv_tr1_2.conv.weight": "transition1.1.0.0.weight",
        "conv_tr3.bn.weight": "transition3.3.0.1.weight",
        "st3.stage_func_list.2.basic_block_list.1.3.conv2.bn.bias": "stage3.2.branches.1.3.bn2.bias",
        # st3 fuse list: (0,1) (0,2) (1,0) (1,2) (2,0,k0) (2,0,k1) (2,1): index 3 is i=1, j=2
        "st3.stage_func_list.2.fuse_func.residual_func_list.3.bn._mean": "stage3.2.fuse_layers.1.2.1.running_mean",
        "st3.stage_func_list.2.fuse_func.residual_func_list.5.conv.weight": "stage3.2.fuse_layers.2.0.1.0.weight",
        # st4: i=3 comes last: (3,0,k0..k2) = 10..12, (3,1,k0..k1) = 13..14, (3,2,k0) = 15
        "st4.stage_func_list.0.fuse_func.residual_func_list.11.conv.weight": "stage4.0.fuse_layers.3.0.1.0.weight",
        "st4.stage_func_list.0.fuse_func.residual_func_list.15.conv.weight": "stage4.0.fuse_layers.3.2.0.0.weight",
    }
    for paddle_name, ours in checks.items():
        np.testing.assert_array_equal(sd[ours].numpy(), paddle_params[paddle_name], err_msg=paddle_name)


def test_recipe_loading_path_reads_the_converted_file(tmp_path, paddle_params):
    src = _write_pdparams(tmp_path / "w.pdparams", paddle_params)
    dst = tmp_path / "w.pth"
    convert_pdparams_file(src, dst)
    from isegm.engine.recipe import build_model as build_recipe_model
    from models.base import COCOLVIS_ITERMASK, replace

    # what a recipe with pretrained="HRNET_W18_C_SSLD" does, config.yml's entry pointing at the file
    recipe = replace(COCOLVIS_ITERMASK, model="hrnet18_itermask", pretrained="HRNET_W18_C_SSLD")
    model = build_recipe_model(recipe, {"IMAGENET_PRETRAINED_MODELS": {"HRNET_W18_C_SSLD": str(dst)}})
    reference = build_model("hrnet18_itermask")
    loaded = reference.feature_extractor.load_pretrained_weights(str(dst))
    trunk = [k for k in reference.feature_extractor.state_dict() if not k.startswith(HEADS)]
    assert sorted(loaded) == sorted(trunk)
    got = model.feature_extractor.state_dict()["stage4.2.branches.3.0.conv1.weight"].numpy()
    np.testing.assert_array_equal(got, paddle_params["st4.stage_func_list.2.basic_block_list.3.0.conv1.conv.weight"])


def test_missing_misshaped_extra_and_non_float_arrays_are_named(paddle_params):
    missing = dict(paddle_params)
    name = "st2.stage_func_list.0.fuse_func.residual_func_list.0.bn._variance"
    del missing[name]
    with pytest.raises(ValueError, match=re.escape(f"f.pdparams: missing parameter '{name}'")):
        convert_paddle_hrnet(missing, source="f.pdparams")
    shaped = dict(paddle_params, **{"conv_tr2.conv.weight": np.zeros((72, 36, 1, 1), np.float32)})
    message = re.escape("'conv_tr2.conv.weight' has shape (72, 36, 1, 1), expected (72, 36, 3, 3)")
    with pytest.raises(ValueError, match=message):
        convert_paddle_hrnet(shaped, source="f.pdparams")
    extra = dict(paddle_params, **{"layer1.0.se.fc_squeeze.weight": np.zeros((256, 16), np.float32)})
    with pytest.raises(ValueError, match=r"unexpected parameter 'layer1\.0\.se\.fc_squeeze\.weight'"):
        convert_paddle_hrnet(extra, source="f.pdparams")
    ints = dict(paddle_params, **{"conv_layer1_1.bn._mean": np.zeros(64, np.int64)})
    with pytest.raises(ValueError, match=r"'conv_layer1_1\.bn\._mean' has dtype int64"):
        convert_paddle_hrnet(ints, source="f.pdparams")
    old = {"conv_layer1_1._conv.weight": np.zeros((64, 3, 3, 3), np.float32)}
    with pytest.raises(ValueError, match=r"'conv_layer1_1\._conv\.weight' is in the layout of PaddleClas 2\.0"):
        convert_paddle_hrnet(old, source="f.pdparams")
    w32 = _random_params(paddleclas_hrnet_c_shapes(32))
    with pytest.raises(ValueError, match="has shape"):
        convert_paddle_hrnet(w32, width=18)
    assert len(convert_paddle_hrnet(w32, width=32)) > 0


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_bad_files_are_named(tmp_path):
    text = tmp_path / "notes.pdparams"
    text.write_text("not a pickle at all")
    with pytest.raises(ValueError, match=r"cannot read .*notes\.pdparams: not a PaddlePaddle \.pdparams pickle"):
        read_pdparams(text)
    evil = tmp_path / "evil.pdparams"
    evil.write_bytes(pickle.dumps({"conv_layer1_1.conv.weight": _Evil()}))
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        read_pdparams(evil)
    listed = tmp_path / "list.pdparams"
    listed.write_bytes(pickle.dumps([np.zeros(3)]))
    with pytest.raises(ValueError, match="expected a pickled dict"):
        read_pdparams(listed)
    with pytest.raises(FileNotFoundError, match="absent.pdparams"):
        read_pdparams(tmp_path / "absent.pdparams")


def _script(*args):
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "convert_paddle_hrnet.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)


def _main():
    import importlib.util

    path = REPO_ROOT / "scripts" / "convert_paddle_hrnet.py"
    spec = importlib.util.spec_from_file_location("convert_paddle_hrnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_script_converts_and_errors_are_one_line_exit_2(tmp_path, paddle_params, capsys):
    from isegm.errors import run_cli

    main = _main()
    src = _write_pdparams(tmp_path / "w.pdparams", paddle_params, extra_meta=False)
    dst = tmp_path / "out.pth"
    assert run_cli(main, [str(src), str(dst)]) == 0
    assert "wrote" in capsys.readouterr().out and dst.is_file()
    assert run_cli(main, [str(src), str(dst)]) == 2 and "exists" in capsys.readouterr().err
    junk = tmp_path / "junk.pdparams"
    junk.write_bytes(b"\x00\x01garbage")
    assert run_cli(main, [str(junk), str(tmp_path / "y.pth")]) == 2
    err = capsys.readouterr().err
    assert "junk.pdparams" in err and err.strip().count("\n") == 0
    # end to end: a missing array is one line on stderr, exit status 2, nothing written
    broken = dict(paddle_params)
    del broken["conv_layer1_1.conv.weight"]
    bad = _write_pdparams(tmp_path / "bad.pdparams", broken)
    failed = _script(bad, tmp_path / "x.pth")
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0
    assert failed.stderr.startswith("error: ") and "'conv_layer1_1.conv.weight'" in failed.stderr
    assert not (tmp_path / "x.pth").exists()
