"""Model construction: builders, RITM keyword compatibility, fusion variants, lr multipliers,
pretrained backbone loading."""
import pytest
import torch

from isegm.model import MODEL_BUILDERS, DeeplabModel, HRNetModel, build_model
from isegm.model.is_model import ISModel


def _run(model, h=48, w=64, batch=1):
    image = torch.rand(batch, 4 if model.with_prev_mask else 3, h, w)
    points = torch.tensor([[[10, 20, 0], [30, 40, 2], [20, 50, 1], [-1, -1, -1]]] * batch, dtype=torch.float32)
    with torch.inference_mode():
        return model.eval()(image, points)


def test_unknown_builder_lists_known_names():
    with pytest.raises(ValueError, match="unknown model 'hrnet99'.*hrnet18_itermask.*r34_dh128_baseline"):
        build_model("hrnet99")


def test_builders_cover_ritm_variants():
    for name in ("hrnet18_itermask", "hrnet18s_itermask", "hrnet32_itermask", "hrnet48_itermask",
                 "hrnet18_baseline", "r34_dh128_baseline", "r50_dh128_baseline", "r101_dh256_baseline"):
        assert name in MODEL_BUILDERS


def test_build_overrides_and_contract_attributes():
    model = build_model("hrnet18s_itermask", norm_radius=7, binary_prev_mask=True)
    assert isinstance(model, ISModel)
    assert model.norm_radius == 7 and model.use_disks and model.with_prev_mask and model.binary_prev_mask
    assert model.backbone_lr_mult == 0.1 and model.feature_extractor is not None
    with pytest.raises(TypeError, match="unexpected keyword argument 'frobnicate'"):
        HRNetModel(width=18, ocr_width=48, small=True, frobnicate=1)


def test_ritm_keywords_accepted_positionally_and_by_name():
    # RITM's HRNetModel(width, ocr_width, small, backbone_lr_mult, norm_layer, **kwargs)
    model = HRNetModel(18, 48, True, 0.2, torch.nn.BatchNorm2d, with_aux_output=True, use_rgb_conv=False,
                       use_disks=True, norm_radius=5, with_prev_mask=True, use_leaky_relu=True, cpu_dist_maps=False,
                       clicks_groups=None, binary_prev_mask=False, conv_extend=False,
                       norm_mean_std=([.485, .456, .406], [.229, .224, .225]))
    assert model.config.norm_layer == "torch.nn.modules.batchnorm.BatchNorm2d"
    assert model.config.norm_mean_std == ((.485, .456, .406), (.229, .224, .225))
    assert model.feature_extractor.conv1.weight.lr_mult == 0.2


def test_lr_multipliers_follow_ritm():
    model = build_model("hrnet18s_itermask")
    fe = model.feature_extractor
    assert fe.conv1.weight.lr_mult == 0.1 and fe.stage4[0].branches[0][0].conv1.weight.lr_mult == 0.1
    assert fe.cls_head.weight.lr_mult == 0.1 and fe.aux_head[0].weight.lr_mult == 0.1
    assert fe.conv3x3_ocr[0].weight.lr_mult == 1.0
    assert fe.ocr_distri_head.conv_bn_dropout[0].weight.lr_mult == 1.0
    assert not hasattr(model.maps_transform[0].weight, "lr_mult")
    deeplab = build_model("r34_dh128_baseline")
    assert deeplab.feature_extractor.backbone.conv1.weight.lr_mult == 0.1
    assert not hasattr(deeplab.feature_extractor.aspp.project[0].weight, "lr_mult")


def test_forward_shapes_and_input_validation():
    model = build_model("hrnet18s_itermask")
    out = _run(model, 50, 70, batch=2)
    assert out["instances"].shape == (2, 1, 50, 70) and out["instances_aux"].shape == (2, 1, 50, 70)
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\)"):
        model(torch.rand(1, 3, 32, 32), torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="2N, 3"):
        model(torch.rand(1, 4, 32, 32), torch.zeros(1, 2, 2))
    no_aux = build_model("hrnet18s_itermask", with_aux_output=False)
    assert set(_run(no_aux)) == {"instances"}


