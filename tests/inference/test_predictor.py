import numpy as np
import pytest
import torch

from inference_fakes import DiskNet, disk_mask, make_image
from isegm.inference.clicker import Click, Clicker
from isegm.inference.predictors import BRS_MODES, BasePredictor, get_predictor
from isegm.inference.transforms import AddHorizontalFlip, LimitLongestSide, SigmoidForPred, ZoomIn


def test_prediction_before_image_raises():
    predictor = get_predictor(DiskNet(), "NoBRS", "cpu")
    with pytest.raises(RuntimeError, match="set_input_image"):
        predictor.get_prediction(Clicker(image_shape=(10, 10)))


@pytest.mark.parametrize("mode", BRS_MODES)
def test_brs_modes_refuse_a_model_without_their_insertion_point(mode):
    from isegm.errors import UserError

    with pytest.raises(UserError, match=f"{mode}.*DiskNet") as info:
        get_predictor(DiskNet(), mode, "cpu")
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_unknown_mode():
    with pytest.raises(ValueError, match="NoBRS"):
        get_predictor(DiskNet(), "Magic", "cpu")


def test_default_transforms_are_ritm_nobrs():
    predictor = get_predictor(DiskNet(), "NoBRS", "cpu")
    kinds = [type(t) for t in predictor.transforms]
    assert kinds == [ZoomIn, SigmoidForPred, AddHorizontalFlip]
    zoom = predictor.transforms[0]
    assert (zoom.target_size, zoom.skip_clicks, zoom.expansion_ratio, zoom.min_crop_size,
            zoom.recompute_thresh_iou, zoom.prob_thresh) == (400, 1, 1.4, 200, 0.5, 0.5)
    predictor = get_predictor(DiskNet(), "NoBRS", "cpu", zoom_in_params=None, with_flip=False, max_size=64,
                              predictor_params={"net_clicks_limit": 3})
    assert [type(t) for t in predictor.transforms] == [LimitLongestSide, SigmoidForPred]
    assert predictor.net_clicks_limit == 3


def test_nobrs_prediction_matches_fake_net():
    image = make_image((30, 40))
    net = DiskNet(radius=4)
    predictor = get_predictor(net, "NoBRS", "cpu", zoom_in_params=None)
    predictor.set_input_image(image)
    clicker = Clicker(image_shape=(30, 40))
    clicker.add_click(Click(True, (10, 12)))
    probs = predictor.get_prediction(clicker)
    assert probs.shape == (30, 40) and probs.dtype == np.float32
    np.testing.assert_array_equal(probs > 0.5, disk_mask((30, 40), (10, 12), 4))
    # the flipped copy went through the net with mirrored clicks, in one batch of two
    image_nd, points = net.calls[-1]
    assert image_nd.shape == (2, 3, 30, 40)
    assert torch.allclose(image_nd[0], torch.from_numpy(image).permute(2, 0, 1).float() / 255)
    np.testing.assert_array_equal(points[:, 0].numpy(), [[10, 12, 0], [10, 40 - 12 - 1, 0]])


def test_prev_mask_is_fourth_channel_and_state_undo():
    image = make_image((20, 20))
    net = DiskNet(radius=3, with_prev_mask=True)
    predictor = get_predictor(net, "NoBRS", "cpu", zoom_in_params=None, with_flip=False)
    predictor.set_image(image)
    clicker = Clicker(image_shape=(20, 20))
    clicker.add_click(Click(True, (5, 5)))
    first = predictor.get_prediction(clicker)
    assert net.calls[-1][0].shape == (1, 4, 20, 20)
    assert net.calls[-1][0][0, 3].abs().sum() == 0          # no previous mask yet
    states = predictor.get_states()
    clicker.add_click(Click(False, (5, 5)))
    second = predictor.get_prediction(clicker)
    assert torch.allclose(net.calls[-1][0][0, 3], torch.from_numpy(first))
    assert (second > 0.5).sum() == 0
    predictor.set_states(states)
    clicker.remove_last_click()
    predictor.get_prediction(clicker)
    assert torch.allclose(net.calls[-1][0][0, 3], torch.from_numpy(first))
    # an explicit prev_mask wins
    predictor.get_prediction(clicker, prev_mask=np.full((20, 20), 0.25, np.float32))
    assert torch.allclose(net.calls[-1][0][0, 3], torch.full((20, 20), 0.25))


def test_zoom_in_predictor_roundtrip_keeps_object():
    shape = (120, 160)
    image = make_image(shape)
    net = DiskNet(radius=6)
    predictor = get_predictor(net, "NoBRS", "cpu", zoom_in_params={"target_size": 64, "min_crop_size": 20})
    predictor.set_input_image(image)
    clicker = Clicker(image_shape=shape)
    clicker.add_click(Click(True, (60, 80)))
    predictor.get_prediction(clicker)
    clicker.add_click(Click(False, (10, 10)))
    probs = predictor.get_prediction(clicker)
    # the second call ran on a zoomed crop (longest side 64), clicks rescaled into it
    image_nd, points = net.calls[-1]
    assert max(image_nd.shape[2:]) == 64
    assert probs.shape == shape
    assert probs[60, 80] > 0.5 and probs[10, 10] < 0.5


def test_image_validation():
    predictor = BasePredictor(DiskNet(), "cpu")
    with pytest.raises(ValueError, match="uint8"):
        predictor.set_input_image(np.zeros((4, 4, 3), np.float32))
    predictor.set_input_image(torch.rand(3, 8, 8))
    assert predictor.original_image.shape == (1, 3, 8, 8)


def test_cvpr_predictor_params():
    from isegm.inference.predictors import cvpr_predictor_params

    assert cvpr_predictor_params("hrnet32") == {"with_flip": True, "zoom_in_params": {"target_size": 400}}
    assert cvpr_predictor_params(dataset_name="DAVIS")["zoom_in_params"] == {"target_size": 600}
    predictor = get_predictor(DiskNet(), "NoBRS", "cpu", **cvpr_predictor_params(eval_mode="fixed300"))
    assert predictor.zoom_in.target_size == (300, 300) and predictor.zoom_in.skip_clicks == -1


def test_unknown_predictor_keywords_are_refused_by_name():
    get_predictor(DiskNet(), "NoBRS", "cpu", prob_thresh=0.5)    # RITM's evaluate_model passes it to every mode
    with pytest.raises(TypeError, match="lbfgs_params"):
        get_predictor(DiskNet(), "NoBRS", "cpu", lbfgs_params={"maxfun": 5})
    with pytest.raises(TypeError, match="brs_opt_func_params"):
        get_predictor(DiskNet(), "NoBRS", "cpu", brs_opt_func_params={})
    with pytest.raises(TypeError, match="net_click_limit"):
        get_predictor(DiskNet(), "NoBRS", "cpu", predictor_params={"net_click_limit": 3})
