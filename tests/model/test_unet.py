"""MFP ResNet-34 U-Net (isegm/model/unet.py): shapes, click maps, checkpoint round trip, ImageNet init."""
import numpy as np
import pytest
import torch

from isegm.errors import UserError
from isegm.model import MODEL_CLASSES, build_model, load_is_model, save_is_model
from isegm.model.ops import DistMaps
from isegm.model.unet import UNetModel

# (B=2, 2N=4, 3): sample 0 one positive click, sample 1 a positive and a negative one; (-1, -1, -1) padding
POINTS = torch.tensor([[[40., 50., 0.], [-1., -1., -1.], [-1., -1., -1.], [-1., -1., -1.]],
                       [[20., 30., 0.], [-1., -1., -1.], [70., 60., 1.], [-1., -1., -1.]]])


def _model(**kw):
    torch.manual_seed(0)
    return build_model("unet_resnet34", **kw).eval()


def test_registered_variant_shapes_batch_of_two():
    model = _model()
    assert isinstance(model, UNetModel) and not model.with_prev_mask
    assert model.use_disks and model.norm_radius == 5
    assert model.feature_extractor.conv1.weight.shape == (64, 5, 7, 7)   # RGB + positive + negative map
    with torch.no_grad():
        out = model(torch.rand(2, 3, 96, 96), POINTS)
    assert set(out) == {"instances"}
    assert out["instances"].shape == (2, 1, 96, 96) and out["instances"].dtype == torch.float32
    with torch.no_grad():   # sizes that are not multiples of 32 come back at input resolution too
        assert model(torch.rand(1, 3, 67, 93), POINTS[:1])["instances"].shape == (1, 1, 67, 93)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(2, 4, 96, 96), POINTS)


def test_prev_mask_variant_takes_a_sixth_channel():
    model = build_model("unet_resnet34_itermask").eval()
    assert model.with_prev_mask and model.feature_extractor.conv1.weight.shape == (64, 6, 7, 7)
    with torch.no_grad():
        assert model(torch.rand(2, 4, 64, 64), POINTS)["instances"].shape == (2, 1, 64, 64)


def test_encoder_sees_rgb_and_the_projects_click_disks():
    model = _model()
    seen = {}
    model.feature_extractor.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    image = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        model(image, POINTS)
    x = seen["x"]
    assert x.shape == (2, 5, 96, 96)
    assert torch.allclose(x[:, :3], model.normalization(image.clone()))
    expected = DistMaps(norm_radius=5, spatial_scale=1.0, use_disks=True)(image, POINTS)
    assert torch.equal(x[:, 3:], expected)
    assert x[0, 3, 40, 50] == 1 and x[0, 3, 40, 56] == 0 and x[0, 4].sum() == 0   # disk of radius 5
    assert x[1, 4, 70, 60] == 1


def test_output_follows_the_clicks():
    model = _model()
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a = model(image, torch.tensor([[[10., 10., 0.], [-1., -1., -1.]]]))["instances"]
        b = model(image, torch.tensor([[[50., 40., 0.], [-1., -1., -1.]]]))["instances"]
    assert (a - b).abs().max() > 1e-4


def test_distance_maps_and_bad_options():
    model = build_model("unet_resnet34", use_disks=False, norm_radius=260).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64), POINTS)["instances"].shape == (2, 1, 64, 64)
    with pytest.raises(ValueError, match="use_rgb_conv"):
        UNetModel(use_rgb_conv=True)
    with pytest.raises(ValueError, match="decoder_channels"):
        UNetModel(decoder_channels=(8, 8))
    with pytest.raises(ValueError, match="unknown U-Net encoder"):
        UNetModel(encoder="resnet50")
    with pytest.raises(TypeError, match="unknown parameter"):
        UNetModel(width=18)


@pytest.mark.parametrize("kwargs", [{}, {"with_prev_mask": True, "decoder_channels": (32, 16, 16, 8, 8)}])
def test_checkpoint_round_trip_is_bitwise(tmp_path, kwargs):
    model = _model(**kwargs)
    model.train()
    with torch.no_grad():   # a few training steps' worth of BN statistics, so the buffers are not defaults
        model(torch.rand(2, 4 if model.with_prev_mask else 3, 64, 64), POINTS)
    model.eval()
    path = save_is_model(model, tmp_path / "unet.pth", meta={"epoch": 3})
    raw = torch.load(path, weights_only=True)
    assert raw["config"]["class"] == "isegm.model.unet.UNetModel"
    assert MODEL_CLASSES[raw["config"]["class"]] is UNetModel
    loaded = load_is_model(path)
    assert isinstance(loaded, UNetModel) and loaded.config == model.config
    ref, got = model.state_dict(), loaded.state_dict()
    assert list(ref) == list(got) and all(torch.equal(ref[k], got[k]) for k in ref)
    image = torch.rand(2, 4 if model.with_prev_mask else 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(model(image, POINTS)["instances"], loaded(image, POINTS)["instances"])


def _torchvision_resnet34_file(path, **save_kw):
    import torchvision
    torch.manual_seed(1)
    net = torchvision.models.resnet34(weights=None)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in net.state_dict().items()}
    torch.save(state, path, **save_kw)
    return state