def test_prev_mask_changes_output_and_binary_prev_mask_thresholds():
    torch.manual_seed(0)
    model = build_model("hrnet18s_itermask", binary_prev_mask=True).eval()
    points = torch.tensor([[[10, 20, 0], [-1, -1, -1]]], dtype=torch.float32)
    image = torch.rand(1, 3, 32, 32)
    soft = torch.cat([image, torch.full((1, 1, 32, 32), 0.7)], 1)
    hard = torch.cat([image, torch.ones(1, 1, 32, 32)], 1)
    empty = torch.cat([image, torch.zeros(1, 1, 32, 32)], 1)
    with torch.inference_mode():
        assert torch.equal(model(soft, points)["instances"], model(hard, points)["instances"])
        assert not torch.equal(model(hard, points)["instances"], model(empty, points)["instances"])


@pytest.mark.parametrize("kwargs", [
    dict(use_rgb_conv=False, conv_extend=True, use_disks=True, norm_radius=5),
    dict(use_rgb_conv=False, clicks_groups=(3, 5, 7), use_disks=True, with_prev_mask=True),
    dict(use_rgb_conv=True, cpu_dist_maps=True),
])
def test_fusion_variants_run(kwargs):
    model = HRNetModel(width=18, ocr_width=48, small=True, with_aux_output=True, **kwargs)
    out = _run(model)
    assert out["instances"].shape == (1, 1, 48, 64) and torch.isfinite(out["instances"]).all()
    if kwargs.get("conv_extend"):
        assert model.maps_transform.weight.shape == (64, 2, 3, 3)
    if kwargs.get("clicks_groups"):
        assert model.maps_transform[0].weight.shape[1] == 2 * 3 + 1


def test_deep_stem_deeplab_pads_click_features():
    model = DeeplabModel(backbone="resnet50", deeplab_ch=32, aspp_dropout=0.2, use_rgb_conv=False,
                         use_disks=True, norm_radius=5)
    assert model.feature_extractor.backbone.stem_channels == 128
    assert model.feature_extractor.skip_project.skip_project[0].weight.shape == (32, 256, 1, 1)
    assert _run(model, 40, 40)["instances"].shape == (1, 1, 40, 40)


