"""Recipe-level model set-up: the click-feature gain used to train from scratch."""
import pytest
import torch

from isegm.engine.recipe import build_model, set_coord_feature_scale
from isegm.model.builders import build_model as build_arch
from models.base import COCOLVIS_ITERMASK, COCOMVAL_CPU, replace


def _click_effect(model) -> float:
    """Mean |change of the logits| in a window around a click when the click is added (eval mode)."""
    torch.manual_seed(0)
    image = torch.rand(1, 4, 64, 64)
    image[:, 3] = 0
    click = torch.tensor([[[32.0, 32.0, 0.0], [-1.0, -1.0, -1.0]]])
    none = -torch.ones(1, 2, 3)
    model.eval()
    with torch.no_grad():
        with_click = model(image, click)["instances"]
        without = model(image, none)["instances"]
    return float((with_click - without)[..., 24:40, 24:40].abs().mean())


def test_coord_feature_scale_sets_the_gain_and_strengthens_the_click_signal():
    model = build_arch("hrnet18s_itermask")
    layer = model.maps_transform[-1]
    assert float(layer.scale.detach() * layer.lr_mult) == pytest.approx(0.05)  # RITM's initial value
    weak = _click_effect(model)
    set_coord_feature_scale(model, 5.0)
    assert float(torch.abs(layer.scale.detach() * layer.lr_mult)) == pytest.approx(5.0)
    assert layer.scale.requires_grad  # still learned
    assert _click_effect(model) > 10 * weak


def test_recipe_field_reaches_the_model_and_keeps_the_ritm_layout():
    cfg = {}
    ours = build_model(replace(COCOMVAL_CPU, model="hrnet18s_itermask"), cfg)
    ritm = build_model(replace(COCOLVIS_ITERMASK, model="hrnet18s_itermask", pretrained=None), cfg)
    assert COCOMVAL_CPU.coord_feature_scale == 5.0 and COCOLVIS_ITERMASK.coord_feature_scale is None
    assert float(ours.maps_transform[-1].scale.detach()) == pytest.approx(5.0)
    assert float(ritm.maps_transform[-1].scale.detach()) == pytest.approx(0.05)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in ritm.state_dict().items()]


def test_coord_feature_scale_refuses_bad_input():
    with pytest.raises(ValueError, match="ScaleLayer"):
        set_coord_feature_scale(build_arch("hrnet18s_itermask", use_rgb_conv=True), 5.0)
    with pytest.raises(ValueError, match="> 0"):
        set_coord_feature_scale(build_arch("hrnet18s_itermask"), 0.0)


def _write_mval(root, n=4):
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    (root / "gt").mkdir()
    for i in range(n):
        cv2.imwrite(str(root / "img" / f"s{i}.jpg"), rng.integers(0, 256, (64, 72, 3), dtype=np.uint8))
        mask = np.zeros((64, 72), np.uint8)
        mask[10 + i:40 + i, 12:50] = 255
        cv2.imwrite(str(root / "gt" / f"s{i}.png"), mask)


def test_suem_fields_reach_the_training_set_only(tmp_path):
    from isegm.data.augment import SUEM
    from isegm.engine.recipe import build_datasets

    _write_mval(tmp_path, n=10)
    recipe = replace(COCOMVAL_CPU, copy_paste_prob=0.5, image_mix_prob=0.25, paste_scale_range=(0.5, 0.8),
                     crop_size=(48, 48))
    train, val = build_datasets(recipe, {"COCO_MVAL_PATH": str(tmp_path)}, seed=0)
    assert isinstance(train.suem, SUEM) and val.suem is None
    assert (train.suem.copy_paste_prob, train.suem.image_mix_prob, train.suem.paste_scale_range) == (0.5, 0.25, (0.5, 0.8))
    train.set_item_seeding(0)
    assert train[0]["images"].shape == (3, 48, 48)
    plain, _ = build_datasets(replace(recipe, copy_paste_prob=0.0, image_mix_prob=0.0), {"COCO_MVAL_PATH": str(tmp_path)})
    assert plain.suem is None


def test_stuff_prob_field_is_refused_where_the_dataset_has_no_stuff(tmp_path):
    from isegm.engine.recipe import build_datasets

    _write_mval(tmp_path)
    with pytest.raises(ValueError, match="COCO_MVal .* has no stuff regions"):
        build_datasets(replace(COCOMVAL_CPU, stuff_prob=0.3), {"COCO_MVAL_PATH": str(tmp_path)})
    with pytest.raises(ValueError, match="copy_paste_prob"):
        build_datasets(replace(COCOMVAL_CPU, copy_paste_prob=2.0), {"COCO_MVAL_PATH": str(tmp_path)})
    with pytest.raises(ValueError, match="contradicts train_dataset_kwargs"):
        build_datasets(replace(COCOLVIS_ITERMASK, stuff_prob=0.5), {"LVIS_v1_PATH": str(tmp_path)})


def test_pseudo_objects_reach_the_training_set_only(tmp_path):
    from isegm.data.pseudo import PseudoObjects
    from isegm.engine.recipe import build_datasets

    _write_mval(tmp_path, n=10)
    recipe = replace(COCOMVAL_CPU, pseudo_objects={"superpixel_prob": 0.5, "area_range": [0.02, 0.4]}, crop_size=(48, 48))
    train, val = build_datasets(recipe, {"COCO_MVAL_PATH": str(tmp_path)}, seed=0)
    assert train.pseudo_objects == PseudoObjects(superpixel_prob=0.5, area_range=(0.02, 0.4))
    assert val.pseudo_objects is None
    with pytest.raises(ValueError, match="unknown field"):
        replace(COCOMVAL_CPU, pseudo_objects={"superpixel": 0.5})
    with pytest.raises(ValueError, match="synthetic_prob"):
        replace(COCOMVAL_CPU, pseudo_objects={"synthetic_prob": 2})