def test_imagenet_init_from_a_local_torchvision_file(tmp_path):
    state = _torchvision_resnet34_file(tmp_path / "resnet34.pth")
    model = _model()
    before = model.feature_extractor.conv1.weight.detach().clone()
    decoder_before = model.decoder[0].block[0].weight.detach().clone()
    loaded = model.load_pretrained_weights(tmp_path / "resnet34.pth")
    enc = model.feature_extractor
    assert "conv1.weight" in loaded and not any(k.startswith("fc.") for k in loaded)
    assert len(loaded) == len(enc.state_dict())
    assert torch.equal(enc.layer4[2].conv2.weight, state["layer4.2.conv2.weight"])
    assert torch.equal(enc.bn1.running_var, state["bn1.running_var"])
    assert torch.equal(enc.conv1.weight[:, :3], state["conv1.weight"])      # RGB filters copied
    assert torch.equal(enc.conv1.weight[:, 3:], before[:, 3:])              # click-map filters kept
    assert enc.conv1.weight[:, 3:].abs().sum() > 0
    assert torch.equal(model.decoder[0].block[0].weight, decoder_before)    # decoder untouched

    # wrapped in {'state_dict': ...} with DataParallel prefixes: accepted too
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "wrapped.pth")
    other = _model()
    other.load_pretrained_weights(tmp_path / "wrapped.pth")
    assert torch.equal(other.feature_extractor.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])


def test_imagenet_init_bad_files_are_user_errors(tmp_path):
    model = _model()
    missing = tmp_path / "nope" / "resnet34.pth"
    with pytest.raises(UserError, match=r"not found: .*nope.resnet34\.pth"):
        model.load_pretrained_weights(missing)
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n")
    with pytest.raises(UserError, match=r"notes\.pth.*not a PyTorch checkpoint"):
        model.load_pretrained_weights(text)
    import torchvision
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(UserError, match=r"resnet18\.pth: not a torchvision resnet34 state dict: \d+ missing"):
        model.load_pretrained_weights(tmp_path / "resnet18.pth")
    state = _torchvision_resnet34_file(tmp_path / "ok.pth")
    state["conv1.weight"] = torch.zeros(64, 1, 7, 7)                           # a grey-scale stem
    torch.save(state, tmp_path / "grey.pth")
    with pytest.raises(UserError, match=r"grey\.pth.*conv1\.weight \(64, 1, 7, 7\) \(expected \(64, 3, 7, 7\)\)"):
        model.load_pretrained_weights(tmp_path / "grey.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(UserError, match=r"list\.pth.*state_dict of tensors"):
        model.load_pretrained_weights(tmp_path / "list.pth")


def test_nobrs_predictor_runs_the_unet():
    from isegm.inference.clicker import Clicker
    from isegm.inference.predictors import get_predictor

    model = _model()
    predictor = get_predictor(model, "NoBRS", device="cpu", zoom_in_params=None, with_flip=True)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)
    gt = np.zeros((70, 90), np.int32)
    gt[20:50, 30:70] = 1
    predictor.set_input_image(image)
    clicker = Clicker(gt_mask=gt)
    clicker.make_next_click(np.zeros_like(gt, dtype=bool))
    prob = predictor.get_prediction(clicker)
    assert prob.shape == (70, 90) and np.isfinite(prob).all() and 0 <= prob.min() <= prob.max() <= 1


def test_input_brs_runs_and_feature_brs_is_refused():
    from isegm.inference.clicker import Clicker
    from isegm.inference.predictors import BRSModelError, get_predictor

    model = _model()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    gt = np.zeros((48, 64), np.int32)
    gt[10:30, 20:50] = 1
    for mode in ("RGB-BRS", "DistMap-BRS"):
        predictor = get_predictor(model, mode, device="cpu", zoom_in_params=None, with_flip=False,
                                  lbfgs_params={"maxfun": 2})
        predictor.set_input_image(image)
        clicker = Clicker(gt_mask=gt)
        pred = np.zeros_like(gt, dtype=bool)
        for _ in range(2):   # BRS optimises from the 2nd click
            clicker.make_next_click(pred)
            prob = predictor.get_prediction(clicker)
            pred = prob > 0.49
        assert prob.shape == gt.shape and np.isfinite(prob).all(), mode
    with pytest.raises(BRSModelError, match="f-BRS-B.*UNetModel"):
        get_predictor(model, "f-BRS-B", device="cpu")


def test_optimize_for_inference_keeps_the_outputs():
    from isegm.model import optimize_for_inference

    model = _model()
    fast = optimize_for_inference(model)
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fast(image, POINTS)["instances"], model(image, POINTS)["instances"],
                                   rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="optimize_for_inference"):
        save_is_model(fast, "unused.pth")