def test_hrnet_pretrained_weights_from_local_file(tmp_path):
    source = build_model("hrnet18s_itermask").feature_extractor
    state = {f"model.{k}": torch.randn_like(v) if v.is_floating_point() else v
             for k, v in source.state_dict().items() if not k.startswith(("cls_head", "aux_head"))}
    state["classifier.weight"] = torch.zeros(1000, 2048)       # ImageNet head: skipped
    torch.save(state, tmp_path / "hrnetv2_w18_small.pth")
    model = build_model("hrnet18s_itermask")
    loaded = model.load_pretrained_weights(tmp_path / "hrnetv2_w18_small.pth")
    assert "conv1.weight" in loaded and "classifier.weight" not in loaded
    assert torch.equal(model.feature_extractor.conv1.weight, state["model.conv1.weight"])
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        model.load_pretrained_weights(tmp_path / "missing.pth")
    torch.save({"unrelated.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="none of its 1 tensors match"):
        model.load_pretrained_weights(tmp_path / "other.pth")


def test_resnet_pretrained_weights_torchvision_layout(tmp_path):
    model = build_model("r34_dh128_baseline")
    backbone = model.feature_extractor.backbone
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in backbone.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save({"state_dict": state}, tmp_path / "resnet34.pth")
    loaded = model.load_pretrained_weights(tmp_path / "resnet34.pth")
    assert len(loaded) == len(backbone.state_dict())
    assert torch.equal(backbone.layer4[2].conv2.weight, state["layer4.2.conv2.weight"])


def test_xavier_gluon_init_matches_ritm_rule():
    from isegm.model.initializer import xavier_gluon_init
    model = build_model("hrnet18s_itermask")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
        model.maps_transform[3].scale.fill_(0.05)
    xavier_gluon_init(model, magnitude=2.0, generator=torch.Generator().manual_seed(0))
    conv = model.feature_extractor.stage4[0].branches[3][0].conv1.weight     # (144, 144, 3, 3)
    fan = (144 * 9 + 144 * 9) / 2
    assert abs(conv.std().item() - (2.0 / fan) ** 0.5) < 0.05 * (2.0 / fan) ** 0.5
    assert abs(conv.mean().item()) < 1e-3
    assert torch.all(model.feature_extractor.bn1.weight == 1) and torch.all(model.feature_extractor.bn1.bias == 0)
    assert torch.all(model.maps_transform[0].bias == 0)
    assert model.maps_transform[3].scale.item() == pytest.approx(0.05)   # ScaleLayer untouched


def _randomized(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                if name.endswith("running_var"):
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
                else:
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
    return model.eval()


@pytest.mark.parametrize("kind", ["hrnet", "hrnet_rgb_conv", "deeplab"])
def test_feature_brs_split_forward_equals_plain_forward(kind):
    """brs_head(brs_head_input(...)) at every f-BRS insertion point gives the plain forward's logits, bit for bit,
    and the feature tensor has brs_feature_channels channels."""
    if kind == "deeplab":
        model = DeeplabModel(backbone="resnet34", deeplab_ch=16, aspp_dropout=0.2, use_rgb_conv=False, use_disks=True,
                             norm_radius=5, with_prev_mask=True)
        expected_points = {"f-BRS-A": "after_c4", "f-BRS-B": "after_aspp", "f-BRS-C": "after_deeplab"}
    else:
        model = HRNetModel(width=8, ocr_width=8, small=True, use_rgb_conv=(kind == "hrnet_rgb_conv"), use_disks=True,
                           norm_radius=5, with_prev_mask=True)
        expected_points = {"f-BRS-A": "A", "f-BRS-B": "A", "f-BRS-C": "C"}
    model = _randomized(model)
    image = torch.rand(2, 4, 48, 64, generator=torch.Generator().manual_seed(1))
    points = torch.tensor([[[10, 20, 0], [30, 40, 2], [20, 50, 1], [-1, -1, -1]]] * 2, dtype=torch.float32)
    with torch.no_grad():
        plain = model(image, points)["instances"]
        normalized, prev_mask = model.prepare_input(image)
        x, extra_features = model.fuse_inputs(normalized, model.get_coord_features(normalized, prev_mask, points))
        for mode, point in expected_points.items():
            assert model.feature_brs_point(mode) == point
            features, extra = model.brs_head_input(x, extra_features, point)
            assert features.shape[1] == model.brs_feature_channels(point)
            logits = model.brs_head(features, extra, point)
            logits = torch.nn.functional.interpolate(logits, size=image.shape[2:], mode="bilinear", align_corners=True)
            assert torch.equal(logits, plain), (mode, point)
    if kind == "hrnet":
        assert model.brs_feature_channels("A") == 15 * 8 and model.brs_feature_channels("C") == 16


def test_hrnet_without_ocr_has_no_f_brs_c_point():
    model = HRNetModel(width=8, ocr_width=0, small=True, use_rgb_conv=False, use_disks=True, norm_radius=5)
    assert model.feature_brs_point("f-BRS-A") == "A"
    with pytest.raises(ValueError, match="f-BRS-C.*HRNetModel"):
        model.feature_brs_point("f-BRS-C")
    with pytest.raises(ValueError, match="no f-BRS insertion point 'C'"):
        model.brs_feature_channels("C")
