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
